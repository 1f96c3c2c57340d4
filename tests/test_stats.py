"""Live statistics: --stats's status line (a line an interval, or in place on a terminal), from the
chain's own counters, in every mode."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time

import pytest
import zmq

from conftest import MP, endpoint, error_records, lines, mp, opts, run_mp, stop, summary, wait_for

STATUS = re.compile(r"message-passing: in=(\d+) out=(\d+) dropped=(\d+) rejected=(\d+) rate=(\d+)/s")


def status_lines(stderr: bytes) -> list[dict]:
    """The status lines of a stderr that is not a terminal, as numbers."""
    found = []
    for line in stderr.decode().splitlines():
        m = STATUS.fullmatch(line)
        if m:
            found.append(dict(zip(("in", "out", "dropped", "rejected", "rate"), map(int, m.groups()))))
    return found


def numbered(n: int, start: int = 0) -> bytes:
    return b"".join(b'{"n":%d}\n' % i for i in range(start, start + n))


TAGGER = ("class Tag:\n"
          "    def filter(self, m):\n"
          "        if m.get('boom'):\n"
          "            raise ValueError('boom')\n"
          "        m['tagged'] = 1\n"
          "        return m\n")


@pytest.fixture
def tagger(tmp_path):
    """A Python filter (the chain's batch mode) that fails on {"boom": true}."""
    (tmp_path / "tagger.py").write_text(TAGGER)
    return {"PYTHONPATH": str(tmp_path)}


# -- --stats, not on a terminal: a line an interval ---------------------------------------------

def test_stdin_to_file_a_line_each_interval_with_the_counts(tmp_path):
    out = tmp_path / "out.log"
    p = mp("--input", "STDIN", "--output", "File", "--output_options", opts(filename=str(out)), "--stats", "0.2",
           stdin=subprocess.PIPE)
    time.sleep(0.7)  # nothing yet: the line still comes, with rate 0
    p.stdin.write(numbered(500))
    p.stdin.flush()
    assert wait_for(lambda: len(lines(out)) == 500)
    time.sleep(0.5)
    p.stdin.close()
    assert p.wait(timeout=10) == 0
    err = p.stderr.read()
    assert b"\r" not in err and b"\x1b" not in err  # not a terminal: nothing drawn in place
    seen = status_lines(err)
    assert len(seen) >= 5, err
    assert seen[0] == {"in": 0, "out": 0, "dropped": 0, "rejected": 0, "rate": 0}
    assert seen[-1] == {"in": 500, "out": 500, "dropped": 0, "rejected": 0, "rate": 0}  # the exit's line
    assert any(s["rate"] > 0 for s in seen)
    assert [s["in"] for s in seen] == sorted(s["in"] for s in seen)
    assert "input STDIN received=500" in summary(err)  # the exit line follows, as without --stats


def test_zeromq_pull_to_file_fed_by_a_pyzmq_push(tmp_path, procs):
    out, ep = tmp_path / "out.log", endpoint()
    p = mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type="PULL"),
           "--output", "File", "--output_options", opts(filename=str(out)), "--stats=0.2")
    procs.append(p)
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    try:
        push.connect(ep)
        for i in range(2000):
            push.send(b'{"n":%d}' % i)
        assert wait_for(lambda: len(lines(out)) == 2000)
    finally:
        push.close(linger=1000)
        ctx.term()
    time.sleep(0.5)  # the line after the messages
    code, _, err = stop(p)
    assert code == 0, err
    seen = status_lines(err)
    assert {"in": 2000, "out": 2000, "dropped": 0, "rejected": 0, "rate": 0} in seen[:-1], err
    assert any(s["rate"] > 0 for s in seen)


def test_rejected_counts_every_error_record_with_a_python_filter(tagger):
    # the batch path: malformed JSON (rejected by the core) and a filter that raises (by Python)
    data = b'{"a":1}\nnot json\n{"boom":true}\n{"b":2\n{"c":3}\n'
    r = run_mp("--input", "STDIN", "--filter", "+tagger.Tag", "--output", "STDOUT", "--stats", input=data,
               env=tagger)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'{"a":1,"tagged":1}\n{"c":3,"tagged":1}\n'
    assert len(error_records(r.stderr)) == 3
    last = status_lines(r.stderr)[-1]
    assert (last["in"], last["out"], last["dropped"], last["rejected"]) == (5, 2, 0, 3)


def test_dropped_counts_what_a_pub_with_no_subscriber_drops():
    r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options",
               opts(connect=endpoint(), subscribe_delay=0), "--stats", "0.5", input=numbered(300))
    assert r.returncode == 0, r.stderr
    last = status_lines(r.stderr)[-1]
    assert (last["in"], last["out"], last["dropped"]) == (300, 0, 300)


def test_an_input_written_in_python_shows_its_line_while_it_waits():
    # the Null input sleeps in Python, never in the core: the tick shows the line all the same
    p = mp("--input", "Null", "--output", "Null", "--stats", "0.2")
    time.sleep(1)
    code, _, err = stop(p)
    assert code == 0, err
    assert len(status_lines(err)) >= 3
    assert "input Null received=0" in summary(err)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_ends_it_cleanly_with_the_last_line(sig, tagger):
    ep = endpoint()
    for python_filter in (False, True):
        args = ["--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type="PULL"), "--output", "Null",
                "--stats", "0.1"] + (["--filter", "+tagger.Tag"] if python_filter else [])
        p = mp(*args, env=tagger)
        time.sleep(0.6)
        began = time.monotonic()
        code, _, err = stop(p, sig)
        assert code == 0, err
        assert time.monotonic() - began < 3
        text = err.decode().splitlines()
        assert STATUS.fullmatch(text[-2]) and text[-1].startswith("message-passing: input ZeroMQ"), err
        assert "Traceback" not in err.decode()


# -- --stats on a terminal: in place -------------------------------------------------------------

def test_on_a_terminal_the_line_is_drawn_in_place_and_cleared_for_error_records():
    master, slave = os.openpty()
    p = subprocess.Popen([MP, "--input", "STDIN", "--output", "Null", "--stats", "0.1"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    got = b""

    def read_some() -> bytes:
        nonlocal got
        while select.select([master], [], [], 0.05)[0]:
            try:
                got += os.read(master, 65536)
            except OSError:  # the other side is closed
                break
        return got

    try:
        p.stdin.write(b'{"a":1}\n')
        p.stdin.flush()
        assert wait_for(lambda: b"in=1 out=1" in read_some())
        p.stdin.write(b"bad\n")
        p.stdin.flush()
        assert wait_for(lambda: b"rejected=1" in read_some())
        p.stdin.close()
        assert p.wait(timeout=10) == 0
        read_some()
    finally:
        p.kill()
        p.wait()
        os.close(master)
    text = got.decode().replace("\r\n", "\n")  # (the terminal's own newline translation)
    draw = "\r\x1b[Kmessage-passing: in="
    assert text.startswith(draw) and text.count(draw) >= 3, text
    # the line drawn in place is cleared before the error record, which gets a line of its own
    assert "\r\x1b[K{\"class\":\"Message::Passing::Exception::Decoding\"" in text, text
    # the last one ends with its newline: the exit line that follows does not overwrite it
    last, exit_line = text.rstrip("\n").rsplit("\n", 1)
    assert STATUS.fullmatch(last.rsplit("\r\x1b[K", 1)[1]), text
    assert exit_line.startswith("message-passing: input STDIN received=2 rejected=1"), text


def test_on_a_terminal_that_also_shows_the_messages_each_interval_has_its_line():
    # STDOUT to the same terminal: the core writes messages there, which would run into a line
    # drawn in place
    master, slave = os.openpty()
    p = subprocess.Popen([MP, "--input", "STDIN", "--output", "STDOUT", "--stats", "0.1"], stdin=subprocess.PIPE,
                         stdout=slave, stderr=slave)
    os.close(slave)
    p.stdin.write(b'{"a":1}\n')
    p.stdin.close()
    assert p.wait(timeout=10) == 0
    got = b""
    while select.select([master], [], [], 0.2)[0]:
        try:
            got += os.read(master, 65536)
        except OSError:
            break
    os.close(master)
    assert b"\x1b[K" not in got and b'{"a":1}\r\n' in got and b"message-passing: in=1 out=1" in got, got


@pytest.mark.parametrize(
    "args, says",
    [
        (["--stats", "fast"], "--stats must be a number of seconds from 0.1 to 86400, not \"fast\""),
        (["--stats", "0"], "--stats must be a number of seconds"),
        (["--stats", "-1"], "--stats must be a number of seconds"),
        (["--stats", "nan"], "--stats must be a number of seconds"),
    ],
)
def test_bad_stats_options_are_one_line(args, says):
    r = run_mp("--input", "STDIN", "--output", "Null", *args, input=b"{}\n")
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and says in err, err


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"input":"STDIN","output":"Null","stats":"often"}', "--stats must be a number of seconds"),
    ],
)
def test_bad_stats_in_a_configfile(tmp_path, text, says):
    cfg = tmp_path / "c.json"
    cfg.write_text(text)
    r = run_mp("--configfile", str(cfg))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and says in err, err


def test_stats_true_in_a_configfile_is_every_second(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"input": "STDIN", "output": "Null", "stats": True}))
    r = run_mp("--configfile", str(cfg), input=b"{}\n")
    assert r.returncode == 0 and status_lines(r.stderr)[-1]["in"] == 1, r.stderr
