"""STDOUT: one message a line on standard output."""

from .. import _core
from ..base import Output


class STDOUT(Output):
    name = "STDOUT"
    fd = 1

    def open(self) -> None:
        self.sink = _core.FdSink(self.fd)
