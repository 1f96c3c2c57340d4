"""The native core: what it frames, that its loop runs without the GIL, and that no Python code
runs per message on the native path."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
import zmq

from conftest import endpoint, lines, mp, opts, records, stop, wait_for, wait_listening
from message_passing import _core
from message_passing.chain import build
from message_passing.signals import Signals
from message_passing.zmqsocket import context


def config(**parts) -> dict:
    base = {"input": "ZeroMQ", "output": "Null", "filter": "Null", "decoder": "JSON", "encoder": "JSON",
            "error": "STDERR", "error_encoder": "JSON"}
    base.update(parts)
    for k in ("input", "output", "filter", "decoder", "encoder", "error", "error_encoder"):
        base.setdefault(k + "_options", {})
    return base


def quiet_signals() -> Signals:
    """Signals without handlers: a test stops the chain by writing to its wake-up pipe."""
    signals = Signals()
    _core.set_wake_fd(signals.wake_fd)
    return signals


def run_counting_python_calls(chain, feed) -> int:
    """Runs `chain` in this thread, with `feed(stop)` in another, and counts the Python function
    calls made in this thread meanwhile."""
    signals = quiet_signals()
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    def stop_chain():
        os.write(signals._write_fd, bytes([signal.SIGTERM]))

    feeder = threading.Thread(target=feed, args=(stop_chain,), daemon=True)
    chain.open()
    try:
        feeder.start()
        sys.setprofile(profile)
        try:
            chain.run(signals)
        finally:
            sys.setprofile(None)
    finally:
        chain.close()
    feeder.join(timeout=30)
    return calls


def push_and_wait(ep: str, n: int, done):
    def feed(stop_chain):
        sock = context().socket(zmq.PUSH)
        sock.connect(ep)
        try:
            for i in range(n):
                sock.send(b'{"n":%d,"pad":"%s"}' % (i, b"x" * 100))
            wait_for(done, timeout=30)
        finally:
            sock.close(linger=1000)
            stop_chain()

    return feed


@pytest.mark.parametrize("output", ["File", "STDOUT", "ZeroMQ"])
def test_no_python_code_runs_per_message_on_the_native_path(tmp_path, output):
    n, ep = 20000, endpoint()
    out = tmp_path / "out.log"
    if output == "File":
        output_options, done = {"filename": str(out)}, lambda: len(lines(out)) >= n
    elif output == "STDOUT":
        output_options, done = {}, lambda: chain.output.sink.sent >= n
    else:
        sink_ep = endpoint()
        output_options = {"socket_bind": sink_ep, "socket_type": "PUSH"}  # no peer: counted drops

        def done():
            return chain.output.sink.sent + chain.output.sink.dropped >= n
    chain = build(config(input_options={"socket_bind": ep, "socket_type": "PULL"}, output=output,
                         output_options=output_options))
    assert chain.mode == "native"
    if output == "STDOUT":  # keep the test's own stdout clean: point fd 1 at a file meanwhile
        saved = os.dup(1)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT)
        os.dup2(fd, 1)
    try:
        calls = run_counting_python_calls(chain, push_and_wait(ep, n, done))
    finally:
        if output == "STDOUT":
            os.dup2(saved, 1)
            os.close(saved)
            os.close(fd)
    assert chain.input.source.received == n
    assert calls < 100, calls  # a handful for stopping, none per message
    if output != "ZeroMQ":
        assert len(lines(out)) == n


def test_a_python_filter_is_seen_by_the_same_count(tmp_path):
    # the counting above would see per-message Python: here it must
    n, ep = 5000, endpoint()
    out = tmp_path / "out.log"
    chain = build(config(input_options={"socket_bind": ep, "socket_type": "PULL"}, filter="Key",
                         filter_options={"key": "n", "match": ".", "match_type": "regex"},
                         output="File", output_options={"filename": str(out)}))
    assert chain.mode == "batches"
    calls = run_counting_python_calls(chain, push_and_wait(ep, n, lambda: len(lines(out)) >= n))
    assert calls >= n


def test_counters_are_readable_while_the_loop_runs_without_the_gil(tmp_path):
    ep = endpoint()
    chain = build(config(input_options={"socket_bind": ep, "socket_type": "PULL"}))
    signals = quiet_signals()
    chain.open()
    runner = threading.Thread(target=chain.run, args=(signals,), daemon=True)
    runner.start()
    seen = []
    sock = context().socket(zmq.PUSH)
    sock.connect(ep)
    try:
        for i in range(5):
            for _ in range(1000):
                sock.send(b'{"x":1}')
            # this thread runs Python while the loop waits and works: the loop holds no GIL
            wait_for(lambda: chain.input.source.received >= (i + 1) * 1000)
            seen.append(chain.input.source.received)
        assert seen == [1000, 2000, 3000, 4000, 5000]
        assert chain.output.sink.sent == 5000
    finally:
        sock.close(linger=0)
        os.write(signals._write_fd, bytes([signal.SIGTERM]))
        runner.join(timeout=10)
        chain.close()
    assert not runner.is_alive()


MULTIPART = [
    [b'{"a":1}'],
    [b"INFO.app", b'{"a":2}'],
    [b"", b'{"a":3}'],
    [b"topic", b'{"a":4}'],
    [b"t", b'{"a":5}', b'[6]', b'{"topic":"own","a":7}'],  # one record: the last frame, topic kept
    [b"t", b"envelope", b'{"a":6}'],
    [b"t2", b"not json"],
    [b"t3", b"[7]"],  # an array takes no topic
    [b'{"a":8}'],
]
EXPECTED = [{"a": 1}, {"topic": "INFO.app", "a": 2}, {"a": 3}, {"topic": "topic", "a": 4},
            {"topic": "own", "a": 7}, {"topic": "t", "a": 6}, [7], {"a": 8}]


@pytest.mark.parametrize("recv_type, send_type", [("SUB", zmq.PUB), ("PULL", zmq.PUSH)])
def test_multipart_messages(procs, tmp_path, recv_type, send_type):
    ep, out, err = endpoint(), tmp_path / "out.log", tmp_path / "err.log"
    with open(err, "wb") as errf:
        agg = mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type=recv_type),
                 "--output", "File", "--output_options", opts(filename=str(out)), stderr=errf)
    procs.append(agg)
    assert wait_listening(int(ep.rsplit(":", 1)[1]))
    ctx = zmq.Context()
    sock = ctx.socket(send_type)
    sock.connect(ep)
    try:
        time.sleep(0.5)  # the subscription arrives
        for frames in MULTIPART:
            sock.send_multipart(frames)
        assert wait_for(lambda: len(lines(out)) >= len(EXPECTED))
    finally:
        sock.close(linger=0)
        ctx.term()
    status, _, _ = stop(agg)
    assert records(out) == EXPECTED
    import json

    (e,) = [json.loads(x) for x in lines(err) if x.startswith(b"{")]
    assert e["packed_data"] == "not json"
    # one record for each ZeroMQ message; the frames between topic and payload are counted
    exit_line = lines(err)[-1].decode()
    assert "received=9 rejected=1 ignored_frames=3" in exit_line, exit_line


def test_topic_field_option(procs, tmp_path):
    src = _core.ZmqSource  # the option reaches the core: renamed, or "" to leave messages alone
    ctx = zmq.Context()
    try:
        for field, expected in (("route", b'{"route":"T","a":1}'), ("", b'{"a":1}')):
            pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
            port = pull.bind_to_random_port("tcp://127.0.0.1")
            push.connect(f"tcp://127.0.0.1:{port}")
            push.send_multipart([b"T", b'{"a":1}'])
            batch = _core.Batch()
            s = src(pull, topic_field=field)
            assert wait_for(lambda: s.fill(batch, 100) == _core.OK and len(batch))
            assert batch.messages() == [expected]
            pull.close(0)
            push.close(0)
    finally:
        ctx.term()


def test_pub_counts_drops_at_the_hwm_and_never_blocks():
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, 10)
    port = sub.bind_to_random_port("tcp://127.0.0.1")
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.XPUB_NODROP, 1)
    pub.setsockopt(zmq.SNDHWM, 10)
    pub.connect(f"tcp://127.0.0.1:{port}")
    try:
        sink = _core.ZmqSink(pub, xpub=True, first_wait_ms=5000)
        stop_polling = threading.Event()
        poller = threading.Thread(target=lambda: [sub.poll(10) for _ in iter(stop_polling.is_set, True)])
        poller.start()  # a bound socket handles its new peer when polled (libzmq)
        t = time.monotonic()
        assert sink.write_list([b"{}"]) == _core.WRITTEN  # waits for the subscriber, then sends
        stop_polling.set()
        poller.join()
        assert sink.subscribers == 1 and sink.sent == 1
        for _ in range(10):
            sink.write_list([b"{}"] * 10000)  # the SUB never reads: its queue fills
        assert time.monotonic() - t < 5
        assert sink.sent + sink.dropped == 100001 and sink.dropped > 90000
    finally:
        sub.close(0)
        pub.close(0)
        ctx.term()


def test_output_is_minified_whatever_whitespace_the_input_has():
    # the core skips minifying input it can prove compact: whitespace next to , : { } [ ] or at the
    # ends, in every position of 16-byte blocks, must still be removed; whitespace in strings kept
    import json
    import random

    rnd = random.Random(7)

    def value(depth=0):
        kind = rnd.randrange(6 if depth < 3 else 3)
        if kind == 0:
            return rnd.randrange(-10**6, 10**6)
        if kind == 1:
            return rnd.choice(["", " ", "a b", "x, y", "k: v", "{[ ]}", "tab\there", "é ☃", " lead", "trail "])
        if kind == 2:
            return rnd.choice([True, False, None])
        if kind == 3:
            return [value(depth + 1) for _ in range(rnd.randrange(4))]
        return {f"k{i} {rnd.randrange(9)}": value(depth + 1) for i in range(rnd.randrange(4))}

    source = _core.Source(validate=True)
    batch = _core.Batch()
    expected = []
    for _ in range(3000):
        doc = rnd.choice([[value()], {"v": value()}, value()])
        if not isinstance(doc, (list, dict)):
            doc = [doc]
        compact = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        ws = lambda: "".join(rnd.choice(" \t\r\n") for _ in range(rnd.randrange(3)))  # noqa: E731
        spaced = json.dumps(doc, ensure_ascii=False, indent=rnd.choice([None, 0, 1, 2]),
                            separators=(ws() + "," + ws(), ws() + ":" + ws()))
        source.add(batch, (ws() + spaced + ws()).encode())
        expected.append(compact.encode())
    assert batch.rejects() == []
    assert batch.messages() == expected
