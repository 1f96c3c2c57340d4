"""ZeroMQ inputs and outputs through the real CLI: real processes, real sockets on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import zmq

from conftest import (
    endpoint,
    lines,
    mp,
    opts,
    records,
    run_mp,
    stop,
    summary,
    wait_for,
    wait_listening,
)

EXAMPLES = Path(__file__).parent.parent / "examples"


def port_of(ep: str) -> int:
    return int(ep.rsplit(":", 1)[1])


def aggregator(procs, out: Path, **input_options) -> subprocess.Popen:
    # its error chain goes to a file: a pipe nobody reads would fill and stall it
    err = open(out.with_suffix(".err"), "wb")
    p = mp("--input", "ZeroMQ", "--input_options", opts(**input_options), "--output", "File",
           "--output_options", opts(filename=str(out)), stderr=err)
    err.close()
    procs.append(p)
    if "socket_bind" in input_options:
        assert wait_listening(port_of(input_options["socket_bind"])), "aggregator did not bind"
    return p


def send_lines(data: bytes, timeout: float = 30, **output_options) -> subprocess.CompletedProcess:
    return run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(**output_options),
                  input=data, timeout=timeout)


def numbered(n: int, start: int = 0) -> bytes:
    return b"".join(b'{"n":%d}\n' % i for i in range(start, start + n))


@pytest.mark.parametrize("recv_type, send_type", [("SUB", "PUB"), ("PULL", "PUSH")])
def test_stdin_sender_to_aggregator_file(procs, tmp_path, recv_type, send_type):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type=recv_type)
    r = send_lines(numbered(1000), connect=ep, socket_type=send_type)
    assert r.returncode == 0, r.stderr
    assert "output ZeroMQ sent=1000 dropped=0 failed=0;" in summary(r.stderr)  # nothing lost
    assert wait_for(lambda: len(lines(out)) >= 1000)
    code, _, err = stop(agg)
    assert code == 0, err
    assert records(out) == [{"n": i} for i in range(1000)]


@pytest.mark.parametrize("recv_type, send_type", [("SUB", "PUB"), ("PULL", "PUSH")])
def test_output_binds_and_input_connects(procs, tmp_path, recv_type, send_type):
    # the sender binds; its first message waits for the subscriber (PUB) or queues (PUSH)
    ep, out = endpoint(), tmp_path / "out.log"
    sender = mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options",
                opts(socket_bind=ep, socket_type=send_type), stdin=subprocess.PIPE)
    procs.append(sender)
    assert wait_listening(port_of(ep))
    agg = aggregator(procs, out, connect=ep, socket_type=recv_type)
    time.sleep(0.3)  # the aggregator connects and subscribes
    sender.stdin.write(numbered(5))
    sender.stdin.close()
    assert sender.wait(timeout=30) == 0
    assert wait_for(lambda: len(lines(out)) >= 5)
    stop(agg)
    assert records(out) == [{"n": i} for i in range(5)]


def test_subscribe_list_is_a_prefix_match_on_the_frame(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, subscribe=['{"level":"error"', '{"level":"warn'])
    data = b'{"level":"error","n":1}\n{"n":2,"level":"error"}\n{"level":"info","n":3}\n{"level":"warning","n":4}\n'
    assert send_lines(data, connect=ep).returncode == 0
    assert wait_for(lambda: len(lines(out)) >= 2)
    time.sleep(0.3)
    stop(agg)
    assert [r["n"] for r in records(out)] == [1, 4]


def test_first_messages_of_a_sender_that_connects_and_sends_at_once_arrive(procs, tmp_path):
    # the original lost these (the slow joiner): 20 separate one-line senders, PUB and PUSH
    for recv_type, send_type in (("SUB", "PUB"), ("PULL", "PUSH")):
        ep, out = endpoint(), tmp_path / f"{send_type}.log"
        agg = aggregator(procs, out, socket_bind=ep, socket_type=recv_type)
        for k in range(20):
            r = send_lines(b'{"k":%d}\n' % k, connect=ep, socket_type=send_type)
            assert r.returncode == 0, r.stderr
        assert wait_for(lambda: len(lines(out)) >= 20)
        stop(agg)
        assert sorted(r["k"] for r in records(out)) == list(range(20)), send_type


@pytest.mark.parametrize("send_type", ["PUSH", "PUB"])
def test_sender_with_no_peer_never_blocks_and_counts_its_drops(send_type):
    ep = endpoint()  # nobody listens
    started = time.monotonic()
    r = send_lines(numbered(50000), connect=ep, socket_type=send_type, socket_hwm=1000, linger=500)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr
    assert took < 10, took  # never blocked (the original's PUSH blocked here for ever)
    summary = r.stderr.decode()
    assert "output ZeroMQ" in summary
    dropped = int(summary.split("dropped=")[1].split()[0])
    if send_type == "PUSH":  # the connecting pipe queues one HWM, the rest is dropped
        assert 48000 <= dropped <= 49000, summary
    else:  # no subscriber at all: all dropped, after waiting subscribe_delay once
        assert dropped == 50000, summary


def test_sender_at_eof_exits_within_its_linger_when_nobody_listens():
    started = time.monotonic()
    r = send_lines(b'{"one":1}\n', connect=endpoint(), socket_type="PUSH", linger=1000)
    took = time.monotonic() - started
    assert r.returncode == 0
    assert took < 1000 / 1000 + 1.5, took


def test_sender_at_eof_delivers_what_it_queued_to_a_slow_peer(tmp_path):
    # a receiver that only starts reading after the sender reached EOF: everything still arrives
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 100)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    sender = mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options",
                opts(connect=f"tcp://127.0.0.1:{port}", socket_type="PUSH", socket_hwm=20000, linger=10000),
                stdin=subprocess.PIPE)
    try:
        sender.stdin.write(numbered(10000))
        sender.stdin.close()
        time.sleep(0.5)  # the sender is at EOF, lingering, with most of its messages queued
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 10000 and time.monotonic() < deadline:
            if pull.poll(100):
                got.append(json.loads(pull.recv()))
                time.sleep(0.00002 if len(got) % 100 else 0.002)  # slow
        assert sender.wait(timeout=20) == 0
        assert got == [{"n": i} for i in range(10000)]
    finally:
        sender.kill()
        pull.close(0)
        ctx.term()


def test_push_sender_does_not_block_when_the_receiver_stalls(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL", socket_hwm=100)
    os.kill(agg.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = send_lines(numbered(50000), connect=ep, socket_type="PUSH", socket_hwm=100, linger=0)
        assert r.returncode == 0
        assert time.monotonic() - started < 10
        assert "dropped=" in r.stderr.decode()
    finally:
        os.kill(agg.pid, signal.SIGCONT)
    stop(agg)


def test_distributor_and_workers(procs, tmp_path):
    """The POD's distributor: SUB bind -> PUSH bind, and two PULL workers running a Python filter."""
    front, back = endpoint(), endpoint()
    dist = mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=front),
              "--output", "ZeroMQ", "--output_options", opts(socket_bind=back, socket_type="PUSH"))
    procs.append(dist)
    assert wait_listening(port_of(front)) and wait_listening(port_of(back))
    outs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
    env = {"PYTHONPATH": str(EXAMPLES)}
    workers = []
    for out in outs:
        w = mp("--input", "ZeroMQ", "--input_options", opts(connect=back, socket_type="PULL"),
               "--filter", "+myapp.worker.MessageWorker", "--output", "File",
               "--output_options", opts(filename=str(out)), env=env)
        procs.append(w)
        workers.append(w)
    time.sleep(1.0)  # both workers connected (PUSH sends only to connected peers)
    r = send_lines(numbered(100), connect=front)
    assert r.returncode == 0
    assert wait_for(lambda: sum(len(lines(o)) for o in outs) >= 100)
    time.sleep(0.3)
    for p in (dist, *workers):
        assert stop(p)[0] == 0
    got = [records(o) for o in outs]
    assert sorted(r["n"] for part in got for r in part) == list(range(100))  # each exactly once
    assert all(len(part) >= 30 for part in got), [len(p) for p in got]  # round robin
    for part, w in zip(got, workers):
        assert {r["worker_pid"] for r in part} == {w.pid}


def test_aggregator_survives_garbage_on_its_port(procs, tmp_path):
    import socket

    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep)
    with socket.create_connection(("127.0.0.1", port_of(ep))) as s:
        s.sendall(os.urandom(65536))
    assert send_lines(b'{"after":1}\n', connect=ep).returncode == 0
    assert wait_for(lambda: lines(out) == [b'{"after":1}'])
    assert stop(agg)[0] == 0
    # libzmq reads bytes without a ZMTP greeting as ZMTP 1.0 frames: they come as messages, and
    # are rejected into the error chain, which stays valid JSON
    for line in lines(out.with_suffix(".err"))[:-1]:
        assert json.loads(line)["class"] == "Message::Passing::Exception::Decoding"


def test_sigterm_stops_the_aggregator_with_everything_written(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL")
    # a HWM that holds them all: sending from a file outruns any receiver, and sends never wait
    assert send_lines(numbered(20000), connect=ep, socket_type="PUSH", socket_hwm=20000).returncode == 0
    assert wait_for(lambda: len(lines(out)) >= 20000)
    code, _, err = stop(agg, signal.SIGINT)
    assert code == 0 and b"Traceback" not in err
    assert len(lines(out)) == 20000
