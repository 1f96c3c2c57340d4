"""Fuzzing the native framing (message_passing._core) and the JSON decoder and encoder.

`check(data)` is the whole harness, a plain function: tests/test_fuzz_corpus.py calls it for every
file of tests/fuzz/corpus/framing/ (and `check_document(doc)`, the same checks for one whole
document, for every file of tests/fuzz/corpus/json_frame/), and `python tests/fuzz/fuzz_framing.py
[libFuzzer options] CORPUS_DIR` runs it under atheris (coverage-guided) with the same corpus
(tests/fuzz/run.sh does, with an instrumented core). It raises AssertionError on a violated
invariant, and nothing else.

An input is one option byte, then a payload:

    byte 0, bits 0-2  max_size:    0 (no limit), 1, 2, 7, 16, 100, 4096, 5000      (MAX_SIZES)
            bits 3-5  topic_field: None, "topic", "t", "", "tópico", "a",
                                   'q"uote', 'b\\\\s\\x01'                           (TOPIC_FIELDS)
            bits 6-7  how LineSource reads the payload: at the markers, in one read,
                      in reads of 1 byte (7 if over 256 bytes), in reads of 13 bytes
    payload: messages separated by 0x1d, each of frames separated by 0x1e (as ZeroMQ multipart:
             of several frames the first is the topic, the last the payload); for LineSource the
             markers are removed and mark where a read ends, and the text is lines.

What is driven, and what must hold:
  - Source(validate=True and False, max_size, topic_field).add(batch, frame) for every frame;
    ZmqSource over an inproc PUSH/PULL pair for the messages (topics); LineSource over a pipe,
    written a read at a time (line splitting, CRLF, oversized lines across reads, a last line
    without newline), validating and not.
  - A reference model predicts every record and reject: a frame is accepted iff it is valid
    UTF-8, RFC 8259 JSON (Python's json with NaN/Infinity and lone surrogates refused) after at
    most one leading byte order mark, an object or array, nested at most 1024 levels (a value
    inside a container counting one more: simdjson's rule), and not over max_size; an accepted
    record is the input without the mark and with the whitespace outside strings removed (so it parses with json.loads as an
    object or array and has no whitespace outside strings); with a topic, an object without the
    key gets "key":"topic" first and is otherwise unchanged. A reject keeps a prefix of its
    input, at most 4096 bytes for an oversized one, the whole input otherwise, with its size.
  - Batch.messages() / lines() / json_array() agree: json_array() parses to the same list as the
    records one by one; exotic counts at most the records.
  - JSONDecoder.decode_batch(batch, errors) gives, for each record, what json.loads gives (exact
    numbers), or an error record only for nesting Python cannot take; with errors=None it raises
    DecodingError only. JSONDecoder.decode raises DecodingError only, for what the core rejects.
  - JSONEncoder(pretty=False/True).encode_batch gives JSON that parses back to the message
    (infinities as null, as documented) or an error record for nesting too deep; encode(bytes)
    returns the bytes if the core accepts them and raises ValueError otherwise.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Under atheris: its libFuzzer must be loaded before the core, so that a core built with
    # -fsanitize=fuzzer-no-link (run.sh does) finds it and reports its coverage.
    import atheris  # noqa: F401

import contextlib
import fcntl
import json
import math
import os
import re
import sys

import zmq

from message_passing import _core
from message_passing.codecs.json import JSONDecoder, JSONEncoder
from message_passing.errors import DecodingError

MAX_SIZES = (0, 1, 2, 7, 16, 100, 4096, 5000)
TOPIC_FIELDS = (None, "topic", "t", "", "tópico", "a", 'q"uote', "b\\s\x01")
MSG_SEP, FRAME_SEP = b"\x1d", b"\x1e"
KEEP = 4096            # bytes the core keeps of an oversized input
MAX_FRAMES = 300       # frames of one input driven through the sources (bounds the time per input)
MAX_DEPTH = 1024
WS = b" \t\n\r"
REASONS = {
    "not valid UTF-8", "no JSON text (empty or only whitespace)",
    "not valid JSON: misplaced or missing commas, colons, brackets or braces",
    "not valid JSON: bad string (a bad escape or a lone surrogate)",
    "not valid JSON: control character not escaped in a string", "not valid JSON: string not closed",
    "not valid JSON: bad number", "not valid JSON: bad literal (true, false or null expected)",
    "JSON nested deeper than 1024 levels", "JSON document too large",
    "JSON text must be an object or array",
    "not valid JSON: a byte order mark not at the start of the input",
}
SIZE_REASON = "message larger than max_message_size"

BOM = b"\xef\xbb\xbf"


# ---------------------------------------------------------------------------------------------
# the reference model

@contextlib.contextmanager
def recursion_room(n: int = 5000):
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, n))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?$)|[^"]+', re.S)
_PARTS = re.compile(rb"[\[\]{}]|[^\[\]{},: \t\n\r]+")


def scan(b: bytes) -> tuple[int, bytes]:
    """(deepest nesting, the text with whitespace outside strings removed), for any bytes: a string
    runs from a quote to the next quote not escaped by a backslash, or to the end. A value's level
    is one more than the containers around it: 1024 empty arrays nest 1024 deep, 1023 around a 1 too."""
    depth = deepest = 0
    out = []
    for m in _TOKENS.finditer(b):
        t = m.group()
        if t[0] == 0x22:
            out.append(t)
            deepest = max(deepest, depth + 1)
            continue
        out.append(t.translate(None, WS))
        for c in _PARTS.findall(t):
            if c == b"]" or c == b"}":
                depth -= 1
                continue
            deepest = max(deepest, depth + 1)  # a value: a container or a scalar
            if c == b"[" or c == b"{":
                depth += 1
    return deepest, b"".join(out)


def _no_constant(name):
    raise ValueError(f"not JSON: {name}")


def _has_surrogate(v) -> bool:
    stack = [v]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if any("\ud800" <= ch <= "\udfff" for ch in v):
                return True
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, tuple):  # (key, value) pairs
                    stack.extend(x)
                else:
                    stack.append(x)
    return False


class Ref:
    """What the core should make of one input (validating)."""

    __slots__ = ("ok", "why", "pairs", "value", "minified", "depth")

    def __init__(self, b: bytes):
        self.ok, self.why, self.pairs, self.value, self.minified = False, None, None, None, None
        if b.startswith(BOM):
            b = b[3:]
        self.depth, minified = scan(b)
        try:
            text = b.decode("utf-8")  # strict: surrogates and overlong forms are refused
        except UnicodeDecodeError:
            self.why = "not valid UTF-8"
            return
        if self.depth > MAX_DEPTH:
            self.why = "deep"
            return
        try:
            with recursion_room():
                pairs = json.loads(text, parse_constant=_no_constant, object_pairs_hook=list)
        except (ValueError, RecursionError):
            self.why = "syntax"
            return
        if not isinstance(pairs, list):
            self.why = "scalar"
            return
        if _has_surrogate(pairs):
            self.why = "surrogate"
            return
        self.ok, self.pairs, self.minified = True, pairs, minified
        self.value = None  # made on demand (loads)

    def loads(self):
        with recursion_room():
            return json.loads(self.minified)

    def is_object(self) -> bool:
        return self.minified[:1] == b"{"

    def has_key(self, key: str) -> bool:
        return any(k == key for k, _ in self.pairs)


def topic_text(topic: bytes) -> str:
    """The topic as the core writes it: text, or if not UTF-8 each byte >= 0x80 as \\xNN."""
    try:
        return topic.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(c) if c < 0x80 else "\\x%02x" % c for c in topic)


def expect_frame(b: bytes, validate: bool, max_size: int, key: str | None, topic: bytes | None):
    """("record", bytes-or-None, Ref) or ("reject", reason-or-None, None) for one frame. For a
    record with a topic inserted, the bytes are None (the check is on the parsed pairs)."""
    if max_size and len(b) > max_size:
        return ("reject", SIZE_REASON, None)
    if not validate:
        return ("record", b, None)
    r = Ref(b)
    if not r.ok:
        return ("reject", None, r)
    if key and topic and r.is_object() and not r.has_key(key):
        return ("record", None, r)
    return ("record", r.minified, r)


# ---------------------------------------------------------------------------------------------
# checks of what the core gave against what was expected

def no_ws_outside_strings(rec: bytes) -> bool:
    return scan(rec)[1] == rec


def check_record(rec: bytes, exp, key, topic, where):
    _, want, r = exp
    if want is not None:
        assert rec == want, f"{where}: record {rec[:200]!r} != expected {want[:200]!r}"
        return
    # an object that gets the topic first
    assert no_ws_outside_strings(rec), f"{where}: whitespace outside strings in {rec[:200]!r}"
    try:
        with recursion_room():
            got = json.loads(rec.decode("utf-8"), object_pairs_hook=list)
    except (ValueError, UnicodeDecodeError) as e:
        raise AssertionError(f"{where}: record with topic is not JSON ({e}): {rec[:200]!r}") from None
    with recursion_room():
        right = isinstance(got, list) and got and got[0] == (key, topic_text(topic)) and got[1:] == r.pairs
    assert right, f"{where}: topic not put first, or members changed, in {rec[:200]!r} (key {key!r}, " \
        f"topic {topic!r})"


def check_reject(rej, frame: bytes, exp, where):
    kept, size, why = rej
    assert size == len(frame), f"{where}: reject size {size} != {len(frame)}"
    assert frame.startswith(kept), f"{where}: reject keeps what is not the input's start"
    assert len(kept) <= len(frame), f"{where}: reject keeps more than the input"
    if why == SIZE_REASON:
        assert len(kept) == min(len(frame), KEEP), f"{where}: oversized reject keeps {len(kept)}"
    else:
        assert kept == frame, f"{where}: a refused input is not kept whole"
        assert why in REASONS, f"{where}: unknown reason {why!r}"
    if exp[1] == SIZE_REASON:
        assert why == SIZE_REASON, f"{where}: reason {why!r}, expected {exp[1]!r}"
    # otherwise any of the input's faults may be named


def check_sequence(frames, expects, records, rejects, key, topics, where):
    """The records and rejects the core gave, in order, against the expectations per frame."""
    ri = ji = 0
    for i, (frame, exp) in enumerate(zip(frames, expects)):
        w = f"{where} frame {i}"
        if exp[0] == "record":
            assert ri < len(records), f"{w}: accepted input missing (rejected as " \
                f"{rejects[ji][2] if ji < len(rejects) else '?'!r}): {frame[:200]!r}"
            check_record(records[ri], exp, key, topics[i], w)
            ri += 1
        else:
            assert ji < len(rejects), f"{w}: input should be rejected, was accepted: {frame[:200]!r}"
            check_reject(rejects[ji], frame, exp, w)
            ji += 1
    assert ri == len(records) and ji == len(rejects), \
        f"{where}: {len(records) - ri} records and {len(rejects) - ji} rejects more than inputs"


class Errors:
    """Stands for the error chain: collects what decoders and encoders report."""

    def __init__(self):
        self.decoded, self.encoded = [], []

    def decoding(self, data, why, size=None, klass=None):
        assert isinstance(why, str) and why
        self.decoded.append(data)

    def encoding(self, message, exc):
        assert isinstance(exc, BaseException)
        self.encoded.append(message)


def nesting(v) -> int:
    deepest, stack = 0, [(v, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def no_inf(v):
    """What a message becomes through the encoder: infinities are written as null."""
    if isinstance(v, float) and math.isinf(v):
        return None
    if isinstance(v, dict):
        return {k: no_inf(x) for k, x in v.items()}
    if isinstance(v, list):
        return [no_inf(x) for x in v]
    return v


_decoder = JSONDecoder()
_encoders = (JSONEncoder(), JSONEncoder(pretty=True))


def check_batch(batch, records, where):
    """A validated batch: its views, the decoder and the encoders."""
    msgs = batch.messages()
    assert msgs == records, f"{where}: messages() differs from the records"
    assert len(batch) == len(records)
    assert batch.lines() == b"".join(r + b"\n" for r in records), f"{where}: lines() differs"
    assert 0 <= batch.exotic <= len(records)
    with recursion_room():
        wanted = [json.loads(r) for r in records]
        arr = batch.json_array()
        assert json.loads(arr) == wanted, f"{where}: json_array() != the records one by one"
    errors = Errors()
    got = _decoder.decode_batch(batch, errors)  # at the recursion limit Python runs with
    assert len(got) + len(errors.decoded) == len(records), f"{where}: decode_batch lost records"
    it = iter(got)
    ei = 0
    for rec, want in zip(records, wanted):
        if ei < len(errors.decoded) and errors.decoded[ei] == rec:
            assert nesting(want) > 200, f"{where}: decode_batch refused {rec[:200]!r}"
            ei += 1
            continue
        value = next(it)
        with recursion_room():
            same = value == want and type(value) is type(want)
        assert same, f"{where}: decode_batch gave {value!r:.200} for {rec[:200]!r}"
    assert ei == len(errors.decoded), f"{where}: decode_batch reported what is not a record"
    for enc in _encoders:
        errors = Errors()
        out = enc.encode_batch(wanted, errors)
        assert len(out) + len(errors.encoded) == len(wanted), f"{where}: encode_batch lost messages"
        failed = {id(m) for m in errors.encoded}
        it = iter(out)
        for m in wanted:
            if id(m) in failed:
                assert nesting(m) > 200, f"{where}: encode_batch refused {m!r:.200}"
                continue
            data = next(it)
            assert isinstance(data, bytes)
            with recursion_room():
                same = json.loads(data) == no_inf(m)
            assert same, f"{where}: encode_batch({m!r:.200}) gave {data[:200]!r}"


# ---------------------------------------------------------------------------------------------
# driving the sources

_zmq = None


def zmq_pair():
    global _zmq
    if _zmq is None:
        ctx = zmq.Context()
        pull = ctx.socket(zmq.PULL)
        push = ctx.socket(zmq.PUSH)
        for s in (pull, push):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDHWM, 0)
            s.setsockopt(zmq.RCVHWM, 0)
        pull.bind("inproc://fuzz-framing")
        push.connect("inproc://fuzz-framing")
        _zmq = (ctx, push, pull)
    return _zmq[1], _zmq[2]


def parse(data: bytes):
    opt, payload = data[0], data[1:]
    max_size = MAX_SIZES[opt & 7]
    key = TOPIC_FIELDS[(opt >> 3) & 7]
    mode = opt >> 6
    messages = [m.split(FRAME_SEP) for m in payload.split(MSG_SEP)]
    return max_size, key, mode, payload, messages


def drive_add(frames, validate, max_size, key):
    src = _core.Source(validate=validate, max_size=max_size, topic_field=key)
    batch = _core.Batch()
    for f in frames:
        src.add(batch, f)
    assert src.received == len(frames)
    assert src.rejected == len(batch.rejects())
    return batch


def drive_zmq(messages, max_size, key):
    """Sends the messages through an inproc PUSH/PULL pair into a ZmqSource; returns
    (frames taken, their topics, records, rejects, batches)."""
    push, pull = zmq_pair()
    frames, topics, ignored = [], [], 0
    for m in messages:  # one record a message: its last frame, with the first as its topic
        frames.append(m[-1])
        topics.append(m[0] if len(m) > 1 else None)
        ignored += max(0, len(m) - 2)
        push.send_multipart(m, flags=zmq.NOBLOCK)
    src = _core.ZmqSource(pull, validate=True, max_size=max_size, topic_field=key)
    records, rejects, batches = [], [], []
    for _ in range(100):  # bounded: inproc delivers at once
        if src.received >= len(frames):
            break
        batch = _core.Batch()
        st = src.fill(batch, 100)
        assert st == _core.OK, f"ZmqSource.fill returned {st}"
        records += batch.messages()
        rejects += batch.rejects()
        batches.append((batch, batch.messages()))
    assert src.received == len(frames), f"ZmqSource received {src.received} of {len(frames)} messages"
    assert src.ignored_frames == ignored, f"ZmqSource ignored {src.ignored_frames} frames, not {ignored}"
    assert pull.poll(0) == 0, "frames left in the socket"
    return frames, topics, records, rejects, batches


def boundaries(text_parts, mode):
    """The chunks LineSource reads: `text_parts` are the pieces between markers."""
    text = b"".join(text_parts)
    if mode == 0:
        chunks = [p for p in text_parts if p]
    elif mode == 1:
        chunks = [text] if text else []
    else:
        k = 13 if mode == 3 else (1 if len(text) <= 256 else 7)
        chunks = [text[i:i + k] for i in range(0, len(text), k)]
    out = []
    for c in chunks:  # a pipe takes 64 KiB without a reader: never more in one write
        out += [c[i:i + 65536] for i in range(0, len(c), 65536)]
    return out


def drive_lines(chunks, validate, max_size):
    r, w = os.pipe()
    try:
        fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) | os.O_NONBLOCK)
        src = _core.LineSource(r, validate=validate, max_size=max_size)
        records, rejects, batches = [], [], []

        def take(batch):
            records.extend(batch.messages())
            rejects.extend(batch.rejects())
            if len(batch):
                batches.append((batch, batch.messages()))

        for c in chunks:
            os.write(w, c)  # at most 64 KiB into an empty pipe: never blocks
            batch = _core.Batch()
            st = src.fill(batch, 0)
            assert st == _core.OK, f"LineSource.fill returned {st} (error {src.error})"
            take(batch)
        os.close(w)
        w = -1
        for _ in range(10):
            batch = _core.Batch()
            st = src.fill(batch, 1000)
            assert st in (_core.OK, _core.EOF), f"LineSource.fill returned {st} (error {src.error})"
            take(batch)
            if st == _core.EOF:
                break
        else:
            raise AssertionError("LineSource never reached the end of its input")
        batch = _core.Batch()
        assert src.fill(batch, 0) == _core.EOF and len(batch) == 0, "LineSource read past its end"
        assert src.received == len(records) + len(rejects)
        assert src.rejected == len(rejects)
        return records, rejects, batches
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def split_lines(chunks, max_size):
    """The lines LineSource should give, as (line, oversized?, size): a line is its bytes without
    \\n and one final \\r (however the reads split them); empty lines are skipped."""
    text = b"".join(chunks)
    lines, s = [], 0
    while s < len(text):
        e = text.find(b"\n", s)
        if e < 0:
            e = len(text)
        line = text[s:e]
        if line.endswith(b"\r"):
            line = line[:-1]
        over = bool(max_size) and len(line) > max_size
        if line or over:
            lines.append((line, over, len(line)))
        s = e + 1
    return lines


def check_lines(chunks, validate, max_size, records, rejects, where):
    ri = ji = 0
    for i, (line, over, size) in enumerate(split_lines(chunks, max_size)):
        w = f"{where} line {i}"
        if over:
            assert ji < len(rejects), f"{w}: oversized line not rejected"
            kept, rsize, why = rejects[ji]
            assert why == SIZE_REASON and rsize == size, f"{w}: reject {why!r} size {rsize} != {size}"
            assert kept and line.startswith(kept) and len(kept) <= KEEP, f"{w}: bad kept part"
            ji += 1
            continue
        exp = expect_frame(line, validate, 0, None, None)
        if exp[0] == "record":
            assert ri < len(records), f"{w}: line not accepted: {line[:200]!r}"
            check_record(records[ri], exp, None, None, w)
            ri += 1
        else:
            assert ji < len(rejects), f"{w}: line should be rejected: {line[:200]!r}"
            check_reject(rejects[ji], line, exp, w)
            ji += 1
    assert ri == len(records) and ji == len(rejects), \
        f"{where}: {len(records) - ri} records, {len(rejects) - ji} rejects more than lines"


def check_decode_one(frame: bytes, exp):
    try:
        value = _decoder.decode(frame)
    except DecodingError:
        assert exp[0] == "reject" or nesting(exp[2].loads()) > 200, \
            f"JSONDecoder.decode refused {frame[:200]!r}"
        return
    assert exp[0] == "record", f"JSONDecoder.decode took {frame[:200]!r}"
    with recursion_room():
        same = value == exp[2].loads()
    assert same, f"JSONDecoder.decode({frame[:200]!r}) gave {value!r:.200}"


def check_encode_bytes(frame: bytes, exp):
    try:
        out = _encoders[0].encode(frame)
    except ValueError:
        assert exp[0] == "reject", f"JSONEncoder.encode refused bytes {frame[:200]!r}"
        return
    assert exp[0] == "record" and out == exp[1], f"JSONEncoder.encode({frame[:200]!r}) gave {out[:200]!r}"


# ---------------------------------------------------------------------------------------------

def _check_add(frames, max_size, key) -> None:
    """Source.add, validating (no topic: add has none) and not; the batch's views and codecs."""
    for validate in (True, False):
        batch = drive_add(frames, validate, max_size, key)
        expects = [expect_frame(f, validate, max_size, key, None) for f in frames]
        records = batch.messages()
        check_sequence(frames, expects, records, batch.rejects(), key, [None] * len(frames),
                       f"Source(validate={validate}).add")
        if validate:
            check_batch(batch, records, "Source.add batch")
            for f in frames[:20]:
                exp = expect_frame(f, True, 0, None, None)
                check_decode_one(f, exp)
                check_encode_bytes(f, exp)


def _check_zmq(messages, max_size, key) -> None:
    """ZeroMQ multipart messages (topics) through a ZmqSource."""
    msgs, n = [], 0
    for m in messages:
        if n >= MAX_FRAMES:
            break
        msgs.append(m)
        n += len(m)
    frames, topics, records, rejects, batches = drive_zmq(msgs, max_size, key)
    expects = [expect_frame(f, True, max_size, key, t) for f, t in zip(frames, topics)]
    check_sequence(frames, expects, records, rejects, key, topics, "ZmqSource")
    for batch, recs in batches:
        check_batch(batch, recs, "ZmqSource batch")


def _check_lines(chunks, max_size) -> None:
    """Lines from a pipe, written (and so read) a chunk at a time."""
    if sum(map(len, chunks)) > 1 << 20:
        return
    for validate in (True, False):
        records, rejects, batches = drive_lines(chunks, validate, max_size)
        check_lines(chunks, validate, max_size, records, rejects, f"LineSource(validate={validate})")
        if validate:
            for batch, recs in batches:
                check_batch(batch, recs, "LineSource batch")


def check(data: bytes) -> None:
    """The harness: every invariant above, for one input (the format in this module's doc)."""
    if not data:
        return
    max_size, key, mode, payload, messages = parse(data)
    _check_add([f for m in messages for f in m][:MAX_FRAMES], max_size, key)
    _check_zmq(messages, max_size, key)
    parts = [p for m in payload.split(MSG_SEP) for p in m.split(FRAME_SEP)]
    _check_lines(boundaries(parts, mode), max_size)


def check_document(doc: bytes) -> None:
    """One document (a file of the json_frame corpus, whole) through the core as Python drives
    it: Source.add validating and not, decode and encode, and as the message of a two-frame
    ZeroMQ message with topic "t" (topic_field "topic")."""
    _check_add([doc], 0, "topic")
    _check_zmq([[b"t", doc]], 0, "topic")


def main() -> None:
    import atheris

    # Coverage feedback from Python: the codecs and the harness's model (not its byte loops).
    # The Cython core gives none unless it was built with -fsanitize=fuzzer-no-link (run.sh does).
    import message_passing.codecs.json as codec
    import message_passing.errors as errs

    for f in (codec.JSONDecoder.decode, codec.JSONDecoder.decode_batch, codec.JSONEncoder.encode,
              codec.JSONEncoder._already_json, codec.JSONEncoder.encode_batch, errs.as_text, errs.exc_text):
        atheris.instrument_func(f)
    for name, f in list(globals().items()):
        if callable(f) and getattr(f, "__module__", None) == __name__ and hasattr(f, "__code__") \
                and name not in ("main", "scan", "nesting", "no_inf", "_has_surrogate", "recursion_room"):
            atheris.instrument_func(f)
    argv = list(sys.argv)
    if os.environ.get("MP_FUZZ_ARGV0"):
        # libFuzzer runs argv[0] again for -merge: an executable (run.sh's wrapper), not this file
        argv[0] = os.environ["MP_FUZZ_ARGV0"]
    atheris.Setup(argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
