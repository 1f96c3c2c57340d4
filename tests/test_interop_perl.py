"""Interop with the original: the Perl Message::Passing (`/usr/bin/message-pass`, Message::Passing::ZeroMQ,
Log::Dispatch::Message::Passing) talking to ours over real ZeroMQ sockets on 127.0.0.1.

CI installs the original (tests/peer/install.sh) and these tests run there, never skip (`perl_peer`).

The original's own faults are allowed for here, never ours:
* its PUB sender drops what it publishes before the subscription has reached it (it sleeps its
  subscribe_delay, 0.2 s, once): a Perl PUB sender is first fed probe records until one arrives, and
  the real records only then;
* it sends with linger 0 and exits at end of input (it can lose its tail): its senders get `"linger"`;
* its STDIN input can hold read-ahead lines until more input or end of input comes (quirk Q1): probes
  are written until one arrives, never just one.
Our sender gets no help: it must deliver everything and exit 0 on its own.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest
import zmq

from conftest import PEER_DIR, endpoint, free_port, mp, opts, run_mp, stop, wait_for, wait_listening

N = 300
DELIVERY_TIMEOUT = 60  # s: bound of every wait for records to arrive (a noisy 2-core machine)
START_TIMEOUT = 20  # s: bound of every wait for a process to listen / connect


# -- data ---------------------------------------------------------------------------------------

def sample_records(n: int = N, tag: str = "r") -> list[dict]:
    """Varied records: unicode (raw and escaped, astral too), nesting, numbers, escapes, falsy values."""
    levels = ["debug", "info", "warning", "error", "critical"]
    out = []
    for i in range(n):
        r = {"n": i, "tag": tag, "message": f"message {i}", "level": levels[i % len(levels)]}
        kind = i % 6
        if kind == 0:
            r["text"] = "héllo wörld ☃ 日本語 😀 \u00a0 ß"
        elif kind == 1:
            r["nested"] = {"a": [1, 2, {"b": None, "c": [True, False]}], "d": {}, "e": [],
                           "f": {"g": {"h": "deep"}}}
        elif kind == 2:
            r["numbers"] = [0, -1, 42, 2**53, -(2**31), 1.5, -0.25, 0.001, 6.02e23, 1e-7]
        elif kind == 3:
            r["escapes"] = 'quote " backslash \\ slash / tab \t newline \n cr \r nul \u0000 bell \u0007'
        elif kind == 4:
            r.update({"empty": "", "zero": 0, "false": False, "null": None, "zero_str": "0"})
        else:
            r["long"] = "x" * 3000 + "☃"
        out.append(r)
    return out


def as_lines(recs: list[dict]) -> bytes:
    """One JSON text a line, in three styles: spaced with raw UTF-8, ASCII with \\u escapes, compact."""
    out = []
    for i, r in enumerate(recs):
        style = i % 3
        if style == 0:
            out.append(json.dumps(r, ensure_ascii=False))
        elif style == 1:
            out.append(json.dumps(r, ensure_ascii=True))
        else:
            out.append(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


def probe_line(k: int) -> bytes:
    return json.dumps({"probe": k}).encode() + b"\n"


def is_probe(rec) -> bool:
    return isinstance(rec, dict) and "probe" in rec


# -- reading outputs ----------------------------------------------------------------------------

def complete_records(path) -> list:
    """The records of the complete (newline-terminated) lines of a file being written."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    data = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in data.splitlines() if line]


def real_records(path) -> list:
    return [r for r in complete_records(path) if not is_probe(r)]


def wait_records(paths, n: int, timeout: float = DELIVERY_TIMEOUT) -> list:
    """Waits until the files hold `n` real records in all; returns them (all files, in order)."""
    paths = [paths] if isinstance(paths, (str, Path)) else paths
    def all_records():
        return [r for p in paths for r in real_records(p)]

    return wait_for(lambda: (lambda rs: rs if len(rs) >= n else None)(all_records()),
                    timeout=timeout, interval=0.05) or all_records()


def connections_to(port: int) -> int:
    """Established TCP connections to 127.0.0.1:port, counted at the connecting end (from /proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for row in f:
            fields = row.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                n += 1
    return n


def errtext(path) -> str:
    try:
        return Path(path).read_text(errors="replace")[-3000:]
    except FileNotFoundError:
        return ""


# -- processes ----------------------------------------------------------------------------------

def perl(perl_peer: str, *args: str, stdin=subprocess.DEVNULL, log: Path, procs: list) -> subprocess.Popen:
    """Starts the original's `message-pass`; its stdout and stderr go to `log`."""
    f = open(log, "wb")
    p = subprocess.Popen([perl_peer, *args], stdin=stdin, stdout=f, stderr=subprocess.STDOUT)
    f.close()
    procs.append(p)
    return p


def perl_interpreter(perl_peer: str) -> str:
    """The perl that runs `message-pass` (its #! line): the one that has the original's modules."""
    with open(perl_peer, "rb") as f:
        first = f.readline()
    return first[2:].split()[0].decode() if first.startswith(b"#!") else "perl"


def ours(*args: str, log: Path, procs: list, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """Starts our `message-passing`; its stdout and stderr go to `log`."""
    f = open(log, "wb")
    p = mp(*args, stdin=stdin, stdout=f, stderr=subprocess.STDOUT)
    f.close()
    procs.append(p)
    return p


def our_receiver(ep: str, out: Path, tmp_path: Path, procs: list, socket_type: str = "SUB"):
    """Ours: ZeroMQ (bind) -> File `out`; its output goes to tmp_path/recv.log."""
    return ours("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type=socket_type),
                "--output", "File", "--output_options", opts(filename=str(out)),
                log=tmp_path / "recv.log", procs=procs)


def warm_up(sender: subprocess.Popen, arrived, timeout: float = START_TIMEOUT) -> int:
    """Feeds probe lines to a Perl STDIN -> ZeroMQ sender until `arrived()` sees one; returns how many
    were written. Until then the original's PUB socket drops what it sends."""
    deadline = time.monotonic() + timeout
    k = 0
    while time.monotonic() < deadline:
        assert sender.poll() is None, f"the Perl sender exited early ({sender.returncode})"
        sender.stdin.write(probe_line(k))
        sender.stdin.flush()
        k += 1
        if wait_for(arrived, timeout=0.3):
            return k
    raise AssertionError(f"no probe arrived within {timeout}s ({k} written)")


def finish_perl_sender(sender: subprocess.Popen, payload: bytes, log: Path,
                       timeout: float = DELIVERY_TIMEOUT) -> None:
    """Writes the payload, closes the sender's input and waits for it to exit (it lingers first)."""
    try:
        sender.communicate(input=payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        sender.kill()
        sender.wait()
        raise AssertionError(f"the Perl sender did not exit within {timeout}s: {errtext(log)}")
    assert sender.returncode == 0, f"Perl sender exit {sender.returncode}: {errtext(log)}"


def stop_ours(proc: subprocess.Popen, log: Path) -> None:
    """Stops ours (SIGTERM): it exits 0, with its counters and nothing else on stderr (no error
    records), and nothing dropped or failed."""
    rc, _, _ = stop(proc)
    text = errtext(log)
    assert rc == 0, f"ours exited {rc} on SIGTERM: {text}"
    lines_ = text.splitlines()
    assert len(lines_) == 1 and lines_[0].startswith("message-passing: input "), f"ours reported: {text}"
    assert " dropped=0 " in lines_[0] and " failed=0" in lines_[0] and "undelivered" not in lines_[0], text


# == 1. the Perl `message-pass` sender -> our aggregator ========================================

def test_perl_pub_sender_to_our_sub_aggregator(perl_peer, procs, tmp_path):
    """`message-pass --input STDIN --output ZeroMQ` (PUB, connect) -> ours `--input ZeroMQ` (SUB, bind)
    -> File: every record arrives once, in order, equal as JSON."""
    port = free_port()
    ep, out = endpoint(port), tmp_path / "agg.jsonl"
    agg = our_receiver(ep, out, tmp_path, procs)
    assert wait_listening(port, START_TIMEOUT), f"ours does not listen: {errtext(tmp_path / 'recv.log')}"

    sent = sample_records()
    sender = perl(perl_peer, "--input", "STDIN", "--output", "ZeroMQ",
                  "--output_options", opts(connect=ep, linger=10000),
                  stdin=subprocess.PIPE, log=tmp_path / "perl_sender.log", procs=procs)
    warm_up(sender, lambda: any(is_probe(r) for r in complete_records(out)))
    finish_perl_sender(sender, as_lines(sent), tmp_path / "perl_sender.log")

    got = wait_records(out, len(sent))
    assert len(got) == len(sent), f"{len(got)} of {len(sent)} arrived"
    assert got == sent  # in order, equal as JSON (the original re-encodes with random key order)
    everything = complete_records(out)
    assert all(is_probe(r) for r in everything[: len(everything) - len(sent)])  # probes only before
    stop_ours(agg, tmp_path / "recv.log")
    assert len(real_records(out)) == len(sent)  # nothing more came


def test_perl_push_sender_to_our_pull_aggregator(perl_peer, procs, tmp_path):
    """The same over PUSH (connect) -> PULL (bind): nothing is dropped, so no probes are needed; the
    original only needs a linger not to lose its tail at end of input."""
    port = free_port()
    ep, out = endpoint(port), tmp_path / "agg.jsonl"
    agg = our_receiver(ep, out, tmp_path, procs, socket_type="PULL")
    assert wait_listening(port, START_TIMEOUT), f"ours does not listen: {errtext(tmp_path / 'recv.log')}"

    sent = sample_records(1000, tag="push")
    sender = perl(perl_peer, "--input", "STDIN", "--output", "ZeroMQ",
                  "--output_options", opts(connect=ep, socket_type="PUSH", linger=10000),
                  stdin=subprocess.PIPE, log=tmp_path / "perl_sender.log", procs=procs)
    finish_perl_sender(sender, as_lines(sent), tmp_path / "perl_sender.log")

    got = wait_records(out, len(sent))
    assert len(got) == len(sent), f"{len(got)} of {len(sent)} arrived"
    assert got == sent
    stop_ours(agg, tmp_path / "recv.log")
    assert complete_records(out) == sent


# == 2. our sender -> the Perl receiver =========================================================

@pytest.mark.parametrize("receiver_type,sender_type", [("SUB", "PUB"), ("PULL", "PUSH")])
def test_our_sender_to_perl_receiver(perl_peer, procs, tmp_path, receiver_type, sender_type):
    """Ours `--input STDIN --output ZeroMQ` (connect) -> `message-pass --input ZeroMQ` (bind) -> File.
    Ours is fed everything then end of input, with no probes: it must wait for the subscriber itself,
    deliver everything, and exit 0 on its own."""
    port = free_port()
    ep, out = endpoint(port), tmp_path / "perl_recv.jsonl"
    receiver = perl(perl_peer, "--input", "ZeroMQ",
                    "--input_options", opts(socket_bind=ep, socket_type=receiver_type),
                    "--output", "File", "--output_options", opts(filename=str(out)),
                    log=tmp_path / "perl_recv.log", procs=procs)
    assert wait_listening(port, START_TIMEOUT), f"no Perl receiver: {errtext(tmp_path / 'perl_recv.log')}"

    sent = sample_records(tag=sender_type)
    t0 = time.monotonic()
    res = run_mp("--input", "STDIN", "--output", "ZeroMQ",
                 "--output_options", opts(connect=ep, socket_type=sender_type),
                 input=as_lines(sent), timeout=DELIVERY_TIMEOUT)
    took = time.monotonic() - t0
    assert res.returncode == 0, f"our sender exited {res.returncode}: {res.stderr!r}"
    assert f"output ZeroMQ sent={len(sent)} dropped=0 failed=0;".encode() in res.stderr, res.stderr  # nothing lost

    got = wait_records(out, len(sent))
    assert len(got) == len(sent), f"{len(got)} of {len(sent)} arrived (our sender took {took:.2f}s)"
    assert got == sent
    assert receiver.poll() is None, f"the Perl receiver died: {errtext(tmp_path / 'perl_recv.log')}"
    assert errtext(tmp_path / "perl_recv.log") == ""  # no decode error in the original


def _frames_from(sock: zmq.Socket, store: list, timeout_ms: int = 0) -> None:
    """Moves every message waiting on `sock` (as its list of frames) into `store`."""
    while sock.poll(timeout_ms, zmq.POLLIN):
        store.append(sock.recv_multipart())
        timeout_ms = 0


def _compact(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def test_wire_format_single_compact_json_frame_like_the_original(perl_peer, procs, tmp_path):
    """What is on the wire: a raw SUB receiver (bound) gets, from our sender and from the original's, one
    frame a message: the compact JSON text in UTF-8, no topic frame, no newline (ours also keeps the key
    order of its input line)."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    try:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.setsockopt(zmq.LINGER, 0)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        ep = endpoint(port)
        sent = sample_records(60, tag="wire")
        payload = as_lines(sent)  # spaced, escaped and compact lines

        # ours. The socket is polled while the sender runs: a SUB socket sends its subscription to a
        # new peer only when its own thread calls into it (libzmq processes the attach there).
        frames: list = []
        sender = mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=ep),
                    stdin=subprocess.PIPE)
        procs.append(sender)
        feeder = threading.Thread(target=lambda: (sender.stdin.write(payload), sender.stdin.close()),
                                  daemon=True)
        feeder.start()  # not from this thread, which must keep polling the socket
        wait_for(lambda: _frames_from(sock, frames, 20) or sender.poll() is not None,
                 timeout=DELIVERY_TIMEOUT)
        feeder.join(timeout=START_TIMEOUT)
        assert sender.poll() is not None, f"our sender did not exit within {DELIVERY_TIMEOUT}s"
        err = sender.stderr.read()
        assert sender.returncode == 0, err
        wait_for(lambda: _frames_from(sock, frames, 50) or len(frames) >= len(sent), timeout=DELIVERY_TIMEOUT)
        assert len(frames) == len(sent), f"{len(frames)} of {len(sent)} messages on the wire; stderr {err!r}"
        for msg, rec in zip(frames, sent):
            assert len(msg) == 1, f"{len(msg)} frames: {msg!r}"
            frame = msg[0]
            assert not frame.endswith(b"\n") and b"\n" not in frame
            assert json.loads(frame) == rec
            assert frame == _compact(rec), frame  # compact, raw UTF-8, input key order kept

        # the original, for parity (its key order is random)
        perl_frames: list = []
        sender = perl(perl_peer, "--input", "STDIN", "--output", "ZeroMQ",
                      "--output_options", opts(connect=ep, linger=10000),
                      stdin=subprocess.PIPE, log=tmp_path / "perl_sender.log", procs=procs)

        def probe_arrived():
            _frames_from(sock, perl_frames)
            return any(b'"probe"' in m[0] for m in perl_frames)

        warm_up(sender, probe_arrived)
        finish_perl_sender(sender, payload, tmp_path / "perl_sender.log")
        wait_for(lambda: _frames_from(sock, perl_frames, 50)
                 or sum(b'"probe"' not in m[0] for m in perl_frames) >= len(sent), timeout=DELIVERY_TIMEOUT)
        perl_real = [m for m in perl_frames if not is_probe(json.loads(m[0]))]
        assert [json.loads(m[0]) for m in perl_real] == sent
        for msg in perl_real:
            assert len(msg) == 1 and b"\n" not in msg[0]
            # compact too: the same length as our compact encoding of the same record
            assert len(msg[0]) == len(_compact(json.loads(msg[0]))), msg[0]
    finally:
        sock.close(linger=0)
        ctx.term()


# == 3. a Perl program logging through Log::Dispatch -> our aggregator ===========================

LOG_DISPATCH_NAME = "myapp_aggregate_log"
LOG_DISPATCH_EXPECTED = [
    ("debug", "debug message"),
    ("info", "unicode: ☃ héllo 日本語 😀"),
    ("notice", "first line\nsecond line"),
    ("warning", "warn is logged as warning"),
    ("warning", "a warning"),
    ("error", "err is logged as error"),
    ("error", 'quote " backslash \\ tab \t end'),
    ("critical", "crit is logged as critical"),
    ("alert", "an alert"),
    ("emergency", "emerg is logged as emergency"),
    ("notice", "with extra", {"extra": {"request_id": "abc-123", "attempt": 2, "tags": ["a", "ß"]}}),
    ("info", "last"),
]


def test_log_dispatch_app_to_our_aggregator(perl_peer, procs, tmp_path):
    """tests/peer/log_dispatch_app.pl logs through Log::Dispatch::Message::Passing + Encoder::JSON +
    Output::ZeroMQ (PUB, connect) to our aggregator (SUB, bind) -> File: each record arrives with exactly
    its message, level (Log::Dispatch's canonical name) and name, plus the extra ->log() parameter."""
    port = free_port()
    ep, out = endpoint(port), tmp_path / "agg.jsonl"
    agg = our_receiver(ep, out, tmp_path, procs)
    assert wait_listening(port, START_TIMEOUT), f"ours does not listen: {errtext(tmp_path / 'recv.log')}"

    log = tmp_path / "app.log"
    with open(log, "wb") as f:
        app = subprocess.Popen([perl_interpreter(perl_peer), str(PEER_DIR / "log_dispatch_app.pl"), ep],
                               stdin=subprocess.PIPE, stdout=f, stderr=subprocess.STDOUT)
    procs.append(app)

    def probe_arrived():
        return any(r.get("message", "").startswith("probe ") for r in complete_records(out))

    deadline = time.monotonic() + START_TIMEOUT
    while not probe_arrived():
        assert time.monotonic() < deadline, "no probe from the Log::Dispatch app arrived"
        assert app.poll() is None, f"the Log::Dispatch app exited: {errtext(log)}"
        app.stdin.write(b"probe\n")
        app.stdin.flush()
        wait_for(probe_arrived, timeout=0.3)
    try:
        app.communicate(input=b"go\n", timeout=DELIVERY_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the Log::Dispatch app did not exit: {errtext(log)}")
    assert app.returncode == 0 and Path(log).read_bytes() == b"logged\n", errtext(log)

    expected = [{"message": e[1], "level": e[0], "name": LOG_DISPATCH_NAME, **(e[2] if len(e) > 2 else {})}
                for e in LOG_DISPATCH_EXPECTED]

    def app_records():
        rs = [r for r in complete_records(out) if not r.get("message", "").startswith("probe ")]
        return rs if len(rs) >= len(expected) else None

    got = wait_for(app_records, timeout=DELIVERY_TIMEOUT) or app_records() or []
    assert got == expected
    probes = [r for r in complete_records(out) if r.get("message", "").startswith("probe ")]
    assert all(r == {"message": r["message"], "level": "debug", "name": LOG_DISPATCH_NAME} for r in probes)
    stop_ours(agg, tmp_path / "recv.log")


# == 4. the POD's distributor: the original's sender -> our distributor -> two of our workers =====

def test_distributor_perl_sender_our_distributor_and_workers(perl_peer, procs, tmp_path):
    """Message::Passing::ZeroMQ's POD distributor, mixed: `message-pass` STDIN -> ZeroMQ (PUB, connect)
    -> ours ZeroMQ (SUB, bind) -> ZeroMQ (PUSH, bind) -> two of ours ZeroMQ (PULL, connect) -> File.
    Every record arrives exactly once across the workers, each worker in send order, both get work."""
    p_in, p_work = free_port(), free_port()
    ep_in, ep_work = endpoint(p_in), endpoint(p_work)
    dist = ours("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep_in),
                "--output", "ZeroMQ", "--output_options", opts(socket_bind=ep_work, socket_type="PUSH"),
                log=tmp_path / "dist.log", procs=procs)
    assert wait_listening(p_in, START_TIMEOUT) and wait_listening(p_work, START_TIMEOUT), \
        errtext(tmp_path / "dist.log")
    outs = [tmp_path / f"worker{w}.jsonl" for w in (1, 2)]
    workers = [ours("--input", "ZeroMQ", "--input_options", opts(connect=ep_work, socket_type="PULL"),
                    "--output", "File", "--output_options", opts(filename=str(o)),
                    log=tmp_path / f"worker{w}.log", procs=procs) for w, o in zip((1, 2), outs)]
    assert wait_for(lambda: connections_to(p_work) >= 2, timeout=START_TIMEOUT), "workers did not connect"

    sent = sample_records(tag="dist")
    sender = perl(perl_peer, "--input", "STDIN", "--output", "ZeroMQ",
                  "--output_options", opts(connect=ep_in, linger=10000),
                  stdin=subprocess.PIPE, log=tmp_path / "perl_sender.log", procs=procs)
    warm_up(sender, lambda: any(is_probe(r) for o in outs for r in complete_records(o)))
    finish_perl_sender(sender, as_lines(sent), tmp_path / "perl_sender.log")

    wait_records(outs, len(sent))
    for p, log in [(dist, "dist.log")] + [(w, f"worker{i}.log") for i, w in zip((1, 2), workers)]:
        stop_ours(p, tmp_path / log)
    per_worker = [real_records(o) for o in outs]
    ns = sorted(r["n"] for rs in per_worker for r in rs)
    assert ns == list(range(len(sent))), f"{len(ns)} records for {len(sent)} sent (duplicates or losses)"
    by_n = {r["n"]: r for r in sent}
    for rs in per_worker:
        assert rs == [by_n[r["n"]] for r in rs]  # equal as JSON
        assert [r["n"] for r in rs] == sorted(r["n"] for r in rs)  # in send order
        assert rs, f"a worker got nothing: {[len(x) for x in per_worker]}"
