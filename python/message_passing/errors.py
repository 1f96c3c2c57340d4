"""The error chain: what could not be decoded, filtered, encoded or written becomes one record,
encoded by --error_encoder and written by --error, and the pipeline goes on.

Records are JSON objects like the original's: `class`, `exception`, and the offending data
(`packed_data` for input, as text: bytes that are not UTF-8 appear as \\xNN escapes). The error
chain itself never stops the pipeline: if it cannot write, that is said once on stderr and counted.
"""

from __future__ import annotations

import errno
import os
import reprlib
import select
import traceback
from typing import Any

DECODING = "Message::Passing::Exception::Decoding"
ENCODING = "Message::Passing::Exception::Encoding"
FILTER = "Message::Passing::Exception::Filter"
OUTPUT = "Message::Passing::Exception::Output"
OVERSIZED = "message larger than max_message_size"  # the core's reason: the record says the size


class StartError(Exception):
    """A component could not start (open): one line, exit status 1."""


class DecodingError(ValueError):
    """Raised by a decoder for data that is not a message; its text is the error record's."""


def as_text(data: Any) -> str:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data).decode("utf-8", "backslashreplace")
    if isinstance(data, str):
        return data
    try:
        return repr(data)
    except Exception:  # nested too deep, or a repr that fails: shown in part
        short = reprlib.Repr()
        short.maxlevel = 20
        return short.repr(data)


class ErrorChain:
    def __init__(self, encoder, output) -> None:
        self.encoder = encoder
        self.output = output
        self.reported = 0
        self.rejected = 0  # messages it was given instead of going on (not an output's failures)
        self.lost = 0  # records the error chain itself could not write
        self.failed: dict[str, int] = {}  # messages each output written in Python failed to take
        self._said: set = set()
        self._stuck = False  # its reader took nothing while the chain was stopping: write no more

    def decoding(self, data: Any, why: str, size: int | None = None, klass: str = DECODING) -> None:
        record = {"class": klass, "exception": why, "packed_data": as_text(data)}
        if size is not None and (size != len(data) or why == OVERSIZED):
            record["size"] = size
        self.rejected += 1
        self.report(record)

    def encoding(self, message: Any, exc: BaseException) -> None:
        self.rejected += 1
        self.report({"class": ENCODING, "exception": exc_text(exc), "stringified_data": as_text(message)})

    def filter_failed(self, message: Any, exc: BaseException) -> None:
        self.rejected += 1
        self.report({"class": FILTER, "exception": exc_text(exc, with_traceback=True),
                     "stringified_data": as_text(message)})

    def output_failed(self, label: str, exc: BaseException, count: int) -> None:
        """An output could not write `count` messages: said once for each output and kind of
        failure (a full disk would say it for every batch), counted every time."""
        self.failed[label] = self.failed.get(label, 0) + count
        key = (label, getattr(exc, "errno", None) or type(exc).__name__)
        if key not in self._said:
            self._said.add(key)
            self.report({"class": OUTPUT, "exception": f"{label}: {exc_text(exc, filename=True)}",
                         "note": "said once: failures like it are counted, not repeated"})

    def report(self, record: dict) -> None:
        self.reported += 1
        if getattr(self.output, "fd", None) == 2:
            clear_status_line()  # (--stats on a terminal) a record is not written after it, on its line
        if self._stuck:
            self.lost += 1
            return
        try:
            self.output.consume(self.encoder.encode(record))
        except Exception as e:
            if not self.lost:
                say(f"the error chain cannot write ({exc_text(e, filename=True)}); "
                    "its records are counted, not shown")
            self.lost += 1
            self._stuck = getattr(e, "errno", None) == errno.ETIMEDOUT


def say(text: str, wait_ms: int = 1000) -> None:
    """One line on stderr (descriptor 2: sys.stderr is None when it was closed at start), if a
    reader takes it within wait_ms: a stderr pipe nobody reads must not hold the process."""
    clear_status_line()
    _write_stderr(f"message-passing: {text}\n", wait_ms)


_status_line = False  # a --stats line is on the terminal, drawn in place, without its newline


def status_line(text: str, in_place: bool, last: bool = False, wait: bool = False) -> None:
    """The --stats line: on a terminal drawn over the previous one (ended with a newline when it
    is the last), else a line of its own. Never waits (but for the last, or when told to): a line
    stderr has no room for is skipped."""
    global _status_line
    wait_ms = 1000 if last or wait else 0
    line = f"message-passing: {text}"
    if not in_place:
        _write_stderr(line + "\n", wait_ms)
        return
    if not last:
        try:  # cut to the terminal's width: a line that wraps cannot be drawn over
            columns = os.get_terminal_size(2).columns
        except OSError:
            columns = 0  # (and 0: a terminal that does not say)
        if columns:
            line = line[:columns - 1]
    if _write_stderr("\r\x1b[K" + line + ("\n" if last else ""), wait_ms):
        _status_line = not last


def clear_status_line() -> None:
    """Clears the line drawn in place before anything else is written to stderr (the next tick
    draws it again), so that the two do not share a line."""
    global _status_line
    if _status_line:
        _status_line = False
        _write_stderr("\r\x1b[K", 1000)


_stderr_stuck = False  # a line waited for room in vain: the next ones do not wait until one goes


def _write_stderr(text: str, wait_ms: int) -> bool:
    """Writes `text` if stderr has room within wait_ms (so that the lines of an exit wait 1 s in
    all for a stderr nobody reads, not 1 s each)."""
    global _stderr_stuck
    try:
        p = select.poll()
        p.register(2, select.POLLOUT)
        if p.poll(0 if _stderr_stuck else wait_ms):
            os.write(2, text.encode(errors="backslashreplace"))
            _stderr_stuck = False
            return True
        _stderr_stuck = wait_ms > 0
    except (OSError, InterruptedError):
        pass
    return False


def exc_text(exc: BaseException, with_traceback: bool = False, filename: bool = False) -> str:
    """An exception in one line (or with its traceback, for a user's filter)."""
    if with_traceback and exc.__traceback__ is not None:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if filename and exc.filename else ""
        return f"{exc.strerror}{where}" if not where else f"{where.strip()}: {exc.strerror}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
