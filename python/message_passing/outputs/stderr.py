"""STDERR: one message a line on standard error (the error chain's default output)."""

from .stdout import STDOUT


class STDERR(STDOUT):
    name = "STDERR"
    fd = 2
