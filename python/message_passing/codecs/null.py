"""Null: no decoding (the message is the bytes received) and no encoding (the message must
already be bytes or text)."""

from __future__ import annotations

from typing import Any

from ..base import Decoder, Encoder


class NullDecoder(Decoder):
    name = "Null"

    def decode(self, data: Any) -> Any:
        return data

    def decode_batch(self, batch, errors=None) -> list:
        return batch.messages()


class NullEncoder(Encoder):
    name = "Null"

    def encode(self, message: Any) -> bytes:
        if isinstance(message, (bytes, bytearray)):
            return bytes(message)
        if isinstance(message, str):
            return message.encode()
        raise TypeError(f"the Null encoder writes bytes or text, not {type(message).__name__} "
                        "(use the JSON encoder)")

    def encode_batch(self, messages: list, errors) -> list[bytes]:
        out = []
        for m in messages:
            try:
                out.append(self.encode(m))
            except TypeError as e:
                errors.encoding(m, e)
        return out
