"""JSON: the default decoder and encoder.

Decoding accepts a JSON object or array in valid UTF-8 (what the original accepts); anything else
goes to the error chain. Records from a native input arrive validated and minified by the core,
so a batch is decoded with one orjson call. Encoding is compact UTF-8 with key order kept. Bytes
are taken as already-encoded JSON: they pass (minified) if they are a valid JSON object or array.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from .. import _core
from ..base import Decoder, Encoder
from ..errors import DecodingError, exc_text
from ..options import Option


class JSONDecoder(Decoder):
    name = "JSON"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._framer = _core.Source(validate=True)
        self._batch = _core.Batch()

    def decode(self, data: Any) -> Any:
        """One message (from an input written in Python): bytes or str are validated as the core
        validates; objects already decoded pass."""
        if not isinstance(data, (bytes, str)):
            return data
        self._batch.clear()
        self._framer.add(self._batch, data)
        for _raw, _size, why in self._batch.rejects():
            raise DecodingError(why)
        return self.decode_batch(self._batch)[0]

    def decode_batch(self, batch, errors=None) -> list:
        """The records of a core Batch, all validated JSON."""
        if not batch.exotic:
            try:
                return orjson.loads(batch.json_array())
            except orjson.JSONDecodeError:
                pass  # valid JSON that orjson will not take (nested too deep): one at a time
        out = []
        for record in batch.messages():
            try:  # numbers orjson would round (beyond 64 bits) are decoded exactly
                out.append(json.loads(record) if batch.exotic else orjson.loads(record))
            except (ValueError, RecursionError) as e:
                if errors is None:
                    raise DecodingError(f"cannot be decoded in Python: {exc_text(e)}") from None
                errors.decoding(record, f"cannot be decoded in Python: {exc_text(e)}")
        return out


def _finite(value: Any) -> Any:
    """The value with NaN and infinities as None: JSON has no such numbers (orjson writes null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class JSONEncoder(Encoder):
    name = "JSON"
    options = {
        "pretty": Option("boolean", "indent the JSON (two spaces); a message then spans lines", False),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._orjson_opt = orjson.OPT_INDENT_2 if self.pretty else 0
        self._framer = _core.Source(validate=True)
        self._batch = _core.Batch()

    def encode(self, message: Any) -> bytes:
        if isinstance(message, (bytes, bytearray)):
            return self._already_json(bytes(message))
        try:
            return orjson.dumps(message, option=self._orjson_opt)
        except TypeError:
            # integers beyond 64 bits, keys that are not strings: the standard library takes them
            return json.dumps(_finite(message), ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                              indent=2 if self.pretty else None).encode()

    def _already_json(self, data: bytes) -> bytes:
        self._batch.clear()
        self._framer.add(self._batch, data)
        for _raw, _size, why in self._batch.rejects():
            raise ValueError(f"bytes that are not a JSON object or array: {why}")
        return self._batch.messages()[0]  # as the core framed it: minified

    def encode_batch(self, messages: list, errors) -> list[bytes]:
        if not self.pretty:
            try:
                return list(map(orjson.dumps, messages))
            except TypeError:
                pass  # some message needs the careful path
        out = []
        for m in messages:
            try:
                out.append(self.encode(m))
            except Exception as e:  # TypeError, ValueError, RecursionError: not JSON
                errors.encoding(m, e)
        return out
