"""Prints the README's component reference, generated from each component's declared options:
`python -m message_passing.reference`. A test keeps the README equal to it."""

from __future__ import annotations

import inspect
import sys

from .options import TYPES, default_text
from .plugins import BUILTIN, builtin_class

HEADINGS = {"input": "Inputs", "output": "Outputs", "filter": "Filters", "decoder": "Decoders", "encoder": "Encoders"}


def summary(cls) -> str:
    """The first paragraph of the component's module docstring, on one line."""
    doc = inspect.getdoc(sys.modules[cls.__module__]) or ""
    text = " ".join(doc.split("\n\n")[0].split())
    prefix = f"{cls.name}: "
    if text.startswith(prefix):
        text = text[len(prefix):]
    return text[:1].upper() + text[1:]


def render() -> str:
    out = []
    for kind, names in BUILTIN.items():
        out.append(f"### {HEADINGS[kind]}\n")
        for short in names:
            cls = builtin_class(kind, short)
            out.append(f"**{short}**: {summary(cls)}\n")
            if cls.options:
                out.append("| option | type | default | meaning |\n|---|---|---|---|")
                for name, opt in cls.options.items():
                    kind_text = TYPES[opt.type]
                    if opt.choices:
                        kind_text = " or ".join(map(str, opt.choices))
                    out.append(f"| `{name}` | {kind_text} | `{default_text(opt)}` | {opt.help} |")
                out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
