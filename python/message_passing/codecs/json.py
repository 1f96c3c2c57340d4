"""JSON: the default decoder and encoder.

Decoding accepts a JSON object or array in valid UTF-8 (what the original accepts); anything else
goes to the error chain. Records from a native input arrive validated and minified by the core,
so a batch is decoded with one orjson call. Encoding is compact UTF-8 with key order kept; bytes
are taken as already encoded and pass unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from .. import _core
from ..base import Decoder, Encoder
from ..errors import DecodingError
from ..options import Option


class JSONDecoder(Decoder):
    name = "JSON"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._framer = _core.Source(validate=True)
        self._batch = _core.Batch()

    def decode(self, data: Any) -> Any:
        """One message (for inputs written in Python): bytes or str are validated as the core
        validates; objects already decoded pass."""
        if not isinstance(data, (bytes, str)):
            return data
        self._batch.clear()
        self._framer.add(self._batch, data)
        for _raw, _size, why in self._batch.rejects():
            raise DecodingError(why)
        return self.decode_batch(self._batch)[0]

    def decode_batch(self, batch) -> list:
        """The records of a core Batch, all validated JSON."""
        if batch.exotic:  # numbers orjson would round: decode exactly
            return [json.loads(r) for r in batch.messages()]
        return orjson.loads(batch.json_array())


class JSONEncoder(Encoder):
    name = "JSON"
    options = {
        "pretty": Option("boolean", "indent the JSON (two spaces); a message then spans lines", False),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._orjson_opt = orjson.OPT_INDENT_2 if self.pretty else 0

    def encode(self, message: Any) -> bytes:
        if isinstance(message, (bytes, bytearray)):
            return bytes(message)
        try:
            return orjson.dumps(message, option=self._orjson_opt)
        except TypeError:
            # integers beyond 64 bits, keys that are not strings: the standard library takes them
            return json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
                              indent=2 if self.pretty else None).encode()

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
            except (TypeError, ValueError) as e:
                errors.encoding(m, e)
        return out
