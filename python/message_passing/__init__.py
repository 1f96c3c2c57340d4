"""message-passing: move logs and events between processes over ZeroMQ.

A Python re-implementation of Perl's Message::Passing whose hot path is native. Write a filter as
a class with `filter(message)` returning the message or None; see README.md.
"""

from .base import Decoder, Encoder, Filter, Input, Output
from .logging import ZeroMQHandler
from .options import ConfigError, Option

__version__ = "0.1.0"
__all__ = ["Decoder", "Encoder", "Filter", "Input", "Output", "Option", "ConfigError", "ZeroMQHandler",
           "__version__"]
