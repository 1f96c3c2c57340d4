"""message-passing: move logs and events between processes over ZeroMQ.

A Python re-implementation of Perl's Message::Passing whose hot path is native. Write a filter as
a class with `filter(message)` returning the message or None; see README.md.
"""

import importlib

__version__ = "0.1.0"

# Loaded when first asked for: the CLI must handle signals before the slow imports (libzmq's).
_WHERE = {"Decoder": "base", "Encoder": "base", "Filter": "base", "Input": "base", "Output": "base",
          "ZeroMQHandler": "logging", "ConfigError": "options", "Option": "options"}
__all__ = [*_WHERE, "__version__"]


def __getattr__(name: str):
    if name not in _WHERE:
        try:  # a submodule (message_passing.logging.ZeroMQHandler without importing it first)
            return importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
