"""STDIN: one message a line from standard input, read by the core; the chain ends at end of input.

Lines may end in \\n or \\r\\n; empty lines are skipped; a last line without a newline still counts.
"""

from __future__ import annotations

from .. import _core
from ..base import Input
from ..options import Option

MAX_MESSAGE_SIZE = Option("integer", "bytes; a longer message goes to the error chain with its size",
                          16 << 20, minimum=1, maximum=1 << 40)


class STDIN(Input):
    name = "STDIN"
    options = {"max_message_size": MAX_MESSAGE_SIZE}

    def open(self) -> None:
        self.source = _core.LineSource(0, validate=self.json_frames, max_size=self.max_message_size)

    def counters(self) -> dict[str, int]:
        counters = super().counters()
        if self.source is not None and self.source.unprocessed:
            counters["unprocessed"] = self.source.unprocessed  # read before a stop, not passed on
        return counters
