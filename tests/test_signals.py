"""Stopping: signals reach every wait, a stop delivers within its bounds, a second one ends it at
once, and whatever is lost at the end is said."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
import urllib.request

from conftest import MP, endpoint, error_records, free_port, mp, opts, stop, summary, wait_for

NUMBERED = b"".join(b'{"n":%d}\n' % i for i in range(200000))


def started(p: subprocess.Popen, seconds: float = 1.0) -> None:
    """Lets `p` get going (and checks it did not end)."""
    assert wait_for(lambda: p.poll() is not None, timeout=seconds) is False, p.stderr.read()


def test_sigterm_stops_a_chain_blocked_on_a_stalled_reader_within_its_drain_bound(tmp_path):
    # stdout is a pipe that nobody reads: the write blocks; SIGTERM still stops it, in bounded time
    data = tmp_path / "in.jsonl"
    data.write_bytes(NUMBERED)
    with open(data, "rb") as stdin:
        p = subprocess.Popen([MP, "--input", "STDIN", "--output", "STDOUT"], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        started(p)
        began = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert wait_for(lambda: p.poll() is not None, timeout=10)
        assert time.monotonic() - began < 3 + 2  # DRAIN_MS, and some
        assert p.returncode == 0
        summary = p.stderr.read().decode()
        assert "output STDOUT sent=" in summary and "failed=" in summary  # what it could not write
    finally:
        p.kill()
        p.wait()


def test_outputs_blocked_on_one_stalled_reader_share_one_drain_bound(tmp_path):
    # stdout and stderr (the error chain) are one pipe nobody reads: the output's wait, then the
    # error record saying it failed, must not wait 3 s each (it took 7 s)
    data = tmp_path / "in.jsonl"
    data.write_bytes(NUMBERED)
    r, w = os.pipe()
    with open(data, "rb") as stdin:
        p = subprocess.Popen([MP, "--input", "STDIN", "--output", "STDOUT"], stdin=stdin, stdout=w, stderr=w)
    os.close(w)
    try:
        started(p)
        began = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
        assert time.monotonic() - began < 3 + 1 + 1  # DRAIN_MS in all, the exit's lines 1 s in all, some
    finally:
        p.kill()
        p.wait()
        os.close(r)


def test_a_second_signal_ends_it_at_once(tmp_path):
    # a sender lingering for ever (linger -1) for a peer that never comes: the first signal waits
    # on, the second (more than 0.1 s later: a quick double Ctrl-C) ends it, saying what was lost
    p = mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options",
           opts(connect=endpoint(), socket_type="PUSH", linger=-1), stdin=subprocess.PIPE)
    p.stdin.write(b'{"a":1}\n')
    p.stdin.close()
    started(p, 1.5)
    p.send_signal(signal.SIGTERM)
    started(p, 0.3)  # still delivering, as long as its linger says
    code, _, err = stop(p, signal.SIGTERM, timeout=5)  # 0.3 s later is another request
    assert code == 128 + signal.SIGTERM
    assert b"stopped at once: what was still queued is lost" in err
    assert b"undelivered=1" in err


def test_two_signals_at_once_are_one_request():
    # `timeout` signals a process and then its group: that is one stop, not two
    ep = endpoint()
    p = mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type="PULL"), "--output", "Null")
    started(p)
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGTERM)
    code, _, err = stop(p, timeout=10)
    assert code == 0, err


def test_sigterm_ends_the_wait_for_a_first_subscriber():
    p = mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options",
           opts(connect=endpoint(), subscribe_delay=60), stdin=subprocess.PIPE)
    p.stdin.write(b'{"a":1}\n')
    p.stdin.flush()
    started(p)
    began = time.monotonic()
    code, _, err = stop(p, timeout=10)
    assert code == 0, err
    assert time.monotonic() - began < 5
    assert b"dropped=1" in err  # the message that had no subscriber is counted


def test_what_was_queued_for_a_peer_that_never_came_is_undelivered():
    r = subprocess.run([MP, "--input", "STDIN", "--output", "ZeroMQ", "--output_options",
                        opts(connect=endpoint(), socket_type="PUSH", linger=200)],
                       input=NUMBERED[:50000 * 9], capture_output=True, timeout=30)
    assert r.returncode == 0
    summary = r.stderr.decode()
    assert "sent=10000 dropped=" in summary and "undelivered=10000" in summary, summary


def test_a_stop_signal_while_a_python_filter_works_is_not_its_failure(tmp_path):
    (tmp_path / "slow.py").write_text(
        "import time\n"
        "class Forever:\n"
        "    def __iter__(self):\n"
        "        while True:\n"
        "            yield b'[1]'\n"
        "class Slow:\n"
        "    def filter(self, m):\n"
        "        time.sleep(0.2)\n"
        "        return m\n")
    p = mp("--input", "+slow.Forever", "--filter", "+slow.Slow", "--output", "Null",
           env={"PYTHONPATH": str(tmp_path)})
    started(p)
    code, out, err = stop(p)
    assert code == 0 and error_records(err) == [], err


def _stalled_stderr(args: list[str], stdin_path) -> tuple[subprocess.Popen, int]:
    """Our CLI with its stderr (the error chain) a pipe nobody reads yet; returns it and the
    pipe's read end."""
    import os

    r, w = os.pipe()
    with open(stdin_path, "rb") as stdin:
        p = subprocess.Popen([MP, *args], stdin=stdin, stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    return p, r


BAD = b"".join(b'{bad %d ' % i + b"x" * 5000 + b"\n" for i in range(500))


def test_sigterm_stops_a_chain_whose_error_chain_is_blocked(tmp_path):
    """Error records to a pipe nobody reads: the error chain waits, as an output does, but a stop
    signal ends the wait within the drain bound, and the process exits 0 (it used to spin)."""
    import os

    (tmp_path / "bad.in").write_bytes(BAD)
    p, r = _stalled_stderr(["--input", "STDIN", "--output", "Null"], tmp_path / "bad.in")
    try:
        started(p)
        began = time.monotonic()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert time.monotonic() - began < 3 + 1 + 1 + 2  # DRAIN_MS, two bounded lines on stderr, some
    finally:
        p.kill()
        p.wait()
        os.close(r)


def test_other_signals_while_the_error_chain_is_blocked_lose_nothing(tmp_path):
    """SIGUSR1 and SIGHUP while the error chain waits for its reader: it goes on waiting, and when
    the reader reads, every error record arrives."""
    import os

    (tmp_path / "bad.in").write_bytes(BAD)
    p, r = _stalled_stderr(["--input", "STDIN", "--output", "Null"], tmp_path / "bad.in")
    try:
        started(p)
        for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGUSR1):
            p.send_signal(sig)
            time.sleep(0.2)
        assert p.poll() is None
        got = bytearray()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            got += chunk
        assert p.wait(timeout=10) == 0
    finally:
        p.kill()
        p.wait()
        os.close(r)
    assert len(error_records(bytes(got))) == 500


def test_a_slow_python_filter_on_stdin_writes_in_batches_and_stops_soon(tmp_path):
    """STDIN read in one go, a filter taking 10 ms a message: output is written a batch (256) at a
    time, a stop comes within a batch, and what was read but not filtered is counted."""
    (tmp_path / "sleepy.py").write_text("import time\nclass Sleepy:\n    def filter(self, m):\n"
                                        "        time.sleep(0.01)\n        return m\n")
    out = tmp_path / "out.log"
    p = mp("--input", "STDIN", "--filter", "+sleepy.Sleepy", "--output", "File", "--output_options",
           opts(filename=str(out)), stdin=subprocess.PIPE, env={"PYTHONPATH": str(tmp_path)})
    p.stdin.write(b"".join(b'{"i":%d}\n' % i for i in range(3000)))
    p.stdin.flush()
    assert wait_for(lambda: out.exists() and len(out.read_bytes().splitlines()) >= 256, timeout=20)
    began = time.monotonic()
    code, _, err = stop(p, timeout=20)
    assert code == 0 and time.monotonic() - began < 2.56 + 2  # one batch of 10 ms messages, and some
    written = len(out.read_bytes().splitlines())
    assert written < 3000
    line = [x for x in err.decode().splitlines() if x.startswith("message-passing: input")][0]
    assert f"received={written} " in line and f"unprocessed={3000 - written}" in line, line


def test_a_stop_signal_while_the_exit_line_is_written_does_not_cut_it():
    """Once the chain has stopped, writing the exit line (bounded, even to a blocked stderr) is all
    that is left: a late stop signal must not raise out of it (it used to, and hang writing its
    traceback)."""
    from message_passing.signals import Signals

    s = Signals()
    s._on_stop(signal.SIGTERM, None)
    s._first_stop -= 5  # the first came long ago
    s.ending = True
    s._on_stop(signal.SIGTERM, None)  # no ForcedExit
    assert s.stop


def test_a_signal_while_the_output_is_blocked_reports_each_reject_once(tmp_path):
    """Signals (the status ticks, SIGUSR1) interrupt a write blocked on a pipe nobody reads, and
    the chain then finishes the same batch: its rejected inputs are reported once, after it."""
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"not json\n" + b"".join(b'{"pad":"%s","n":%d}\n' % (b"x" * 200, i) for i in range(2000)))
    with open(data, "rb") as stdin:
        p = subprocess.Popen([MP, "--input", "STDIN", "--output", "STDOUT", "--stats", "0.1"], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(5):
            time.sleep(0.2)
            p.send_signal(signal.SIGUSR1)
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 0 and len(out.splitlines()) == 2000
    assert len(error_records(err)) == 1, err.decode()
    assert "received=2001 rejected=1;" in err.decode() and "error STDERR sent=1 " in err.decode()


def test_a_status_line_never_lands_inside_a_message_on_the_same_pipe(tmp_path):
    """stdout and stderr one pipe (`2>&1`), read slowly: the tick interrupts the core in the middle
    of a message, and the status line waits until the message is whole."""
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"".join(b'{"n":%d,"pad":"%s"}\n' % (i, b"z" * 300) for i in range(20000)))
    r, w = os.pipe()
    with open(data, "rb") as stdin:
        p = subprocess.Popen([MP, "--input", "STDIN", "--output", "STDOUT", "--stats", "0.1"],
                             stdin=stdin, stdout=w, stderr=w)
    os.close(w)
    got = b""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            got += chunk
            time.sleep(0.001)  # a slow reader
        assert p.wait(10) == 0
    finally:
        p.kill()
        os.close(r)
    messages = [line for line in got.splitlines() if not line.startswith(b"message-passing: ")]
    statuses = [line for line in got.splitlines() if line.startswith(b"message-passing: in=")]
    assert len(statuses) > 3 and all(b"{" not in s for s in statuses)
    assert [json.loads(m)["n"] for m in messages] == list(range(20000))


def test_stats_leaves_sigalrm_to_plugins(tmp_path):
    """A filter with the usual alarm() timeout guard: --stats's ticks are not its alarm."""
    (tmp_path / "guarded.py").write_text(textwrap.dedent("""
        import signal
        class Guard:
            def __init__(self):
                def late(*_):
                    raise TimeoutError("the filter took too long")
                signal.signal(signal.SIGALRM, late)
            def filter(self, message):
                signal.alarm(5)
                try:
                    return message
                finally:
                    signal.alarm(0)
    """))
    p = subprocess.Popen(f"(sleep 1; echo '{{\"a\":1}}') | {MP} --input STDIN --output Null --filter +guarded.Guard "
                         f"--stats 0.1", shell=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert err.count(b"message-passing: in=") >= 5 and b"received=1 " in err


def test_a_scrape_gets_fresh_counters_while_the_output_is_blocked(tmp_path):
    """The metrics endpoint's call wakes even a write blocked on a pipe nobody reads."""
    data = tmp_path / "in.jsonl"
    data.write_bytes(b"".join(b'{"pad":"%s","n":%d}\n' % (b"x" * 200, i) for i in range(5000)))
    port = free_port()
    with open(data, "rb") as stdin:
        p = subprocess.Popen([MP, "--input", "STDIN", "--output", "STDOUT", "--metrics_port", str(port)], stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: _scrape(port) is not None, 10)
        time.sleep(0.3)  # the pipe is full by now: the core waits in write()
        began = time.monotonic()
        text = _scrape(port)
        assert time.monotonic() - began < 0.4  # not the stale snapshot after FRESH_WAIT
        received = int(re.search(rb'message_passing_received_total\{component="input",name="STDIN"\} (\d+)', text)[1])
        assert received > 0
    finally:
        p.kill()
        p.communicate()


def _scrape(port: int) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return r.read()
    except OSError:
        return None


def _catches(pid: int, sig: int) -> bool:
    """Whether process `pid` has a handler for `sig` (its SigCgt mask in /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(mask >> (sig - 1) & 1)


def _as_soon_as_it_catches(signals: list[int]) -> subprocess.Popen:
    """Our CLI on a stdin that never ends, sent `signals` the moment it catches them: while it is
    still loading (it took them as the default: death, or a KeyboardInterrupt traceback)."""
    p = subprocess.Popen([MP, "--input", "STDIN", "--output", "Null"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_for(lambda: all(_catches(p.pid, s) for s in signals) or p.poll() is not None,
                    timeout=10, interval=0.0005)
    for s in signals:
        p.send_signal(s)
    return p


def test_a_stop_signal_while_starting_stops_it_cleanly():
    p = _as_soon_as_it_catches([signal.SIGTERM])
    code, _, err = stop(p, signal.SIGTERM, timeout=10)  # (gone by then: only the first is sent)
    assert code == 0 and b"Traceback" not in err, err
    assert "input STDIN" in summary(err)


def test_other_signals_while_starting_do_what_they_do_later():
    p = _as_soon_as_it_catches([signal.SIGUSR1, signal.SIGHUP])
    started(p)  # alive: neither was fatal
    code, _, err = stop(p, signal.SIGTERM, timeout=10)
    assert code == 0 and b"Traceback" not in err, err
    assert err.decode().count("message-passing: input STDIN") == 2  # SIGUSR1's counters, and the exit's
