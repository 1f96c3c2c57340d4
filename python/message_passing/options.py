"""Component options: each component declares its options once, as a dict of `Option`s.

The CLI checks `*_options` against the declaration (unknown keys, wrong types and missing required
options stop start-up with one line), and the README's reference tables are generated from it
(`python -m message_passing.reference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

_NO_DEFAULT = object()

# The JSON types an option may take, with the words an error message uses for them.
TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "strings": "a list of strings",
    "list": "a list",
    "object": "an object",
}


class ConfigError(Exception):
    """A bad command line, configuration file or option: start-up stops with this one line."""


INT_MAX = 2**31 - 1  # what libzmq takes for high-water marks and linger


@dataclass(frozen=True)
class Option:
    type: str
    help: str
    default: Any = _NO_DEFAULT
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    empty: bool = True  # whether "" is a value (paths and endpoints are never empty)

    def __post_init__(self):
        assert self.type in TYPES, self.type

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT

    def check(self, name: str, value: Any) -> Any:
        ok = {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool) or value in (0, 1),
            "strings": isinstance(value, list) and all(isinstance(v, str) for v in value),
            "list": isinstance(value, list),
            "object": isinstance(value, dict),
        }[self.type]
        if not ok:
            raise ConfigError(f"option '{name}' must be {TYPES[self.type]}, not {_describe(value)}")
        if self.type == "boolean":
            value = bool(value)
        if self.type == "number" and not math.isfinite(value):
            raise ConfigError(f"option '{name}' must be a finite number, not {value!r}")
        if self.type in ("integer", "number") and self.maximum is None and abs(value) > INT_MAX:
            raise ConfigError(f"option '{name}' is out of range: {value!r}")
        for text in [value] if self.type == "string" else value if self.type == "strings" else []:
            check_text(name, text)
            if not text and not self.empty:
                raise ConfigError(f"option '{name}' must not be empty")
        if self.choices and value not in self.choices:
            raise ConfigError(f"option '{name}' must be one of {', '.join(map(str, self.choices))}, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"option '{name}' must be at least {self.minimum}, not {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"option '{name}' must be at most {self.maximum}, not {value!r}")
        return value


def check_text(name: str, text: str) -> None:
    """Text that reaches a path, an endpoint or a socket option: UTF-8, and no NUL (which would cut it)."""
    if "\0" in text:
        raise ConfigError(f"option '{name}' must not contain a NUL character")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ConfigError(f"option '{name}' is not valid UTF-8 text: {text!r}") from None


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    for t, words in (
        (str, "a string"),
        (int, "an integer"),
        (float, "a number"),
        (list, "a list"),
        (dict, "an object"),
    ):
        if isinstance(value, t):
            return f"{words} ({value!r})" if t in (str, int, float) else words
    return "null" if value is None else type(value).__name__


def check_options(owner: str, declared: Mapping[str, Option], given: Mapping[str, Any]) -> dict[str, Any]:
    """Returns every declared option's value (given, else default); raises ConfigError naming the
    first unknown, mistyped or missing option."""
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ConfigError(f"{owner} has no option '{name}' (its options: {known})")
    values = {}
    for name, opt in declared.items():
        if name in given:
            try:
                values[name] = opt.check(name, given[name])
            except ConfigError as e:
                raise ConfigError(f"{owner}: {e}") from None
        elif opt.required:
            raise ConfigError(f"{owner} needs option '{name}' ({opt.help})")
        else:
            values[name] = opt.default
    return values


def default_text(opt: Option) -> str:
    """The default as the README shows it."""
    if opt.required:
        return "required"
    if opt.default is None:
        return "none"
    import json

    return json.dumps(opt.default)
