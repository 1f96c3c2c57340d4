"""T: a tee. Each message goes to every branch output (each with its own encoder) and also on down
the chain, to --encoder and --output.

Typically given in a configuration file:

    filter: T
    filter_options:
      outputs:
        - {output: File, output_options: {filename: /var/log/all.log}}
        - {output: ZeroMQ, output_options: {connect: "tcp://10.0.0.2:5558"}}
"""

from __future__ import annotations

from typing import Any

from ..base import Filter, call, label
from ..options import ConfigError, Option

BRANCH_KEYS = ("output", "output_options", "encoder", "encoder_options")


class Branch:
    """One output of the tee, with its encoder."""

    def __init__(self, index: int, spec: Any) -> None:
        from ..chain import make  # the chain's factory builds branches as it builds itself

        where = f"T outputs[{index}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("output"), str):
            raise ConfigError(f"{where} must be an object with an 'output' name")
        for key in spec:
            if key not in BRANCH_KEYS:
                raise ConfigError(f"{where} has no key '{key}' (its keys: {', '.join(BRANCH_KEYS)})")
        self.output = make("output", spec["output"], spec.get("output_options", {}), f"{where}.output")
        self.encoder = make("encoder", spec.get("encoder", "JSON"), spec.get("encoder_options", {}),
                            f"{where}.encoder")


class T(Filter):
    name = "T"
    options = {
        "outputs": Option("list", "the branches: objects with output, output_options, encoder "
                          "(default JSON), encoder_options"),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.branches = [Branch(i, spec) for i, spec in enumerate(self.outputs)]
        self.errors = None  # the chain's error chain, set when the chain is built

    def open(self) -> None:
        for b in self.branches:
            call(b.output, "open")

    def close(self) -> None:
        for b in self.branches:
            call(b.output, "close")

    def filter(self, message: Any) -> Any:
        for b in self.branches:
            try:
                data = b.encoder.encode(message)
            except Exception as e:
                self.errors.encoding(message, e)
                continue
            try:
                b.output.consume(data)
            except Exception as e:
                self.errors.output_failed(label(b.output), e, 1)
        return message
