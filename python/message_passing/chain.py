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

import errno
import os
from typing import Any

from . import _core
from .base import DRAIN_MS, call, drain_ms, label
from .codecs.json import JSONDecoder, JSONEncoder
from .codecs.null import NullDecoder, NullEncoder
from .errors import DECODING, ENCODING, DecodingError, ErrorChain, StartError, exc_text, say
from .filters.all import All
from .filters.null import Null as NullFilter
from .filters.t import T
from .options import ConfigError
from .plugins import resolve
from .signals import Signals, Stopping

CONTRACT = {"input": "__iter__", "output": "consume", "filter": "filter", "decoder": "decode", "encoder": "encode"}
NATIVE_INPUTS = ("STDIN", "ZeroMQ")
NATIVE_OUTPUTS = ("STDOUT", "STDERR", "File", "ZeroMQ", "Null")
PYTHON_BATCH = 256  # records a batch hands Python: a slow filter still writes (and stops) soon


def make(kind: str, name: Any, options: Any, flag: str) -> Any:
    """Builds one component from its name and options; ConfigError names `flag` on failure."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{flag} must name {'an' if kind[0] in 'aeiou' else 'a'} {kind}")
    if not isinstance(options, dict):
        raise ConfigError(f"{flag}_options must be an object, not {type(options).__name__}")
    cls = resolve(kind, name, flag)
    try:
        component = cls(**options)
    except ConfigError as e:
        raise ConfigError(f"{flag}_options: {e}") from None
    except TypeError as e:
        raise ConfigError(f"{flag}_options: {name} does not take these options: {e}") from None
    except Exception as e:
        raise ConfigError(f"{flag}: {name} could not be made with these options: {exc_text(e)}") from None
    method = CONTRACT[kind]
    if kind == "input":
        ok = hasattr(component, "__iter__") or hasattr(component, "source")
    else:
        ok = callable(getattr(component, method, None))
    if not ok:
        raise ConfigError(f"{flag}: {name} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                          f"(it has no {method} method)")
    return component


def build(config: dict) -> "Chain":
    """The chain a complete configuration (as the CLI holds it) describes."""

    def part(kind: str, key: str) -> Any:
        return make(kind, config[key], config.get(key + "_options", {}), "--" + key)

    errors = ErrorChain(part("encoder", "error_encoder"), part("output", "error"))
    if type(errors.encoder) is NullEncoder:
        raise ConfigError("--error_encoder: Null cannot write error records (objects): use JSON")
    return Chain(part("input", "input"), part("decoder", "decoder"), part("filter", "filter"),
                 part("encoder", "encoder"), part("output", "output"), errors)


def _builtin(component: Any, names: tuple) -> bool:
    return type(component).__module__.startswith("message_passing.") and getattr(component, "name", "") in names


def _passes_natively(decoder: Any, encoder: Any) -> bool:
    """Whether the core alone can take records from this decoder through this encoder."""
    if type(encoder) is JSONEncoder:
        return not encoder.pretty and type(decoder) in (JSONDecoder, NullDecoder)
    return type(decoder) is NullDecoder and type(encoder) is NullEncoder


class Chain:
    def __init__(self, input, decoder, filter, encoder, output, errors: ErrorChain) -> None:
        self.input, self.decoder, self.filter = input, decoder, filter
        self.encoder, self.output, self.errors = encoder, output, errors
        if isinstance(filter, T):
            filter.errors = errors
        self.sinks = self._native_sinks()
        if hasattr(input, "json_frames"):
            # the core validates JSON where the JSON decoder would, or, natively, where the JSON
            # encoder would take the bytes a Null decoder passed on
            input.json_frames = type(decoder) is JSONDecoder or (
                self.sinks is not None and type(encoder) is JSONEncoder)
        # what the core rejects natively after a Null decoder, the JSON encoder refused
        self.reject_class = ENCODING if type(decoder) is not JSONDecoder else DECODING
        self.filtered = 0  # messages the filter dropped (Python paths)
        self.received = 0  # messages an input written in Python gave, if it does not count them
        self.signals: Signals | None = None
        self.status = None  # --stats (stats.Status), shown at each tick
        self.metrics = None  # --metrics_port (metrics.Metrics), given counters when it asks
        self._stderr_sharers: list = []  # outputs writing where stderr goes (found once, at open)

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
            and type(b.encoder) is type(self.encoder)
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
            try:
                call(c, "open")
            except StartError:
                raise
            except Exception as e:
                raise StartError(f"{label(c)}: {exc_text(e, filename=True)}") from None
        self._stderr_sharers = self._where_stderr_goes()

    def close(self) -> None:
        """Stops the input, lets file and pipe outputs finish what they were writing (within
        DRAIN_MS in all), then closes the outputs: a ZeroMQ output then has its linger to deliver."""
        call(self.input, "close")
        if self.signals is not None:
            self.signals.take()  # what woke the core is seen: draining must not stop for it
        for o in self.outputs():
            sink = getattr(o, "sink", None)
            if sink is not None and sink.pending:
                sink.drain(drain_ms())
                self._sink_failed([o])
        for c in (self.filter, self.output, self.errors.output):
            try:
                call(c, "close")
            except Exception as e:
                self.errors.output_failed(label(c), e, 0)

    def run(self, signals: Signals) -> None:
        """Runs until the input ends or a stop signal; rejects and failures go to the error chain."""
        self.signals = signals
        if self.mode == "messages":
            self._run_messages(signals)
            return
        batch = _core.Batch()
        source = self.input.source
        sinks = [o.sink for o in self.sinks] if self.sinks is not None else None
        if sinks is None:
            batch.limit = PYTHON_BATCH
        while True:
            if sinks is not None:
                status = _core.pump(source, sinks, batch)
                self._sink_failed(self.sinks)
            else:
                status = source.fill(batch)
                if len(batch):
                    self._process(self._decode(batch))
            if sinks is None or not any(k.pending for k in sinks):  # (else once the batch is written)
                for raw, size, why in batch.take_rejects():
                    self.errors.decoding(raw, why, size, self.reject_class)
            if status == _core.ERROR:
                raise OSError(source.error, f"{label(self.input)} input: {os.strerror(source.error)}")
            if status == _core.EOF:
                return
            if status == _core.WAKE:
                signals.take()
            if self._after_signals():
                return

    def _after_signals(self) -> bool:
        """Acts on the signals that came; True if the chain is to stop."""
        if (self.signals.report or self.signals.tick) and not self.signals.stop:
            self._finish_where_stderr_goes()
        if not self._stderr_mid_record():  # (else at the next look: a line now would land inside a message)
            if self.signals.report:  # SIGUSR1: the counters, while running
                self.signals.report = False
                say(self.summary())
            if self.signals.tick:
                self.signals.tick = False
                self.status.show(wait=bool(self._stderr_sharers))
        if self.metrics is not None and self.metrics.wanted:
            self.metrics.snapshot()
        if self.signals.reopen:
            self.signals.reopen = False
            for o in self.outputs():
                try:
                    call(o, "reopen")
                except Exception as e:
                    self.errors.output_failed(label(o), e, 0)
        return self.signals.stop

    def _stderr_mid_record(self) -> bool:
        """Whether an output writing where stderr goes (stderr, or a stdout that is the same file)
        was stopped in the middle of a write."""
        return any(o.sink.pending for o in self._stderr_sharers)

    def _where_stderr_goes(self) -> list:
        """The outputs that write to stderr, or to a stdout that is the same file."""
        found = []
        for o in self.outputs():
            fd = getattr(o, "fd", None)
            if fd in (1, 2) and getattr(o, "sink", None) is not None:
                try:
                    if fd == 2 or os.path.samestat(os.fstat(1), os.fstat(2)):
                        found.append(o)
                except OSError:
                    pass
        return found

    def _finish_where_stderr_goes(self) -> None:
        """Finishes the batch an output writing where stderr goes was stopped in, before a line
        goes to stderr (a stop signal still stops it; metrics still get their counters)."""
        for o in self._stderr_sharers:
            while o.sink.pending and not self.signals.stop:
                if o.sink.write_on() == _core.INTERRUPTED:
                    self.signals.take()
                    if self.metrics is not None and self.metrics.wanted:
                        self.metrics.snapshot()

    def while_input_waits(self, tick_due: bool) -> None:
        """(A signal handler, while an input written in Python waits for its next message, when
        the chain would not look.) The status line and the metrics' counters, if due."""
        if tick_due and self.status is not None:
            self.status.show()
        if self.metrics is not None and self.metrics.wanted:
            self.metrics.snapshot()

    # -- the Python paths --------------------------------------------------------------------

    def _run_messages(self, signals: Signals) -> None:
        messages = iter(self.input)
        while True:
            signals.interrupt_python = True  # a stop signal ends the wait for the next message
            try:
                data = next(messages)
            except (StopIteration, Stopping):
                return
            finally:
                signals.interrupt_python = False
            self.received += 1
            self._process(self._decode_each([data]))
            if self._after_signals():
                return

    def _decode(self, batch) -> list:
        if hasattr(self.decoder, "decode_batch"):
            return self.decoder.decode_batch(batch, self.errors)
        return self._decode_each(batch.messages())

    def _decode_each(self, items: list) -> list:
        out = []
        for data in items:
            try:
                out.append(self.decoder.decode(data))
            except DecodingError as e:
                self.errors.decoding(data, str(e))
            except Exception as e:
                self.errors.decoding(data, exc_text(e))
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
        if encoded:
            self._write(self.output, encoded)

    def _write(self, output, encoded: list) -> None:
        sink = getattr(output, "sink", None)
        if sink is None:  # an output written in Python
            for data in encoded:
                try:
                    output.consume(data)
                except Exception as e:
                    self.errors.output_failed(label(output), e, 1)
            return
        status = sink.write_list(encoded)
        while status == _core.INTERRUPTED:  # a signal while the output was blocked
            self.signals.take()
            if self._after_signals():
                return  # close() finishes this write, within its bound
            status = sink.write_on()
        self._sink_failed([output])

    def _sink_failed(self, outputs: list) -> None:
        for o in outputs:
            err = o.sink.take_error()
            if err:
                where = getattr(o, "where", "") or None
                text = os.strerror(err) if err != errno.ETIMEDOUT else f"its reader took nothing in the {DRAIN_MS} ms a stopping chain waits"
                self.errors.output_failed(label(o), OSError(err, text, where), 0)

    # -- counters ----------------------------------------------------------------------------

    def counters(self) -> list[tuple[str, dict]]:
        """(role, counters) for every part that counts."""
        counted = call(self.input, "counters") or ({"received": self.received} if self.mode == "messages" else {})
        rows = [("input " + label(self.input), counted)]
        if self.filtered:
            rows.append(("filter " + label(self.filter), {"filtered": self.filtered}))
        for role, o in (("output", self.output), ("error", self.errors.output)):
            c = call(o, "counters") or {}
            if label(o) in self.errors.failed and "failed" not in c:
                c["failed"] = self.errors.failed[label(o)]
            rows.append((f"{role} {label(o)}", c))
        if isinstance(self.filter, T):
            for b in self.filter.branches:
                rows.append(("tee " + label(b.output), call(b.output, "counters") or {}))
        return rows

    def summary(self) -> str:
        """One line of every counter."""
        parts = [f"{role} " + " ".join(f"{k}={v}" for k, v in c.items()) for role, c in self.counters() if c]
        if self.errors.lost:
            parts.append(f"error chain lost={self.errors.lost}")
        return "; ".join(parts)
