"""STDOUT: one message a line on standard output."""

from .. import _core
from ..base import Output
from ..errors import StartError

# descriptors that were closed when the process started (the CLI gives them /dev/null)
closed_at_start: set[int] = set()


class STDOUT(Output):
    name = "STDOUT"
    fd = 1

    def open(self) -> None:
        if self.fd == 1 and 1 in closed_at_start:  # writing to /dev/null would lose every message unseen
            raise StartError(f"{self.name} output: standard output is closed")
        self.sink = _core.FdSink(self.fd)
