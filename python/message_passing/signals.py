"""Signals: SIGTERM and SIGINT stop the chain (a second one exits at once); SIGHUP reopens files.

Python runs signal handlers only between bytecodes, so each signal is also written to a wake-up
pipe that the core's loop polls: the loop returns, and the chain reads which signals came.
"""

from __future__ import annotations

import os
import signal


class Stopping(Exception):
    """Raised into an input written in Python, to end its iteration."""


class Signals:
    STOP = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.wake_fd, self._write_fd = os.pipe()
        for fd in (self.wake_fd, self._write_fd):
            os.set_blocking(fd, False)
        self.stop = False
        self.reopen = False
        self._stop_signals = 0
        self.interrupt_python = False  # raise Stopping from the handler (an input written in Python)

    def install(self) -> None:
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for s in self.STOP:
            signal.signal(s, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, signum, frame) -> None:
        self._stop_signals += 1
        if self._stop_signals > 1:
            os._exit(128 + signum)  # asked twice: stop draining
        self.stop = True
        if self.interrupt_python:
            raise Stopping()

    def _on_hup(self, signum, frame) -> None:
        self.reopen = True

    def take(self) -> None:
        """Reads the signals the wake-up pipe holds into `stop` and `reopen`."""
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
