"""The fault scenarios of shared/cases (C1-C12), each from a real bug report against a tool of our
kind, and the rest of issue 3: real processes, real sockets on 127.0.0.1, real signals, bounded
waits. (C4 multipart: test_native.py; C5, C6: test_stdin_json.py; C10b garbage on the port:
test_zeromq.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import zmq

from conftest import (
    counter,
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


def port_of(ep: str) -> int:
    return int(ep.rsplit(":", 1)[1])


def aggregator(procs, out: Path, *extra: str, **input_options) -> subprocess.Popen:
    with open(out.with_suffix(".err"), "ab") as err:
        p = mp("--input", "ZeroMQ", "--input_options", opts(**input_options), "--output", "File",
               "--output_options", opts(filename=str(out)), *extra, stderr=err)
    procs.append(p)
    if "socket_bind" in input_options:
        assert wait_listening(port_of(input_options["socket_bind"])), "the aggregator did not bind"
    return p


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# C1 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("recv_type, send_type", [("SUB", "PUB"), ("PULL", "PUSH")])
def test_c1_slow_joiner_a_hundred_one_line_senders_all_arrive(procs, tmp_path, recv_type, send_type):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type=recv_type)

    def send(k: int) -> int:
        r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep, socket_type=send_type),
                   input=b'{"n":%d}\n' % k)
        return r.returncode

    for first in range(0, 100, 4):  # four at a time: a hundred separate processes, in bounded time
        results = []
        threads = [threading.Thread(target=lambda k=k: results.append(send(k))) for k in range(first, first + 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == [0, 0, 0, 0]
    assert wait_for(lambda: len(lines(out)) >= 100, timeout=20)
    stop(agg)
    assert sorted(r["n"] for r in records(out)) == list(range(100))


# C2 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("send_type", ["PUB", "PUSH"])
def test_c2a_no_receiver_exits_within_linger_and_says_what_it_dropped(send_type):
    began = time.monotonic()
    r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=endpoint(), socket_type=send_type),
               input=b'{"one":1}\n')
    took = time.monotonic() - began
    assert r.returncode == 0
    assert took < 3.0 + 1.0, took  # the default linger, plus a second
    lost = counter(r.stderr, "output ZeroMQ", "dropped" if send_type == "PUB" else "undelivered")
    assert lost == 1, summary(r.stderr)


def test_c2b_slow_receiver_gets_all_ten_thousand(procs, tmp_path):
    # a receiver that reads slowly (a Python filter that takes its time): the sender, with its
    # defaults, reaches EOF long before, and still delivers everything within its linger
    ep, out = endpoint(), tmp_path / "out.log"
    (tmp_path / "slow.py").write_text("import time\nclass Slow:\n    def filter(self, m):\n"
                                      "        time.sleep(0.0001)\n        return m\n")
    with open(tmp_path / "agg.err", "wb") as err:
        agg = mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type="PULL"),
                 "--filter", "+slow.Slow", "--output", "File", "--output_options", opts(filename=str(out)),
                 env={"PYTHONPATH": str(tmp_path)}, stderr=err)
    procs.append(agg)
    assert wait_listening(port_of(ep))
    data = b"".join(b'{"n":%d}\n' % i for i in range(10000))
    r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep, socket_type="PUSH"),
               input=data)
    assert r.returncode == 0 and counter(r.stderr, "output ZeroMQ", "dropped") == 0, r.stderr
    assert wait_for(lambda: len(lines(out)) >= 10000, timeout=30)
    stop(agg)
    assert [x["n"] for x in records(out)] == list(range(10000))


# C3 is test_zeromq.py::test_sender_with_no_peer_never_blocks_and_counts_its_drops

# C7 ----------------------------------------------------------------------------------------------

def test_c7_idle_input_uses_almost_no_cpu_and_stops_at_once(procs, tmp_path):
    ep = endpoint()
    agg = aggregator(procs, tmp_path / "out.log", socket_bind=ep)
    time.sleep(1.0)  # past start-up
    before = cpu_seconds(agg.pid)
    time.sleep(10.0)
    used = cpu_seconds(agg.pid) - before
    assert used < 0.1, f"{used:.3f} s of CPU in 10 s idle"
    began = time.monotonic()
    code, _, _ = stop(agg, timeout=5)
    assert code == 0 and time.monotonic() - began < 1.0


# C8 ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("send_type, recv_type", [("PUB", "SUB"), ("PUSH", "PULL")])
def test_c8_receiver_restart(procs, tmp_path, send_type, recv_type):
    """A sender emits every 10 ms; the receiver is killed for 2 s and restarted on the same port:
    the sender never blocks, delivery resumes, and what is lost is confined to the outage."""
    ep = endpoint()
    outs = [tmp_path / "before.log", tmp_path / "after.log"]
    agg = aggregator(procs, outs[0], socket_bind=ep, socket_type=recv_type)
    sender = mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep, socket_type=send_type),
                stdin=subprocess.PIPE)
    procs.append(sender)
    sent = 0
    times: dict[int, float] = {}

    def emit_for(seconds: float) -> None:
        nonlocal sent
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sender.stdin.write(b'{"n":%d}\n' % sent)
            sender.stdin.flush()  # a blocked sender would block us here
            times[sent] = time.monotonic()
            sent += 1
            time.sleep(0.01)

    emit_for(1.5)
    killed_at = time.monotonic()
    agg.kill()  # a crash: nothing flushed, nothing said
    agg.wait()
    emit_for(2.0)
    agg = aggregator(procs, outs[1], socket_bind=ep, socket_type=recv_type)
    restarted_at = time.monotonic()
    emit_for(2.0)
    sender.stdin.close()
    assert sender.wait(timeout=15) == 0
    assert wait_for(lambda: any(r["n"] == sent - 1 for r in records(outs[1])), timeout=10)
    stop(agg)
    got = {r["n"] for out in outs for r in records(out)}
    missing = sorted(set(range(sent)) - got)
    # every loss was sent during the outage (give the kill and the reconnection some slack)
    for n in missing:
        assert killed_at - 0.5 <= times[n] <= restarted_at + 1.0, (n, missing)
    assert all(n in got for n in range(sent) if times[n] > restarted_at + 1.0)
    # and the sender's counters account for what it could not send
    err = sender.stderr.read()
    assert counter(err, "input STDIN", "received") == sent


# C9 ----------------------------------------------------------------------------------------------

def test_c9_log_rotation(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL")

    def send(start: int) -> None:
        data = b"".join(b'{"n":%d}\n' % i for i in range(start, start + 10))
        assert run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options",
                      opts(connect=ep, socket_type="PUSH"), input=data).returncode == 0

    send(0)
    assert wait_for(lambda: len(lines(out)) == 10)
    os.rename(out, tmp_path / "out.log.1")
    agg.send_signal(signal.SIGHUP)
    send(10)
    assert wait_for(lambda: len(lines(out)) == 10)
    out.unlink()  # removed without a word: recreated, never lost
    send(20)
    assert wait_for(lambda: len(lines(out)) == 10)
    assert stop(agg)[0] == 0
    assert [r["n"] for r in records(tmp_path / "out.log.1")] == list(range(10))
    assert [r["n"] for r in records(out)] == list(range(20, 30))


# C10 ---------------------------------------------------------------------------------------------

def test_c10a_a_10mb_line_through_stdin_zeromq_and_file(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL")
    big = b'{"x":"' + b"y" * (10 << 20) + b'"}'
    r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep, socket_type="PUSH"),
               input=big + b"\n" + b'{"after":1}\n', timeout=60)
    assert r.returncode == 0
    assert wait_for(lambda: len(lines(out)) == 2, timeout=30)
    stop(agg)
    assert lines(out) == [big, b'{"after":1}']


def test_c10a_a_configured_maximum_refuses_with_the_size(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL", max_message_size=1 << 20)
    big = b'{"x":"' + b"y" * (3 << 19) + b'"}'  # 1.5 MB: over the maximum, under twice it
    r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep, socket_type="PUSH"),
               input=big + b"\n" + b'{"after":1}\n', timeout=60)
    assert r.returncode == 0
    assert wait_for(lambda: lines(out) == [b'{"after":1}'], timeout=30)
    stop(agg)
    (e,) = [json.loads(x) for x in lines(out.with_suffix(".err")) if x.startswith(b"{")]
    assert e["size"] == len(big) and "max_message_size" in e["exception"]
    assert len(e["packed_data"]) <= 4096


def test_c10a_over_twice_the_maximum_libzmq_refuses_and_the_input_goes_on(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL", max_message_size=1 << 16)
    ctx = zmq.Context()
    try:
        rogue = ctx.socket(zmq.PUSH)
        rogue.connect(ep)
        rogue.send(b"[" + b"0," * (1 << 20) + b"0]")  # 2 MB: libzmq closes this connection
        time.sleep(0.5)
        rogue.close(linger=0)
    finally:
        ctx.term()
    r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep, socket_type="PUSH"),
               input=b'{"after":1}\n')
    assert r.returncode == 0
    assert wait_for(lambda: lines(out) == [b'{"after":1}'], timeout=20)
    assert rss_kb(agg.pid) < 200_000
    assert stop(agg)[0] == 0


# C11 ---------------------------------------------------------------------------------------------

def test_c11_slow_consumer_memory_levels_off_and_drops_are_counted(procs, tmp_path):
    """A producer floods 1 KB messages; the receiver's Python filter sleeps 1 ms a message, with
    socket_hwm 1000: its memory levels off, and the producer counts what it dropped."""
    ep, out = endpoint(), tmp_path / "out.log"
    (tmp_path / "sleepy.py").write_text("import time\nclass Sleepy:\n    def filter(self, m):\n"
                                        "        time.sleep(0.001)\n        return m\n")
    with open(tmp_path / "agg.err", "wb") as err:
        agg = mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_hwm=1000),
                 "--filter", "+sleepy.Sleepy", "--output", "File", "--output_options", opts(filename=str(out)),
                 env={"PYTHONPATH": str(tmp_path)}, stderr=err)
    procs.append(agg)
    assert wait_listening(port_of(ep))
    line = b'{"pad":"' + b"p" * 1000 + b'","n":%d}\n'
    producer = mp("--input", "STDIN", "--output", "ZeroMQ",
                  "--output_options", opts(connect=ep, socket_hwm=1000, linger=0), stdin=subprocess.PIPE)
    procs.append(producer)
    samples = []
    began = time.monotonic()

    def feed() -> None:
        try:
            for start in range(0, 1_000_000, 10000):
                producer.stdin.write(b"".join(line % i for i in range(start, start + 10000)))
            producer.stdin.close()
        except BrokenPipeError:
            pass

    feeder = threading.Thread(target=feed)
    feeder.start()
    while time.monotonic() - began < 12:
        samples.append(rss_kb(agg.pid))
        time.sleep(0.5)
    feeder.join(60)
    assert producer.wait(timeout=60) == 0
    err = producer.stderr.read()
    assert counter(err, "output ZeroMQ", "dropped") > 900_000, summary(err)  # counted, not silent
    stop(agg)
    first, last = max(samples[: len(samples) // 2]), max(samples[len(samples) // 2:])
    assert last < first * 1.1 + 5_000, samples  # levels off: no growth beyond noise
    assert last < 150_000, samples


# C12: the logging handler's abuse cases are in test_logging.py, with the rest of the handler.


# 7: the error chain itself ------------------------------------------------------------------------

def test_an_unwritable_error_output_is_said_once_and_counted():
    data = b"".join(b"not json %d\n{\"ok\":%d}\n" % (i, i) for i in range(1000))
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--error", "File",
               "--error_options", '{"filename":"/dev/full"}', input=data)
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 1000  # the pipeline went on
    said = [x for x in r.stderr.decode().splitlines() if "error chain cannot write" in x]
    assert len(said) == 1 and "/dev/full: No space left on device" in said[0]
    assert "error chain lost=1000" in summary(r.stderr)


# 4: counters while running -------------------------------------------------------------------------

def test_sigusr1_prints_the_counters_while_running(procs, tmp_path):
    ep, out = endpoint(), tmp_path / "out.log"
    agg = aggregator(procs, out, socket_bind=ep, socket_type="PULL")
    data = b"".join(b'{"n":%d}\n' % i for i in range(500)) + b"bad\n"
    assert run_mp("--input", "STDIN", "--decoder", "Null", "--encoder", "Null", "--output", "ZeroMQ",
                  "--output_options", opts(connect=ep, socket_type="PUSH"), input=data).returncode == 0
    assert wait_for(lambda: len(lines(out)) == 500)
    agg.send_signal(signal.SIGUSR1)
    err = out.with_suffix(".err")
    assert wait_for(lambda: b"message-passing: input ZeroMQ received=501 rejected=1; output File sent=500 "
                    in err.read_bytes())
    assert agg.poll() is None  # still running
    stop(agg)
