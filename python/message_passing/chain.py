"""The chain: Input -> Decoder -> Filter -> Encoder -> Output, and the error chain beside it.

How it runs depends on its parts:
- native: a core input, JSON or Null codecs, a Null, All or T filter and core outputs. The core's
  `pump` moves every message; Python runs only for rejected input and signals.
- batches: a core input with a Python filter, decoder, encoder or output. The core reads and
  frames a batch; the decoder turns the whole batch into messages in one call; the filter sees
  each message; the encoded batch goes to the outputs in one call.
- messages: an input written in Python; each message goes down the chain as it comes.
"""

from __future__ import annotations

import os
from typing import Any

from . import _core
from .base import label
from .codecs.json import JSONDecoder, JSONEncoder
from .codecs.null import NullDecoder, NullEncoder
from .errors import DecodingError, ErrorChain, _exc_text
from .filters.all import All
from .filters.null import Null as NullFilter
from .filters.t import T
from .options import ConfigError
from .plugins import resolve
from .signals import Signals, Stopping

CONTRACT = {"input": "__iter__", "output": "consume", "filter": "filter", "decoder": "decode", "encoder": "encode"}
NATIVE_INPUTS = ("STDIN", "ZeroMQ")
NATIVE_OUTPUTS = ("STDOUT", "STDERR", "File", "ZeroMQ", "Null")


def make(kind: str, name: str, options: Any, flag: str) -> Any:
    """Builds one component from its name and options; ConfigError names `flag` on failure."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{flag} must name a {kind}")
    if not isinstance(options, dict):
        raise ConfigError(f"{flag}_options must be a JSON object, not {type(options).__name__}")
    cls = resolve(kind, name, flag)
    try:
        component = cls(**options)
    except ConfigError as e:
        raise ConfigError(f"{flag}_options: {e}") from None
    except TypeError as e:
        raise ConfigError(f"{flag}_options: {name} does not take these options: {e}") from None
    method = CONTRACT[kind]
    if kind == "input":
        ok = hasattr(component, "__iter__") or hasattr(component, "source")
    else:
        ok = callable(getattr(component, method, None))
    if not ok:
        raise ConfigError(f"{flag}: {name} is not a {kind} (it has no {method} method)")
    return component


def build(config: dict) -> "Chain":
    """The chain a complete configuration (as the CLI holds it) describes."""

    def part(kind: str, key: str) -> Any:
        return make(kind, config[key], config.get(key + "_options") or {}, "--" + key)

    errors = ErrorChain(part("encoder", "error_encoder"), part("output", "error"))
    return Chain(part("input", "input"), part("decoder", "decoder"), part("filter", "filter"),
                 part("encoder", "encoder"), part("output", "output"), errors)


def _builtin(component: Any, names: tuple) -> bool:
    return type(component).__module__.startswith("message_passing.") and getattr(component, "name", "") in names


def _passes_natively(decoder: Any, encoder: Any) -> bool:
    """Whether the core alone can take records from this decoder through this encoder."""
    if type(encoder) is JSONEncoder and encoder.pretty:
        return False
    if type(decoder) is JSONDecoder:
        return type(encoder) is JSONEncoder
    return type(decoder) is NullDecoder and type(encoder) in (JSONEncoder, NullEncoder)


class Chain:
    def __init__(self, input, decoder, filter, encoder, output, errors: ErrorChain) -> None:
        self.input, self.decoder, self.filter = input, decoder, filter
        self.encoder, self.output, self.errors = encoder, output, errors
        if isinstance(filter, T):
            filter.errors = errors
        if hasattr(input, "json_frames"):
            input.json_frames = type(decoder) is JSONDecoder
        self.sinks = self._native_sinks()
        self.filtered = 0  # messages the filter dropped (Python paths)

    def _native_sinks(self) -> list | None:
        """The outputs the core writes to if it can run this chain alone, else None."""
        if not _builtin(self.input, NATIVE_INPUTS) or not _builtin(self.output, NATIVE_OUTPUTS):
            return None
        if not _passes_natively(self.decoder, self.encoder):
            return None
        if type(self.filter) is All:
            return []
        if type(self.filter) is NullFilter:
            return [self.output]
        if type(self.filter) is T and all(
            _builtin(b.output, NATIVE_OUTPUTS) and _passes_natively(self.decoder, b.encoder)
            for b in self.filter.branches
        ):
            return [b.output for b in self.filter.branches] + [self.output]
        return None

    @property
    def mode(self) -> str:
        if self.sinks is not None:
            return "native"
        return "batches" if _builtin(self.input, NATIVE_INPUTS) else "messages"

    def outputs(self) -> list:
        branches = [b.output for b in self.filter.branches] if isinstance(self.filter, T) else []
        return [self.errors.output, self.output, *branches]

    # -- life cycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Opens outputs before the input, so that nothing received has nowhere to go."""
        for c in (self.errors.output, self.output, self.filter, self.input):
            if hasattr(c, "open"):
                c.open()

    def close(self) -> None:
        """Stops the input first, then lets outputs deliver what they queued."""
        for c in (self.input, self.filter, self.output, self.errors.output):
            if hasattr(c, "close"):
                try:
                    c.close()
                except Exception as e:
                    self.errors.output_failed(label(c), e, 0)

    def run(self, signals: Signals) -> None:
        """Runs until the input ends or a stop signal; rejects and failures go to the error chain."""
        if self.mode == "messages":
            self._run_messages(signals)
            return
        batch = _core.Batch()
        source = self.input.source
        sinks = [o.sink for o in self.sinks] if self.sinks is not None else None
        while True:
            if sinks is not None:
                status = _core.pump(source, sinks, batch, signals.wake_fd)
            else:
                status = source.fill(batch, -1, signals.wake_fd)
                if len(batch):
                    self._process(self._decode(batch))
            for raw, size, why in batch.rejects():
                self.errors.decoding(raw, why, size)
            if sinks is not None:
                self._sink_failed()
            if status == _core.ERROR:
                raise OSError(source.error, f"{label(self.input)} input: {os.strerror(source.error)}")
            elif status == _core.EOF:
                return
            elif status == _core.WAKE:
                signals.take()
            if signals.reopen:
                signals.reopen = False
                self.reopen()
            if signals.stop:
                return

    def reopen(self) -> None:
        for o in self.outputs():
            if hasattr(o, "reopen"):
                try:
                    o.reopen()
                except Exception as e:
                    self.errors.output_failed(label(o), e, 0)

    # -- the Python paths --------------------------------------------------------------------

    def _run_messages(self, signals: Signals) -> None:
        signals.interrupt_python = True
        try:
            for data in self.input:
                self._process(self._decode_each([data]))
                if signals.reopen:
                    signals.reopen = False
                    self.reopen()
                if signals.stop:
                    return
        except Stopping:
            return
        finally:
            signals.interrupt_python = False

    def _decode(self, batch) -> list:
        if hasattr(self.decoder, "decode_batch"):
            return self.decoder.decode_batch(batch)
        return self._decode_each(batch.messages())

    def _decode_each(self, items: list) -> list:
        out = []
        for data in items:
            try:
                out.append(self.decoder.decode(data))
            except DecodingError as e:
                self.errors.decoding(data, str(e))
            except Exception as e:
                self.errors.decoding(data, _exc_text(e))
        return out

    def _process(self, messages: list) -> None:
        if type(self.filter) is not NullFilter:
            keep = []
            f = self.filter.filter
            for m in messages:
                try:
                    r = f(m)
                except Exception as e:
                    self.errors.filter_failed(m, e)
                    continue
                if r is None:
                    self.filtered += 1
                else:
                    keep.append(r)
            messages = keep
        if not messages:
            return
        if hasattr(self.encoder, "encode_batch"):
            encoded = self.encoder.encode_batch(messages, self.errors)
        else:
            encoded = []
            for m in messages:
                try:
                    encoded.append(self.encoder.encode(m))
                except Exception as e:
                    self.errors.encoding(m, e)
        if not encoded:
            return
        if hasattr(self.output, "consume_batch"):
            try:
                self.output.consume_batch(encoded)
            except Exception as e:
                self.errors.output_failed(label(self.output), e, len(encoded))
            return
        for data in encoded:
            try:
                self.output.consume(data)
            except Exception as e:
                self.errors.output_failed(label(self.output), e, 1)

    def _sink_failed(self) -> None:
        for o in self.sinks:
            err = o.sink.take_error()
            if err:
                self.errors.output_failed(label(o), OSError(err, os.strerror(err)), 0)

    def summary(self) -> str | None:
        """One line of every counter, if an output dropped or failed to write something, or the
        error chain could not (what the error chain did write needs no second mention)."""
        rows = self.counters()
        lost = self.errors.lost + sum(v for _, c in rows for k, v in c.items() if k in ("dropped", "failed"))
        if not lost:
            return None
        parts = [f"{role} " + " ".join(f"{k}={v}" for k, v in c.items()) for role, c in rows if c]
        if self.errors.lost:
            parts.append(f"error chain lost={self.errors.lost}")
        return "; ".join(parts)

    def counters(self) -> list[tuple[str, dict]]:
        """(role, counters) for every part that counts."""
        rows = [("input " + label(self.input), self.input.counters() if hasattr(self.input, "counters") else {})]
        if self.filtered:
            rows.append(("filter " + label(self.filter), {"filtered": self.filtered}))
        for role, o in (("output", self.output), ("error", self.errors.output)):
            c = o.counters() if hasattr(o, "counters") else {}
            if label(o) in self.errors.failed and "failed" not in c:
                c["failed"] = self.errors.failed[label(o)]
            rows.append((f"{role} {label(o)}", c))
        if isinstance(self.filter, T):
            for b in self.filter.branches:
                rows.append(("tee " + label(b.output), b.output.counters()))
        return rows
