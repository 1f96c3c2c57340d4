"""Key: passes only messages whose value at a dotted key path matches.

The value must be a string, number or boolean (objects, lists and null never match); it is compared
as text (numbers as JSON writes them, booleans as true/false). Unlike the original, "0" and "" can
match: only a missing or non-matching value drops the message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..base import Filter
from ..options import ConfigError, Option


class Key(Filter):
    name = "Key"
    options = {
        "key": Option("string", "dotted path of the value to test, e.g. a.b", empty=False),
        "match": Option("string", "what the value must be (eq) or contain (regex)"),
        "match_type": Option("string", "eq: the whole value equals match; regex: match is a regular "
                             "expression searched in the value", "eq", choices=("eq", "regex")),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._path = self.key.split(".")
        try:
            self._regex = re.compile(self.match) if self.match_type == "regex" else None
        except re.error as e:
            raise ConfigError(f"Key: option 'match' is not a valid regular expression: {e}") from None

    def filter(self, message: Any) -> Any:
        value = message
        for part in self._path:
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = value
        elif isinstance(value, (int, float)):
            text = json.dumps(value)
        else:
            return None
        if self._regex is not None:
            return message if self._regex.search(text) else None
        return message if text == self.match else None
