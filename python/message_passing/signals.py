"""Signals: SIGTERM and SIGINT stop the chain, which then delivers what it queued within each
output's bound; another one after that (more than COALESCE later) ends the process at once. SIGHUP
reopens files; SIGUSR1 prints the counters. TICK, a real-time signal of our own (not SIGALRM,
which plugins use for their timeouts), is sent to the main thread by a thread: --stats's tick, and
the metrics endpoint's call for fresh counters; unlike a byte on the wake-up pipe, it also
interrupts a write blocked on a full pipe.

Python runs signal handlers only between bytecodes, so every signal is also written to a wake-up
pipe, whose readability makes each wait of the core return: Python then sees the signal.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from . import _core

COALESCE = 0.1  # s: stop signals this close together are one request (`timeout` sends two at once)
TICK = signal.SIGRTMIN + 5


class Stopping(BaseException):
    """Raised into an input written in Python while it waits for its next message."""


class ForcedExit(BaseException):
    """A stop signal while the chain was already stopping: end now."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_installed: Signals | None = None


def installed() -> Signals | None:
    """The process's signal handling, once the CLI has installed it."""
    return _installed


class Signals:
    STOP = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.wake_fd, self._write_fd = os.pipe()
        for fd in (self.wake_fd, self._write_fd):
            os.set_blocking(fd, False)
        self.stop = False
        self.reopen = False
        self.report = False
        self.tick = False  # --stats: the status line is due
        self.while_waiting = None  # (tick due) -> None: the chain's look at ticks while an input written in Python waits
        self._tick_due = False  # set by the ticker thread before it signals
        self._ticker: threading.Event | None = None  # set to stop it
        self._main = threading.main_thread().ident
        self.interrupt_python = False  # raise Stopping from the handler (an input written in Python)
        self.ending = False  # the exit line is being written: nothing is left to stop
        self._first_stop = 0.0
        self._drain_until: float | None = None  # the end of a stopping chain's wait for its outputs

    def install(self, came: list[int] = ()) -> None:
        """Handles the signals from now on, and the ones that `came` before."""
        global _installed
        _installed = self
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        _core.set_wake_fd(self.wake_fd)
        for s in self.STOP:
            signal.signal(s, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGUSR1, self._on_usr1)
        signal.signal(TICK, self._on_tick)
        if came:
            os.write(self._write_fd, bytes(came))  # as if they came now: the core wakes, take() sees them

    def tick_every(self, seconds: float) -> None:
        """Sets `tick` every `seconds` (0: no more). The tick's signal wakes the core as any other
        does, so that the chain looks at it even while messages keep coming."""
        if self._ticker is not None:
            self._ticker.set()
            self._ticker = None
        if seconds:
            stop = self._ticker = threading.Event()
            threading.Thread(target=self._tick, args=(seconds, stop), name="stats ticker", daemon=True).start()

    def _tick(self, seconds: float, stop: threading.Event) -> None:
        while not stop.wait(seconds):
            self._tick_due = True
            self.wake()

    def _on_stop(self, signum, frame) -> None:
        now = time.monotonic()
        if not self._first_stop:
            self._first_stop = now
        elif now - self._first_stop > COALESCE and not self.ending:
            raise ForcedExit(signum)  # asked again: stop delivering
        self.stop = True
        if self.interrupt_python:
            raise Stopping()

    def _on_hup(self, signum, frame) -> None:
        self.reopen = True

    def _on_usr1(self, signum, frame) -> None:
        self.report = True

    def _on_tick(self, signum, frame) -> None:
        due, self._tick_due = self._tick_due, False
        if self.interrupt_python and self.while_waiting is not None:
            self.while_waiting(due)  # the chain would not look before the input's next message
        elif due:
            self.tick = True

    def wake(self) -> None:
        """(From another thread.) Makes the main thread look at its flags: the core's current
        wait returns, as for any signal, and so does a write blocked on a full pipe."""
        try:
            signal.pthread_kill(self._main, TICK)
        except (ProcessLookupError, OSError):
            pass  # the main thread is gone: the process is ending

    def drain_left_ms(self, total_ms: int) -> int:
        """What is left of the `total_ms` a stopping chain gives all its file and pipe outputs
        together (the error chain's too) to take what they were writing, counted from the first
        wait: outputs blocked on the same stalled reader, or on several, must not add up their waits."""
        now = time.monotonic()
        if self._drain_until is None:
            self._drain_until = now + total_ms / 1000
        return max(0, int((self._drain_until - now) * 1000))

    def take(self) -> None:
        """Reads the wake-up pipe: the signals that came. (Their handlers run as soon as Python
        runs; this also sees them when it is called first.)"""
        while True:
            try:
                data = os.read(self.wake_fd, 512)
            except BlockingIOError:
                return
            if not data:
                return
            for signum in data:
                if signum in self.STOP:
                    self.stop = True
                elif signum == signal.SIGHUP:
                    self.reopen = True
                elif signum == signal.SIGUSR1:
                    self.report = True
