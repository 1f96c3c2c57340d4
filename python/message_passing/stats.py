"""--stats: a status line on stderr every interval while the chain runs, e.g.

    message-passing: in=1200 out=1198 dropped=2 failed=0 rejected=0 rate=400/s

in: messages the input received; out: messages the output sent; dropped: messages the outputs
dropped (at the high-water mark, or with no peer); failed: messages the outputs could not write;
rejected: messages given to the error chain instead of going on (not JSON, too large, refused by
the decoder, filter or encoder);
rate: messages in per second over the last interval, and on the last line, at exit, over the whole
run (the last interval is cut short: a few messages in its fraction of a second would show as a
rate the chain never had). The counts are the chain's own counters (the exit line's), read on the
main thread when the interval timer's tick wakes the chain.

On a terminal the line is drawn in place, and cleared before an error record or another line is
written to stderr (the next tick draws it again); otherwise, and when messages or error records go
to a terminal on another descriptor too (STDOUT as the output or --error, STDERR as the output:
the core writes them, and they would run into the line), each interval has a line of its own. The
last line, at exit, ends with a newline.
"""

from __future__ import annotations

import os
import time

from .errors import status_line


class Status:
    def __init__(self, chain, interval: float) -> None:
        self.chain = chain
        self.interval = interval
        # (an error output on 2 clears the line itself before each record)
        self.in_place = os.isatty(2) and not any(
            getattr(o, "fd", None) in ((1,) if o is chain.errors.output else (1, 2)) and os.isatty(o.fd)
            for o in chain.outputs())
        self.started = time.monotonic()
        self._last = (self.started, 0)  # when the last line was drawn, and its count in

    def show(self, last: bool = False, wait: bool = False) -> None:
        """The line; with `wait`, waiting for room as the last line does (an output writes where
        stderr goes, and the chain waits for that room anyway)."""
        now = time.monotonic()
        count = totals(self.chain)
        then, received = (self.started, 0) if last else self._last
        rate = (count["in"] - received) / (now - then) if now > then else 0.0
        self._last = (now, count["in"])
        text = " ".join(f"{k}={v}" for k, v in count.items()) + f" rate={rate:.0f}/s"
        status_line(text, self.in_place, last, wait)


def totals(chain) -> dict[str, int]:
    """in, out, dropped, failed and rejected, from the chain's counters."""
    count = {"in": 0, "out": 0, "dropped": 0, "failed": 0, "rejected": chain.errors.rejected}
    for role, c in chain.counters():
        kind = role.split(" ", 1)[0]
        if kind == "input":
            count["in"] = c.get("received", 0)
        elif kind == "output":
            count["out"] = c.get("sent", 0)
        if kind in ("output", "tee"):
            count["dropped"] += c.get("dropped", 0)
            count["failed"] += c.get("failed", 0)
    return count
