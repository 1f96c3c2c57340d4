"""Null: no messages; the chain runs until it is stopped by a signal."""

import time

from ..base import Input


class Null(Input):
    name = "Null"

    def __iter__(self):
        while True:
            time.sleep(3600)  # a stop signal ends this (see signals.Stopping)
        yield
