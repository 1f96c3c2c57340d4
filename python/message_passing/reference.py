"""The README's component reference, generated from each component's declared options:
`python -m message_passing.reference` prints it, `... --update README.md` rewrites it in place.
A test keeps the README equal to it."""

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


def update(path: str) -> None:
    with open(path) as f:
        text = f.read()
    start = text.index("-->", text.index("<!-- reference:start")) + len("-->")
    end = text.index("<!-- reference:end -->")
    with open(path, "w") as f:
        f.write(text[:start] + "\n" + render() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--update"]:
        update(sys.argv[2])
    else:
        sys.stdout.write(render())
