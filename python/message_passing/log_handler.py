"""A stdlib `logging` handler that sends each record over ZeroMQ as one JSON message, as the
original's Log::Dispatch::Message::Passing does: to an aggregator (`message-passing --input ZeroMQ`).

    import logging
    from message_passing import ZeroMQHandler

    logging.getLogger().addHandler(ZeroMQHandler("tcp://127.0.0.1:5558"))

It never blocks the application and never raises into it. A record is
`{"message", "level", "name"}` (the original's fields), plus `time` (epoch seconds), `host`, `pid`,
`logger`, the traceback text as `exception`, and whatever the call passed in `extra`. Until a first
subscriber is there (PUB), records wait in a queue of up to `socket_hwm`; beyond what the socket or
that queue holds they are dropped, and counted in `dropped`; at close, queued records get up to
`linger` milliseconds to be delivered.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import socket
import time
from typing import Any

import orjson
import zmq

from . import _core
from .zmqsocket import check_endpoint

LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
          logging.CRITICAL: "critical"}
# what every LogRecord has: anything else on a record came from `extra`
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class ZeroMQHandler(logging.Handler):
    def __init__(self, connect: str, *, socket_type: str = "PUB", socket_hwm: int = 10000, linger: int = 3000,
                 name: str | None = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        if socket_type not in ("PUB", "PUSH"):
            raise ValueError(f"socket_type must be PUB or PUSH, not {socket_type!r}")
        self.endpoint = check_endpoint("ZeroMQHandler", connect, None)
        self.socket_type, self.socket_hwm, self.linger = socket_type, socket_hwm, linger
        self.app_name = name
        self.host = socket.gethostname()
        self.dropped = 0  # records not sent: no room at the high-water mark, or no subscriber came
        self.failed = 0  # records that could not even be encoded or handed over
        self._pid = 0
        self._waiting: collections.deque = collections.deque()  # for a first subscriber (PUB)

    def _open(self) -> None:
        # a context of its own: closing it is what waits out the linger (and a forked child
        # must not use its parent's)
        self._context = _core.Context()
        ctx = zmq.Context.shadow(self._context.address)
        pub = self.socket_type == "PUB"
        sock = ctx.socket(zmq.XPUB if pub else zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.socket_hwm)
        sock.setsockopt(zmq.LINGER, self.linger)
        if pub:
            sock.setsockopt(zmq.XPUB_NODROP, 1)
        sock.connect(self.endpoint)
        self._socket, self._pub = sock, pub
        self._sink = _core.ZmqSink(sock, xpub=pub)
        self._waiting.clear()
        self._pid = os.getpid()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = self.encode(record)
            if self._pid != os.getpid():
                self._open()
            self._send([data])
        except Exception:  # whatever happens, the application goes on
            self.failed += 1

    def _send(self, records: list) -> None:
        if self._pub and not self._sink.poll_subscribers():
            room = self.socket_hwm - len(self._waiting)
            self._waiting.extend(records[:room])
            self.dropped += max(0, len(records) - room)
            return
        if self._waiting:
            records = [*self._waiting, *records]
            self._waiting.clear()
        before = self._sink.dropped
        self._sink.write_list(records)
        self.dropped += self._sink.dropped - before

    def encode(self, record: logging.LogRecord) -> bytes:
        try:
            message = record.getMessage()
        except Exception as e:  # bad arguments: still the record, with what went wrong
            message = f"{record.msg!r} % {record.args!r} ({type(e).__name__}: {e})"
        doc: dict[str, Any] = {
            "message": message,
            "level": LEVELS.get(record.levelno) or record.levelname.lower(),
            "name": self.app_name or record.name,
            "logger": record.name,
            "time": record.created,
            "host": self.host,
            "pid": record.process,
        }
        if isinstance(record.msg, dict):
            doc["data"] = record.msg
        if record.exc_info:
            doc["exception"] = self.formatter.formatException(record.exc_info) if self.formatter \
                else logging.Formatter().formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = record.stack_info
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in doc:
                doc[key] = value
        try:
            return orjson.dumps(doc, default=repr, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # integers beyond 64 bits and the like
            return json.dumps(doc, default=repr, ensure_ascii=False, separators=(",", ":")).encode()

    def close(self) -> None:
        """Gives what is queued up to `linger` milliseconds to be delivered (waiting that long
        for a first subscriber, if records wait for one), then closes the socket."""
        self.acquire()
        try:
            if self._pid == os.getpid():
                self._deliver_and_close()
        except Exception:
            self.failed += 1
        finally:
            self._pid = 0
            self.release()
            super().close()

    def _deliver_and_close(self) -> None:
        deadline = time.monotonic() + self.linger / 1000
        while self._waiting and (self.linger < 0 or time.monotonic() < deadline):
            if self._sink.poll_subscribers():
                self._send([])
                break
            self._socket.poll(20)
        self.dropped += len(self._waiting)
        self._waiting.clear()
        self._socket.close()
        self._context.term()
