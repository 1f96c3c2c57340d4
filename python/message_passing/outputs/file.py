"""File: appends one message a line to a file, in one write a batch (nothing is held in memory).

The file is followed by its path: if it is moved away or removed (log rotation), the next write
creates it anew; SIGHUP reopens it too.
"""

from __future__ import annotations

import os

from .. import _core
from ..base import Output
from ..options import Option


class File(Output):
    name = "File"
    options = {
        "filename": Option("string", "path of the file (relative to the directory the command started in)",
                           empty=False),
        "append": Option("boolean", "append to the file (true) or empty it at start (false)", True),
    }

    def __init__(self, **options):
        super().__init__(**options)
        self.filename = self.where = os.path.abspath(self.filename)  # --daemonize changes directory

    def open(self) -> None:
        self.sink = _core.FileSink(self.filename, self.append)

    def reopen(self) -> None:
        self.sink.reopen()

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
