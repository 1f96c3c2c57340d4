"""Signals: SIGTERM and SIGINT stop the chain, which then delivers what it queued within each
output's bound; another one after that (more than COALESCE later) ends the process at once. SIGHUP
reopens files; SIGUSR1 prints the counters; SIGALRM, from an interval timer, is --stats's tick.

Python runs signal handlers only between bytecodes, so every signal is also written to a wake-up
pipe, whose readability makes each wait of the core return: Python then sees the signal.
"""

from __future__ import annotations

import os
import signal
import time

from . import _core

COALESCE = 0.1  # s: stop signals this close together are one request (`timeout` sends two at once)


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
        self.on_tick = None  # shows it at once while an input written in Python waits
        self.interrupt_python = False  # raise Stopping from the handler (an input written in Python)
        self.ending = False  # the exit line is being written: nothing is left to stop
        self._first_stop = 0.0

    def install(self) -> None:
        global _installed
        _installed = self
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        _core.set_wake_fd(self.wake_fd)
        for s in self.STOP:
            signal.signal(s, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        signal.signal(signal.SIGUSR1, self._on_usr1)
        signal.signal(signal.SIGALRM, self._on_alarm)

    def tick_every(self, seconds: float) -> None:
        """Sets `tick` every `seconds` (0: no more). The timer's signal wakes the core as any
        other does, so that the chain looks at it even while messages keep coming."""
        signal.setitimer(signal.ITIMER_REAL, seconds, seconds)

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

    def _on_alarm(self, signum, frame) -> None:
        if self.interrupt_python and self.on_tick is not None:
            self.on_tick()  # the chain would not look before the input's next message
        else:
            self.tick = True

    def wake(self) -> None:
        """Makes the core's current wait return, as a signal does (from another thread: the
        metrics endpoint wanting fresh counters). The byte is no signal: take() ignores it."""
        try:
            os.write(self._write_fd, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: the core is woken already

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
