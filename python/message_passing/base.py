"""The component contracts. Each is one method, as in the original:

- an Input yields messages (`__iter__`), or, if native, exposes a core `source` once opened;
- a Decoder turns received data into a message (`decode`);
- a Filter returns the message, changed or not, or None to drop it (`filter`); only None drops;
- an Encoder turns a message into bytes (`encode`);
- an Output takes encoded messages (`consume`), or, if native, exposes a core `sink` once opened.

A user's class need not subclass these: any object with the one method will do. Subclassing buys
declared, checked options (see options.py) and the `open`/`close`/`reopen` hooks.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Iterator

from . import _core, signals
from .options import Option, check_options

DRAIN_MS = 3000  # how long a stopping chain gives its file and pipe outputs, in all, to take what they were writing


class Component:
    """One part of a chain: its declared options become attributes."""

    name: ClassVar[str] = ""
    options: ClassVar[dict[str, Option]] = {}

    def __init__(self, **options: Any) -> None:
        for key, value in check_options(self.label(), self.options, options).items():
            setattr(self, key, value)

    @classmethod
    def label(cls) -> str:
        return cls.name or f"{cls.__module__}.{cls.__qualname__}"

    def open(self) -> None:
        """Acquires sockets and files (after a --daemonize fork)."""

    def close(self) -> None:
        """Delivers what is queued (within its bound) and releases what open acquired."""

    def counters(self) -> dict[str, int]:
        return {}


class Input(Component):
    """Yields messages: bytes or str for the decoder, or already-decoded objects."""

    source = None  # a native input's core Source, once opened
    json_frames = True  # set by the chain: validate JSON natively (JSON decoder) or pass bytes on

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def counters(self) -> dict[str, int]:
        if self.source is None:
            return {}
        counters = {"received": self.source.received, "rejected": self.source.rejected}
        if self.source.ignored_frames:
            counters["ignored_frames"] = self.source.ignored_frames
        return counters


class Decoder(Component):
    def decode(self, data: bytes) -> Any:
        raise NotImplementedError


class Filter(Component):
    def filter(self, message: Any) -> Any:
        return message


class Encoder(Component):
    def encode(self, message: Any) -> bytes:
        raise NotImplementedError


def drain_ms() -> int:
    """How long a file or pipe output of a stopping chain may still wait for its reader: DRAIN_MS
    for all of them together (the error chain's too), from the first wait on."""
    sig = signals.installed()
    return DRAIN_MS if sig is None else sig.drain_left_ms(DRAIN_MS)


class Output(Component):
    """Takes encoded messages. A native output writes through its core `sink`."""

    sink = None  # a native output's core Sink, once opened

    where = ""  # what the output writes to (a path, an endpoint), for messages

    def consume(self, message: bytes) -> None:
        """One message (the error chain's, a tee's) through the core sink. A blocked reader is
        waited for as the main output's is; once the chain is stopping, within what is left of
        DRAIN_MS."""
        sig = signals.installed()
        status = self.sink.write_list([message], drain_ms() if sig is not None and sig.stop else -1)
        while status == _core.INTERRUPTED:  # a signal: see it (its wake-up), then go on
            if sig is not None:
                sig.take()
            status = self.sink.drain(drain_ms()) if sig is None or sig.stop else self.sink.write_on()
        if status == _core.FAILED:
            err = self.sink.take_error()
            raise OSError(err, os.strerror(err), self.where or None)

    def reopen(self) -> None:
        """Opens files anew (SIGHUP, after log rotation)."""

    def counters(self) -> dict[str, int]:
        if self.sink is None:
            return {}
        return {"sent": self.sink.sent, "dropped": self.sink.dropped, "failed": self.sink.failed}


def call(component: Any, method: str, *args: Any) -> Any:
    """Calls an optional hook (open, close, reopen, counters) if the component has it."""
    hook = getattr(component, method, None)
    return hook(*args) if callable(hook) else None


def label(component: Any) -> str:
    """How messages name a component: its short name, or its class path."""
    cls = type(component)
    return getattr(cls, "name", "") or f"{cls.__module__}.{cls.__qualname__}"
