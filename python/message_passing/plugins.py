"""Finds the class a component name stands for.

- A short name is a built-in (`File`, `ZeroMQ`), matched without regard to case, or one that an
  installed package registers under the entry-point group `message_passing.<kind>s`.
- `+package.module.Class` (or `package.module:Class`) is a user's class, imported as written.
- The original's Perl names (`Message::Passing::Output::File`, with or without `+`) mean the built-in.
"""

from __future__ import annotations

import importlib

from .options import ConfigError

KINDS = ("input", "output", "filter", "decoder", "encoder")

BUILTIN = {
    "input": {
        "STDIN": "inputs.stdin:STDIN",
        "ZeroMQ": "inputs.zeromq:ZeroMQ",
        "Null": "inputs.null:Null",
    },
    "output": {
        "STDOUT": "outputs.stdout:STDOUT",
        "STDERR": "outputs.stderr:STDERR",
        "File": "outputs.file:File",
        "ZeroMQ": "outputs.zeromq:ZeroMQ",
        "Null": "outputs.null:Null",
    },
    "filter": {
        "Null": "filters.null:Null",
        "All": "filters.all:All",
        "Key": "filters.key:Key",
        "T": "filters.t:T",
    },
    "decoder": {"JSON": "codecs.json:JSONDecoder", "Null": "codecs.null:NullDecoder"},
    "encoder": {"JSON": "codecs.json:JSONEncoder", "Null": "codecs.null:NullEncoder"},
}

_PERL_PREFIX = {
    "input": "Message::Passing::Input::",
    "output": "Message::Passing::Output::",
    "filter": "Message::Passing::Filter::",
    "decoder": "Message::Passing::Filter::Decoder::",
    "encoder": "Message::Passing::Filter::Encoder::",
}


def _import(path: str, flag: str):
    module, _, attr = path.rpartition(":") if ":" in path else path.rpartition(".")
    if not module or not attr:
        raise ConfigError(f"{flag}: '{path}' is not package.module.Class")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"{flag}: cannot import {module}: {e}") from None
    except Exception as e:  # the module itself failed: its code, not our option
        raise ConfigError(f"{flag}: importing {module} failed: {type(e).__name__}: {' '.join(str(e).split())}") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ConfigError(f"{flag}: module {module} has no {attr}") from None


def builtin_class(kind: str, short: str):
    return _import("message_passing." + BUILTIN[kind][short], f"--{kind}")


def resolve(kind: str, name: str, flag: str | None = None):
    """The class for `name`; ConfigError (naming `flag`) if there is none."""
    flag = flag or f"--{kind}"
    perl = name.lstrip("+")
    if perl.startswith(_PERL_PREFIX[kind]):
        name = perl[len(_PERL_PREFIX[kind]):]
    elif name.startswith("+") or ":" in name:
        return _import(name.lstrip("+"), flag)
    for short in BUILTIN[kind]:
        if short.lower() == name.lower():
            return builtin_class(kind, short)
    from importlib.metadata import entry_points  # (slow to import: only for a name not built in)

    for ep in entry_points(group=f"message_passing.{kind}s"):
        if ep.name.lower() == name.lower():
            try:
                return ep.load()
            except Exception as e:
                raise ConfigError(f"{flag}: cannot load {name} from {ep.value}: {e}") from None
    known = ", ".join(list(BUILTIN[kind]) + [ep.name for ep in entry_points(group=f"message_passing.{kind}s")])
    raise ConfigError(f"{flag}: unknown {kind} '{name}' (known: {known}; or +package.module.Class)")
