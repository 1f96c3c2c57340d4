"""Logging from Python applications to an aggregator (`message-passing --input ZeroMQ ...`), as
Perl applications do through Log::Dispatch::Message::Passing:

    import logging
    from message_passing.logging import ZeroMQHandler

    logging.getLogger().addHandler(ZeroMQHandler(connect="tcp://127.0.0.1:5558", socket_type="PUSH"))

`ZeroMQHandler` sends each record as one JSON frame (`JSONFormatter` makes it; it also serves any
other handler), handing records to the socket a batch at a time (within a millisecond; at once
from ERROR up): waking libzmq's I/O thread costs more than a record. It never blocks and never
raises into the application: records the socket has no room for are dropped and counted, a record
that cannot be made is counted and reported once through `handleError`. At close (and so at
interpreter exit) what is queued gets up to `linger` milliseconds to be delivered.
`ZeroMQProcessor` sends structlog's event dicts the same way.
"""

from __future__ import annotations

import json
import logging
import math
import os
import select
import socket
import sys
import threading
import time
import weakref
from typing import Any

import orjson
import zmq

from . import _core
from .options import Option, check_options
from .zmqsocket import SOCKET_OPTIONS, attach, check_endpoint

# Log::Dispatch's level names, which Perl aggregators and their filters know
LEVELS = {logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning", logging.ERROR: "error",
          logging.CRITICAL: "critical"}
# the fields every record has; `extra` and dict messages add others but never replace these
FIXED = frozenset({"message", "level", "name", "@timestamp", "epochtime", "hostname", "pid", "thread", "logger",
                   "module", "function", "line", "exception", "stack"})
# what every LogRecord has: anything else on a record came from `extra`
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def level_name(levelno: int) -> str:
    return LEVELS.get(levelno) or logging.getLevelName(levelno).lower()


class JSONFormatter(logging.Formatter):
    """A record as one line of JSON: the original's fields (message, level, name) and @timestamp
    (ISO 8601, UTC, milliseconds), epochtime, hostname, pid, thread, logger, module, function,
    line, exception and stack (formatted text, when there are), then the `extra` fields. Values JSON
    cannot hold are written as their str(); the text is always valid UTF-8."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.app_name = name  # the `name` field; the logger's name by default
        self.hostname = socket.gethostname()
        self._second = (-1, "")  # the last second formatted, and its text

    def timestamp(self, created: float) -> str:
        second, text = self._second
        if second != int(created):
            second = int(created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}Z"

    def document(self, record: logging.LogRecord, message: str | None = None) -> dict[str, Any]:
        """The record's fields; `message` in place of the record's own (another formatter's text)."""
        msg = record.msg
        if message is None:
            if isinstance(msg, dict) and not record.args:
                message = msg.get("message", "")
            else:
                try:
                    message = record.getMessage()
                except Exception as e:  # arguments that do not fit: the record still goes, saying so
                    message = f"{_text(msg, repr)} % {_text(record.args, repr)} ({type(e).__name__}: {e})"
        doc: dict[str, Any] = {
            "message": message,
            "level": level_name(record.levelno),
            "name": self.app_name or record.name,
            "@timestamp": self.timestamp(record.created),
            "epochtime": record.created,
            "hostname": self.hostname,
            "pid": record.process,
            "thread": record.threadName,
            "logger": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
        }
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exception"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        fields = record.__dict__
        if fields.keys() - _STANDARD:  # `extra`, in the order given
            for key, value in fields.items():
                if key not in _STANDARD:
                    _add_field(doc, key, value)
        if isinstance(msg, dict) and not record.args:
            for key, value in msg.items():
                if key != "message":
                    _add_field(doc, key, value)
        return doc

    def encode(self, record: logging.LogRecord, message: str | None = None) -> bytes:
        return dumps(self.document(record, message))

    def format(self, record: logging.LogRecord) -> str:
        return self.encode(record).decode()


def _add_field(doc: dict, key: Any, value: Any) -> None:
    """An `extra` field: one named like a fixed field goes in as `extra.NAME`, not in its place."""
    if key in FIXED:
        key = f"extra.{key}"
    if isinstance(value, (float, dict, list, tuple)):
        value = _finite(value, 0)
    doc.setdefault(key, value)


def _finite(value: Any, depth: int) -> Any:
    """The value with NaN and infinities as their text ("nan", "inf"), which JSON cannot hold (orjson
    would write null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth < 100 and isinstance(value, dict):
        return {k: _finite(v, depth + 1) for k, v in value.items()}
    if depth < 100 and isinstance(value, (list, tuple)):
        return [_finite(v, depth + 1) for v in value]
    return value


def dumps(doc: dict) -> bytes:
    """Compact JSON of a document whatever it holds: what JSON cannot hold becomes text."""
    try:
        return orjson.dumps(doc, default=_text, option=orjson.OPT_NON_STR_KEYS)
    except (TypeError, ValueError, RecursionError):  # big integers, lone surrogates, odd keys, deep nesting
        return json.dumps(_plain(doc, 0), ensure_ascii=False, separators=(",", ":")).encode()


def _text(value: Any, show=str) -> str:
    """str(value) (or repr) as valid UTF-8, whatever its __str__ does."""
    try:
        s = value if show is str and isinstance(value, str) else show(value)
    except Exception:
        try:
            s = repr(value)
        except Exception:
            s = f"<{type(value).__name__} object that cannot be shown>"
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _plain(value: Any, depth: int) -> Any:
    """The value made of what json.dumps writes as valid JSON (for orjson's refusals)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _text(value)
    if depth > 100:
        return _text(value)
    if isinstance(value, dict):
        return {_text(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in value]
    return _text(value)


BATCH = 64             # records handed to the socket at once
GATHER = 0.001         # s a first record waits for others before the flusher hands it over
FLUSH_LEVEL = logging.ERROR  # records at this level or above are handed over at once, with the queue

# A forked child must not use its parent's sockets: each handler opens its own there.
_forks = 0
_abandoned: list = []  # a parent's sockets and contexts, kept (never closed) in its children


def _after_fork() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_after_fork)


def _close_at_child_exit(handler: logging.Handler) -> None:
    import multiprocessing.util

    multiprocessing.util.Finalize(None, handler.close, exitpriority=0)


def _discard(pid: int, sock, monitor, context, flusher: "_Flusher") -> None:
    """A handler dropped without close(): free its socket, context and flusher (not in a forked
    child, where they are its parent's)."""
    if os.getpid() == pid:
        if not sock.closed:
            monitor.close(linger=0)
            sock.close(linger=0)
            context.term()
        with flusher.lock:
            flusher.end()


class _Flusher:
    """The thread that hands a handler's queue to the socket GATHER after its first record (every
    20 ms while a PUB waits for its first subscriber), and the pipe that wakes it: a signal handler
    may write to a pipe (an Event's lock, it could find held by the very code it interrupted). It
    holds the handler weakly, so that a handler dropped without close() goes; it ends after a
    minute without records. All but run() are called under the handler's lock."""

    def __init__(self, handler: "ZeroMQHandler") -> None:
        self.handler, self.lock = weakref.ref(handler), handler.lock
        self.r, self.w = os.pipe()  # (not inherited by children)
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)
        self.thread: threading.Thread | None = None
        self.pending = False  # it will look at the queue soon: no need to wake it
        self.ended = False    # the handler is closed or gone: the pipe goes with the thread
        self.inline = False   # no thread could start (interpreter shutdown): records go at once

    def wake(self) -> bool:
        """Makes the thread look at the queue soon; False if no thread can run."""
        if self.inline:
            return False
        if self.ended:  # (closed by a signal handler meanwhile: nothing more goes)
            return True
        if self.thread is None or not self.thread.is_alive():
            # (made known before it starts: a signal handler's end() then closes the pipe, and
            # the thread, if it starts at all, ends at once)
            self.thread = threading.Thread(target=self.run, name="ZeroMQHandler flusher", daemon=True)
            try:
                self.thread.start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                self.thread, self.inline = None, True
                return False
        self.pending = True
        self._poke()
        return True

    def end(self) -> None:
        self.ended = True
        if self.thread is None or not self.thread.is_alive():
            self.close_pipe()
        else:
            self._poke()  # it wakes, sees the end, and closes the pipe

    def _poke(self) -> None:
        try:
            if self.w >= 0:
                os.write(self.w, b"!")
        except OSError:
            pass  # bytes are there already: the thread will wake

    def close_pipe(self) -> None:
        for fd in (self.r, self.w):
            if fd >= 0:
                os.close(fd)
        self.r = self.w = -1

    def run(self) -> None:
        r = self.r
        if r < 0:  # ended before it started
            return
        poller = select.poll()
        poller.register(r, select.POLLIN)
        retry = False
        while True:
            woken = poller.poll(20 if retry else 60_000)
            if woken:
                try:
                    os.read(self.r, 4096)
                except OSError:
                    pass
                time.sleep(GATHER)  # let records gather
            with self.lock:
                handler = None if self.ended else self.handler()
                if handler is not None and (handler._queue or woken):
                    self.pending = False
                    retry = not handler._hand_over_soon()
                    self.pending = retry
                    handler = None  # (held weakly while waiting)
                    continue
                # closed, gone, or a minute without records: decided under the lock, so that a
                # record queued from now on starts another thread
                if self.thread is threading.current_thread():
                    self.thread = None
                self.pending = False
                if self.ended or handler is None:
                    self.close_pipe()
                return


class ZeroMQHandler(logging.Handler):
    """Sends each record as one JSON frame on a PUB (default) or PUSH socket, never blocking."""

    options = {
        **SOCKET_OPTIONS,
        "socket_type": Option("string", "the kind of socket", "PUB", choices=("PUB", "PUSH")),
        "linger": Option("integer", "milliseconds to deliver queued records at close (-1: no limit)", 1000,
                         minimum=-1),
        "name": Option("string", "the records' `name` field (default: the logger's name)", None),
    }

    def __init__(self, connect: str | None = None, *, level: int | str = logging.NOTSET, **options: Any) -> None:
        super().__init__(level)
        if connect is not None:
            options["connect"] = connect
        values = check_options("ZeroMQHandler", self.options, options)
        self.endpoint = check_endpoint("ZeroMQHandler", values["connect"], values["socket_bind"])
        self.bind = values["socket_bind"] is not None
        self.socket_type, self.socket_hwm, self.linger = values["socket_type"], values["socket_hwm"], values["linger"]
        self.json = JSONFormatter(values["name"])
        self.setFormatter(self.json)
        self.failed = 0      # records that could not be made or handed over
        self._dropped = 0    # records dropped here (no room to wait for a first subscriber; closed)
        self.undelivered = 0  # sent while no collector had ever connected, and none came before the end
        self._sent_before = self._dropped_before = 0  # of a socket closed
        self._said: set[str] = set()
        self._queue: list[bytes] = []  # records not yet handed to the socket
        self._sink = None
        self._open()

    # -- counters

    @property
    def sent(self) -> int:
        """Records handed to the socket (PUSH: queued for the peer; PUB: to its subscribers)."""
        with self.lock:
            self.flush()  # (what was logged so far, not what the flusher has handed over so far)
            sink = self._sink
            return self._sent_before + (sink.sent if sink is not None else 0)

    @property
    def dropped(self) -> int:
        """Records dropped because the socket had no room (the collector down or slow), or because
        no subscriber came before the handler closed."""
        with self.lock:
            self.flush()
            sink = self._sink
            return self._dropped_before + self._dropped + (sink.dropped if sink is not None else 0)

    def counters(self) -> dict[str, int]:
        return {"sent": self.sent, "dropped": self.dropped, "undelivered": self.undelivered,
                "waiting": len(self._queue), "failed": self.failed}

    # -- the socket

    def _open(self) -> None:
        self._generation = _forks
        if self.bind and self._sink is not None:
            # a forked child: the parent holds the endpoint, which the child cannot bind too
            self._sink = None
            raise OSError(f"ZeroMQHandler: a process forked from the one that bound {self.endpoint} cannot bind "
                          f"it too; its records are dropped")
        # a context of its own: closing it is what waits out the linger, whatever else the
        # application does with ZeroMQ
        self._context = _core.Context()
        pub = self.socket_type == "PUB"
        sock = zmq.Context.shadow(self._context.address).socket(zmq.XPUB if pub else zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.socket_hwm)
        sock.setsockopt(zmq.LINGER, self.linger)
        if pub:
            sock.setsockopt(zmq.XPUB_NODROP, 1)  # at the HWM, say so (the record is counted)
        # whether a collector ever connected: if none did, what was queued is lost at close (read
        # then only: reading it at every record costs more than the record)
        monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_ACCEPTED)
        try:
            attach("ZeroMQHandler", sock, self.endpoint, self.bind)  # (refuses an ipc path in use)
        except Exception:
            monitor.close(linger=0)
            self._context.term()
            raise
        self._socket, self._monitor, self._pub, self._connected = sock, monitor, pub, False
        self._flusher = _Flusher(self)
        if "multiprocessing" in sys.modules:
            # a multiprocessing child ends in os._exit, without logging.shutdown: close there,
            # whether the handler was made before the child started (inherited, or made as its
            # main module was imported) or in it
            import multiprocessing.util

            multiprocessing.util.register_after_fork(self, _close_at_child_exit)
            if multiprocessing.parent_process() is not None:
                _close_at_child_exit(self)
        weakref.finalize(self, _discard, os.getpid(), sock, monitor, self._context, self._flusher).atexit = False
        self._sink = _core.ZmqSink(sock, xpub=pub)
        self._full, self._last_dropped = False, 0  # the last hand-over found no room
        self._handing_over = self._closing = False

    def _reopen_after_fork(self) -> None:
        # the parent's: closing them here could hang
        _abandoned.append((self._socket, self._monitor, self._context))
        self._flusher.close_pipe()  # (the child's copies; its thread is the parent's)
        self._sent_before = self._dropped_before = 0
        self._dropped = self.failed = self.undelivered = 0
        self._sink = self._sink if self.bind else None
        self._queue.clear()  # the parent's to send (cleared first: the child's open may fail)
        self._open()

    # -- records

    def emit(self, record: logging.LogRecord) -> None:
        """Queues the record. The queue goes to the socket BATCH records at a time, at once from
        FLUSH_LEVEL up, and otherwise GATHER after its first record (the flusher thread): waking
        libzmq's I/O thread costs more than a record, and one wake-up serves a batch."""
        sink = self._sink
        if self._full and sink is not None and self._generation == _forks and not sink.writable():
            self._dropped += 1  # still no room (a PUSH at its high-water mark): not worth making the record
            return
        try:
            fmt = self.formatter
            if isinstance(fmt, JSONFormatter):
                data = fmt.encode(record)
            else:  # another formatter's text is the message
                data = self.json.encode(record, self.format(record))
        except Exception:
            self._failed("encode", record)
            return
        self._queue_record(data, record, record.levelno >= FLUSH_LEVEL)

    def send_document(self, doc: dict) -> None:
        """Sends a ready document (structlog's events): as emit does, with the same counters."""
        level = logging.getLevelName(str(doc.get("level", "")).upper())
        self.acquire()
        try:
            try:
                data = dumps(doc)
            except Exception:
                self._failed("encode", None)
                return
            self._queue_record(data, None, isinstance(level, int) and level >= FLUSH_LEVEL)
        finally:
            self.release()

    def _queue_record(self, data: bytes, record: logging.LogRecord | None, urgent: bool) -> None:
        """(Under the lock.)"""
        try:
            if self._generation != _forks:
                self._reopen_after_fork()
            if self._sink is None:  # closed, or a child that cannot bind
                self._dropped += 1
                return
            queue = self._queue  # (always the same list: a signal handler may come in anywhere)
            queue.append(data)
            if urgent or len(queue) >= BATCH:
                self._hand_over()
            if queue and not self._flusher.pending:
                self._soon()
        except Exception:
            self._failed("send", record)

    def _soon(self) -> None:
        """(Under the lock.) The queue goes to the socket soon: the flusher's, or at once if no
        thread can run."""
        if not self._flusher.wake():
            self._hand_over()

    def _hand_over_soon(self) -> bool:
        """(The flusher, under the lock.) As _hand_over, failures counted."""
        try:
            return self._sink is None or self._generation != _forks or self._hand_over()
        except Exception:
            self._failed("send", None)
            return True

    def _hand_over(self) -> bool:
        """(Under the lock.) Gives the queue to the socket, unless a PUB has no subscriber yet: then
        it keeps socket_hwm records for one, and drops the newest beyond."""
        sink, queue = self._sink, self._queue
        if sink is None or self._handing_over or not queue:  # (a signal handler interrupting a
            return True                                       # hand-over: it leaves the rest to the flusher)
        if self._pub and not sink.subscribers and not sink.poll_subscribers():
            if 0 < self.socket_hwm < len(queue):
                self._dropped += len(queue) - self.socket_hwm
                del queue[self.socket_hwm:]
            return False
        failed = sink.failed
        self._handing_over = True
        try:
            batch = queue[:]  # (a signal handler may queue more meanwhile, behind these: they stay)
            del queue[:len(batch)]
            if len(batch) == 1:
                sink.write_one(batch[0])
            else:
                sink.write_list(batch)
        finally:
            self._handing_over = False
        if self._sink is not sink:  # a signal handler closed the handler under the write: this
            self._dropped += sink.failed - failed + len(queue)  # batch and the rest are dropped
            queue.clear()
            return True
        if not self._pub:  # (a PUB's room cannot be asked)
            dropped = sink.dropped
            self._full = dropped != self._last_dropped
            self._last_dropped = dropped
        if queue and not self._flusher.pending:  # queued by a signal handler meanwhile
            self._soon()
        return True

    _FAILURES = {"encode": "a record could not be made", "send": "records could not be handed to the socket",
                 "close": "the handler could not close cleanly"}

    def _failed(self, what: str, record: logging.LogRecord | None) -> None:
        """Counted always; said once for each kind of failure, through logging's own path."""
        self.failed += 1
        if what not in self._said:
            self._said.add(what)
            if record is None:
                record = logging.LogRecord("message_passing.logging", logging.ERROR, __file__, 0,
                                           f"ZeroMQHandler: {self._FAILURES[what]}", None, None)
            self.handleError(record)

    # -- the end

    def flush(self) -> None:
        """Hands what is queued to the socket (a PUB: if a subscriber has come); waits for a
        batch the flusher is handing over."""
        self.acquire()
        try:
            if self._queue and self._sink is not None and self._generation == _forks:
                self._hand_over()
        except Exception:
            self._failed("send", None)
        finally:
            self.release()

    def close(self) -> None:
        """Gives what is queued up to `linger` milliseconds to be delivered (records waiting for a
        first subscriber wait that long for one), then closes the socket. Never hangs longer."""
        self.acquire()
        try:
            if self._closing:  # a signal handler's, while this very close runs
                return
            self._closing = True
            try:
                if self._sink is not None and self._generation == _forks:
                    self._deliver_and_close()
            except Exception:
                self._failed("close", None)
            finally:
                self._sink, self._full, self._closing = None, False, False
                if self._generation == _forks:
                    self._flusher.end()
        finally:
            self.release()
        super().close()

    def _ever_connected(self) -> bool:
        while not self._connected:
            try:
                self._monitor.recv_multipart(zmq.NOBLOCK)  # an event: a connection (only those are watched)
            except zmq.Again:
                break
            self._connected = True
        return self._connected

    def _deliver_and_close(self) -> None:
        sink, deadline = self._sink, time.monotonic() + self.linger / 1000

        def waiting() -> float | None:  # milliseconds left in the linger (None: no limit)
            return None if self.linger < 0 else max(0.0, (deadline - time.monotonic()) * 1000)

        if not self._handing_over:  # (else a signal handler's close, in the middle of a hand-over: that counts the rest)
            while self._queue and not self._hand_over() and waiting() != 0:  # (a PUB: for a first subscriber)
                self._socket.poll(min(20, waiting() or 20))
            self._dropped += len(self._queue)
            self._queue.clear()
        while sink.sent and not self._ever_connected() and waiting() != 0:  # for a collector to connect
            self._monitor.poll(min(100, waiting() or 100))
        lost = sink.sent and not self._ever_connected()
        if lost:  # no collector came: what was queued for one is lost
            self.undelivered += sink.sent
        self._sent_before += sink.sent
        self._dropped_before += sink.dropped
        sink.detach()
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
        # what is left of the linger, so that the whole close never takes longer
        self._socket.close(linger=0 if lost else -1 if self.linger < 0 else int(waiting()))
        while not self._context.term(True):  # until delivered or given up
            pass  # a signal came: its Python handler has run (Ctrl-C raises here)


class ZeroMQProcessor:
    """A structlog processor that sends each event dict as a record, by a ZeroMQHandler (given, or
    made of the options), and passes the event on; with drop=True it ends the chain there.

        structlog.configure(processors=[structlog.processors.add_log_level,
                                        ZeroMQProcessor(connect="tcp://127.0.0.1:5558", drop=True)])

    The record: `event` is the message; level, the logger's name (structlog's add_log_level,
    add_logger_name), module, function and line (its CallsiteParameterAdder's module, func_name,
    lineno) and the other fixed fields as a ZeroMQHandler's; the other keys as they are."""

    def __init__(self, handler: ZeroMQHandler | None = None, *, drop: bool = False, **options: Any) -> None:
        self.handler = handler if handler is not None else ZeroMQHandler(**options)
        self.drop = drop

    def __call__(self, logger: Any, method_name: str, event_dict: dict) -> dict:
        fmt = self.handler.json
        now = time.time()
        logger_name = event_dict.get("logger") or getattr(logger, "name", None) or "structlog"
        doc: dict[str, Any] = {
            "message": _text(event_dict.get("event", event_dict.get("message", ""))),  # (EventRenamer)
            "level": _structlog_level(event_dict.get("level", method_name)),
            "name": fmt.app_name or logger_name,
            "@timestamp": fmt.timestamp(now),
            "epochtime": now,
            "hostname": fmt.hostname,
            "pid": os.getpid(),
            "thread": threading.current_thread().name,
            "logger": logger_name,
        }
        for key, field in _CALLSITE.items():
            if key in event_dict:
                doc[field] = event_dict[key]
        exc_info = event_dict.get("exc_info")
        if exc_info and "exception" not in event_dict:
            if exc_info is True:
                import sys
                exc_info = sys.exc_info()
            elif isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            if isinstance(exc_info, tuple) and exc_info[0] is not None:
                doc["exception"] = fmt.formatException(exc_info)
        for key in ("exception", "stack"):  # (structlog's format_exc_info, StackInfoRenderer)
            if key in event_dict and key not in doc:
                doc[key] = event_dict[key]
        used = {"event", "exc_info", "level", "logger", "exception", "stack", *_CALLSITE}  # in the fixed fields now
        if "event" not in event_dict:
            used.add("message")
        for key, value in event_dict.items():
            if key not in used:
                _add_field(doc, key, value)
        self.handler.send_document(doc)
        if self.drop:
            import structlog

            raise structlog.DropEvent
        return event_dict


_CALLSITE = {"module": "module", "func_name": "function", "lineno": "line"}  # structlog's CallsiteParameterAdder


def _structlog_level(name: Any) -> str:
    name = str(name).lower()
    return {"warn": "warning", "exception": "error", "fatal": "critical", "msg": "info"}.get(name, name)
