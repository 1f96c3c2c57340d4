"""Live statistics: --stats's status line (a line an interval, or in place on a terminal) and the
--metrics_port endpoint (Prometheus text), both from the chain's own counters, in every mode."""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
import urllib.error
import urllib.request

import pytest
import zmq

from conftest import MP, endpoint, error_records, free_port, lines, mp, opts, run_mp, stop, summary, wait_for

STATUS = re.compile(r"message-passing: in=(\d+) out=(\d+) dropped=(\d+) failed=(\d+) rejected=(\d+) rate=(\d+)/s")


def status_lines(stderr: bytes) -> list[dict]:
    """The status lines of a stderr that is not a terminal, as numbers."""
    found = []
    for line in stderr.decode().splitlines():
        m = STATUS.fullmatch(line)
        if m:
            found.append(dict(zip(("in", "out", "dropped", "failed", "rejected", "rate"), map(int, m.groups()))))
    return found


def numbered(n: int) -> bytes:
    return b"".join(b'{"n":%d}\n' % i for i in range(n))


def read_line(p: subprocess.Popen, timeout: float = 10) -> str:
    """One line of p's stderr, within timeout."""
    out = b""
    deadline = time.monotonic() + timeout
    while not out.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0 and select.select([p.stderr], [], [], left)[0], f"no line from stderr: {out!r}"
        byte = os.read(p.stderr.fileno(), 1)
        assert byte, f"stderr ended: {out!r}"
        out += byte
    return out.decode()


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
    assert seen[0] == {"in": 0, "out": 0, "dropped": 0, "failed": 0, "rejected": 0, "rate": 0}
    assert seen[-2]["rate"] == 0  # nothing came in its interval
    assert {k: v for k, v in seen[-1].items() if k != "rate"} == {"in": 500, "out": 500, "dropped": 0, "failed": 0, "rejected": 0}
    assert 0 < seen[-1]["rate"] <= 500 / 0.5  # the exit's line: over the whole run, not its interval
    assert any(s["rate"] > 0 for s in seen)
    assert [s["in"] for s in seen] == sorted(s["in"] for s in seen)
    assert "input STDIN received=500" in summary(err)  # the exit line follows, as without --stats


def test_the_last_line_has_the_rate_of_the_whole_run():
    # not of its interval, cut short by the exit: a message in its last hundredth of a second would
    # show as thousands a second
    began = time.monotonic()
    p = mp("--input", "STDIN", "--output", "Null", "--stats", "0.25", stdin=subprocess.PIPE)
    try:
        assert STATUS.fullmatch(read_line(p).strip())  # it counts from here (at most)
        p.stdin.write(numbered(200))
        p.stdin.flush()
        time.sleep(1.2)
        p.stdin.write(numbered(1))
        p.stdin.close()
        assert p.wait(timeout=10) == 0
        took = time.monotonic() - began
        err = p.stderr.read()
    finally:
        p.kill()
        p.wait()
    last = status_lines(err)[-1]
    assert last["in"] == 201, err
    assert 201 / took - 1 <= last["rate"] <= 201 / 1.2 + 1, (took, err)


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
    assert {"in": 2000, "out": 2000, "dropped": 0, "failed": 0, "rejected": 0, "rate": 0} in seen[:-1], err
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


def test_an_output_that_cannot_write_counts_as_failed_not_rejected():
    # /dev/full: every write fails; its error record is about the output, not a rejected message
    r = run_mp("--input", "STDIN", "--output", "File", "--output_options", opts(filename="/dev/full"), "--stats",
               input=numbered(300) + b"not json\n")
    assert r.returncode == 0, r.stderr
    assert len(error_records(r.stderr)) == 2  # the output's failure (said once), the bad line
    last = status_lines(r.stderr)[-1]
    assert (last["in"], last["out"], last["failed"], last["rejected"]) == (301, 0, 300, 1), r.stderr


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

class Terminal:
    """A pseudo-terminal, and what was written to it so far."""

    def __init__(self, columns: int = 0) -> None:
        self.master, self.slave = os.openpty()
        if columns:
            fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        self.got = b""

    def read(self, wait: float = 0.05) -> bytes:
        while select.select([self.master], [], [], wait)[0]:
            try:
                self.got += os.read(self.master, 65536)
            except OSError:  # the other side is closed
                break
        return self.got

    def run(self, args: list[str], steps: list[tuple[bytes | None, bytes | None]], stdout_here: bool = False) -> bytes:
        """The CLI with its stderr (and its stdout, if stdout_here) on this terminal: for each step,
        writes its input (if any) and waits until the terminal shows what it names (if anything);
        then ends the input, checks the exit status and returns all the terminal showed."""
        p = subprocess.Popen([MP, *args], stdin=subprocess.PIPE,
                             stdout=self.slave if stdout_here else subprocess.DEVNULL, stderr=self.slave)
        os.close(self.slave)
        try:
            for data, seen in steps:
                if data is not None:
                    p.stdin.write(data)
                    p.stdin.flush()
                if seen is not None:
                    assert wait_for(lambda: seen in self.read())
            p.stdin.close()
            assert p.wait(timeout=10) == 0
            return self.read()
        finally:
            p.kill()
            p.wait()
            os.close(self.master)


def test_on_a_terminal_the_line_is_drawn_in_place_and_cleared_for_error_records():
    got = Terminal().run(["--input", "STDIN", "--output", "Null", "--stats", "0.1"],
                         [(b'{"a":1}\n', b"in=1 out=1"), (b"bad\n", b"rejected=1")])
    text = got.decode().replace("\r\n", "\n")  # (the terminal's own newline translation)
    draw = "\r\x1b[Kmessage-passing: in="
    assert text.startswith(draw) and text.count(draw) >= 3, text
    # the line drawn in place is cleared before the error record, which gets a line of its own
    assert "\r\x1b[K{\"class\":\"Message::Passing::Exception::Decoding\"" in text, text
    # the last one ends with its newline: the exit line that follows does not overwrite it
    last, exit_line = text.rstrip("\n").rsplit("\n", 1)
    assert STATUS.fullmatch(last.rsplit("\r\x1b[K", 1)[1]), text
    assert exit_line.startswith("message-passing: input STDIN received=2 rejected=1"), text


def test_on_a_narrow_terminal_the_line_drawn_in_place_is_cut_to_its_width():
    # a line that wraps would leave its first rows behind at every redraw
    got = Terminal(columns=30).run(["--input", "STDIN", "--output", "Null", "--stats", "0.1"],
                                   [(None, b"in=0 out=0 d\r"), (b'{"a":1}\n', b"in=1 out=1 d\r")])
    *drawn, last = got.decode().replace("\r\n", "\n").split("\r\x1b[K")
    assert drawn[0] == "" and all(len(line) == 29 for line in drawn[1:]), got
    assert STATUS.fullmatch(last.split("\n")[0]), got  # the last line, which stays, is whole


def test_on_a_terminal_that_also_shows_the_messages_each_interval_has_its_line():
    # STDOUT to the same terminal: the core writes messages there, which would run into a line
    # drawn in place
    got = Terminal().run(["--input", "STDIN", "--output", "STDOUT", "--stats", "0.1"], [(b'{"a":1}\n', None)],
                         stdout_here=True)
    assert b"\x1b[K" not in got and b'{"a":1}\r\n' in got and b"message-passing: in=1 out=1" in got, got


def test_error_records_on_the_terminal_s_stdout_give_each_interval_its_line():
    # --error STDOUT, stdout the same terminal: records would run into a line drawn in place (only
    # --error STDERR clears it first); with stdout elsewhere the line is drawn in place again
    for stdout_on_terminal in (True, False):
        got = Terminal().run(["--input", "STDIN", "--output", "Null", "--error", "STDOUT", "--stats", "0.1"],
                             [(None, b"message-passing: in=0"), (b"bad\n", b"rejected=1")],
                             stdout_here=stdout_on_terminal)
        if stdout_on_terminal:
            assert b"\x1b[K" not in got, got
            assert b'\n{"class":"Message::Passing::Exception::Decoding"' in got, got
            assert all(STATUS.fullmatch(line) for line in got.decode().splitlines() if "in=" in line), got
        else:
            assert b"\r\x1b[Kmessage-passing: in=" in got and b'{"class"' not in got, got


# -- the metrics endpoint ------------------------------------------------------------------------

def parse_metrics(text: str) -> dict[tuple, float]:
    """Prometheus text (0.0.4), checked as a scraper reads it: every sample's family declared
    (HELP, TYPE) before its samples, which are together; no series twice; counters end in _total."""
    samples, types, done, current = {}, {}, set(), None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in done, f"{name} declared twice"
            current = name
            done.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == current and kind in ("counter", "gauge", "untyped"), line
            types[name] = kind
            if kind == "counter":
                assert name.endswith("_total"), name
        else:
            m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
            assert m, f"not a sample: {line!r}"
            name, labels, value = m.groups()
            assert name == current and name in types, f"{name} outside its family"
            key = (name, *re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
            assert key not in samples, f"{line!r} twice"
            samples[key] = float(value)
    try:
        from prometheus_client.parser import text_string_to_metric_families  # only if it is there
    except ImportError:
        pass
    else:
        assert len(list(text_string_to_metric_families(text))) == len(types)
    return samples


def metric(samples: dict, name: str, component: str | None = None, part: str | None = None) -> float:
    key = (name,) if component is None else (name, ("component", component), ("name", part))
    return samples[key]


def scrape(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, "", ""


def served(url: str) -> bool:
    try:
        return scrape(url)[0] == 200
    except OSError:  # (closed at once: the endpoint is busy)
        return False


def started_metrics(p: subprocess.Popen) -> str:
    """The endpoint's address, from its start-up line."""
    line = read_line(p)
    assert line.startswith("message-passing: metrics at http://127.0.0.1:"), line
    return line.split(" at ")[1].strip()


@pytest.mark.parametrize("python_filter", [False, True], ids=["native", "python-filter"])
def test_metrics_endpoint_serves_the_counters_per_component(tmp_path, procs, tagger, python_filter):
    out, ep = tmp_path / "out.log", endpoint()
    args = ["--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type="PULL"),
            "--output", "File", "--output_options", opts(filename=str(out)), "--metrics-port", "0"]
    p = mp(*args, *(["--filter", "+tagger.Tag"] if python_filter else []), env=tagger)
    procs.append(p)
    url = started_metrics(p)
    code, content_type, text = scrape(url)
    assert code == 200 and content_type == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_metrics(text)
    assert metric(samples, "message_passing_received_total", "input", "ZeroMQ") == 0
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    try:
        push.connect(ep)
        for i in range(1000):
            push.send(b'{"n":%d}' % i)
        push.send(b"{not json")
        assert wait_for(lambda: len(lines(out)) == 1000)
    finally:
        push.close(linger=1000)
        ctx.term()
    # no tick is needed: a scrape wakes the chain for its counters
    samples = parse_metrics(scrape(url)[2])
    assert metric(samples, "message_passing_received_total", "input", "ZeroMQ") == 1001
    assert metric(samples, "message_passing_rejected_total", "input", "ZeroMQ") == 1
    assert metric(samples, "message_passing_sent_total", "output", "File") == 1000
    assert metric(samples, "message_passing_dropped_total", "output", "File") == 0
    assert metric(samples, "message_passing_failed_total", "output", "File") == 0
    assert metric(samples, "message_passing_sent_total", "error", "STDERR") == 1
    assert metric(samples, "message_passing_error_records_total") == 1
    assert metric(samples, "message_passing_error_records_lost_total") == 0
    assert 0 < metric(samples, "message_passing_uptime_seconds") < 60
    assert scrape(url.replace("/metrics", "/other"))[0] == 404
    assert scrape(url.replace("/metrics", "/"))[0] == 404
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5) as r:
        assert r.status == 200 and int(r.headers["Content-Length"]) > 0 and r.read() == b""
    for method, status in (("POST", 405), ("DELETE", 405), ("BREW", 501)):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(url, data=b"x", method=method), timeout=5)
        assert e.value.code == status
        assert status != 405 or e.value.headers["Allow"] == "GET, HEAD"
    code, _, err = stop(p)
    assert code == 0, err
    assert b"GET /metrics" not in err  # no request log on stderr


def test_metrics_of_a_tee_label_each_branch(tmp_path, procs):
    branches = [{"output": "File", "output_options": {"filename": str(tmp_path / f"b{i}.log")}} for i in (0, 1)]
    p = mp("--input", "STDIN", "--filter", "T", "--filter_options", json.dumps({"outputs": branches}),
           "--output", "Null", "--metrics_port", "0", stdin=subprocess.PIPE)
    procs.append(p)
    url = started_metrics(p)
    p.stdin.write(numbered(10))
    p.stdin.flush()
    assert wait_for(lambda: len(lines(tmp_path / "b1.log")) == 10)
    samples = parse_metrics(scrape(url)[2])
    for i in (0, 1):
        assert samples[("message_passing_sent_total", ("component", "tee"), ("name", "File"), ("branch", str(i)))] == 10
    assert metric(samples, "message_passing_sent_total", "output", "Null") == 10
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def test_metrics_and_stats_from_a_configfile(tmp_path, procs):
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input: Null\noutput: Null\nstats: 0.2\nmetrics_port: {port}\nmetrics_host: 127.0.0.1\n")
    p = mp("--configfile", str(cfg))
    procs.append(p)
    assert started_metrics(p) == f"http://127.0.0.1:{port}/metrics"
    assert STATUS.fullmatch(read_line(p).strip())
    samples = parse_metrics(scrape(f"http://127.0.0.1:{port}/metrics")[2])
    assert metric(samples, "message_passing_received_total", "input", "Null") == 0
    code, _, err = stop(p)
    assert code == 0, err


def test_concurrent_scrapes_each_get_counters_taken_after_they_asked(tmp_path, procs):
    out = tmp_path / "out.log"
    p = mp("--input", "STDIN", "--output", "File", "--output_options", opts(filename=str(out)),
           "--metrics_port", "0", stdin=subprocess.PIPE)
    procs.append(p)
    url = started_metrics(p)
    for n in (10, 20, 30):
        p.stdin.write(numbered(10))
        p.stdin.flush()
        assert wait_for(lambda: len(lines(out)) == n)
        results: list = []

        def scraper() -> None:
            results.append(parse_metrics(scrape(url)[2]))

        threads = [threading.Thread(target=scraper) for _ in range(6)]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(results) == 6 and time.monotonic() - began < 5
        assert [metric(r, "message_passing_received_total", "input", "STDIN") for r in results] == [n] * 6
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def test_a_scraper_that_resets_its_connection_leaves_stderr_alone(procs):
    # (a scrape that times out, a health check that only connects): not ours to report
    p = mp("--input", "STDIN", "--output", "Null", "--metrics_port", "0", stdin=subprocess.PIPE)
    procs.append(p)
    url = started_metrics(p)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    for request in (b"GET /metrics HTTP/1.0\r\n\r\n", b"GET /met", b""):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(request)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # closed with a reset
        time.sleep(0.2)
    assert scrape(url)[0] == 200
    p.stdin.close()
    assert p.wait(timeout=10) == 0
    err = p.stderr.read().decode()
    assert "Traceback" not in err and "Error" not in err, err
    assert err.count("\n") == 1 and "input STDIN received=0" in err, err  # the exit line, and only it


def test_slow_clients_do_not_hold_the_endpoint(procs):
    # a client that sends a byte a second is cut off at the request's deadline (5 s) all the same;
    # meanwhile others are served, up to 16 at once: a connection beyond them is closed at once
    p = mp("--input", "STDIN", "--output", "Null", "--metrics_port", "0", stdin=subprocess.PIPE)
    procs.append(p)
    url = started_metrics(p)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    slow = socket.create_connection(("127.0.0.1", port))
    connected = time.monotonic()
    slow.sendall(b"GET /metrics HTTP/1.1\r\n")
    cut: list[float] = []

    def trickle() -> None:
        try:
            while not select.select([slow], [], [], 1)[0]:
                slow.sendall(b"X")
            slow.recv(100)
        except OSError:
            pass
        cut.append(time.monotonic())

    trickler = threading.Thread(target=trickle, daemon=True)
    trickler.start()
    idle = []
    try:
        began = time.monotonic()
        assert scrape(url)[0] == 200 and time.monotonic() - began < 2
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(15)]  # 16 with the slow one
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            assert select.select([extra], [], [], 2)[0] and extra.recv(100) == b""
        trickler.join(10)
        assert cut and 4.5 < cut[0] - connected < 7.5
        assert wait_for(lambda: served(url), 5)  # the idle ones were cut off too
    finally:
        slow.close()
        for s in idle:
            s.close()
    p.stdin.close()
    assert p.wait(timeout=10) == 0
    assert "Traceback" not in p.stderr.read().decode()


PLUGIN = r'''class Out:
    name = 'out "x"\\\n'
    def __init__(self):
        self.n = 0
    def consume(self, data):
        self.n += 1
    def counters(self):
        return {'sent': self.n, 'sent_total': 7, 'uptime_seconds': 1e9, 'error_records': 7,
                'weird\nkey': 3, 'weird_key': 4, '9lives': 5, 'ratio': float('nan'), 'flag': True}
'''


def test_a_plugin_s_counters_keep_the_page_valid(tmp_path, procs):
    # names made valid, none that takes a family's name (a built-in one, or another type's), HELP escaped
    (tmp_path / "plug.py").write_text(PLUGIN)
    p = mp("--input", "STDIN", "--filter", "T", "--filter_options",
           json.dumps({"outputs": [{"output": "+plug.Out"}, {"output": "Null"}]}), "--output", "+plug.Out",
           "--metrics_port", "0", stdin=subprocess.PIPE, env={"PYTHONPATH": str(tmp_path)})
    procs.append(p)
    url = started_metrics(p)
    p.stdin.write(numbered(3))
    p.stdin.flush()
    assert wait_for(lambda: "input STDIN received=3" in summary_now(p))
    text = scrape(url)[2]
    samples = parse_metrics(text)  # (no family twice, no series twice, every line a sample)
    assert samples[("message_passing_sent_total", ("component", "output"), ("name", r'out \"x\"\\\n'))] == 3, text
    assert metric(samples, "message_passing_uptime_seconds") < 60
    assert metric(samples, "message_passing_error_records_total") == 0
    assert {k[0] for k in samples} >= {"message_passing_sent_total", "message_passing_9lives"}
    assert not {k[0] for k in samples} & {"message_passing_error_records", "message_passing_sent_total_total"}
    weird = [v for k, v in samples.items() if k[0] == "message_passing_weird_key"]
    assert sorted(weird) == [3, 3], text  # one a part: the first key of the two that clean alike
    assert [v for k, v in samples.items() if k[0] == "message_passing_9lives"] == [5, 5]
    assert all(math.isnan(v) for k, v in samples.items() if k[0] == "message_passing_ratio")
    assert "# HELP message_passing_weird_key The weird\\nkey counter of a part.\n" in text, text
    assert "message_passing_flag" not in text
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def summary_now(p: subprocess.Popen) -> str:
    """The counters line SIGUSR1 has p print now."""
    p.send_signal(signal.SIGUSR1)
    return read_line(p)


def test_a_metrics_port_in_use_stops_startup_with_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run_mp("--input", "STDIN", "--output", "Null", "--metrics_port", str(port), input=b"{}\n")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1, err
    assert f"--metrics_port: cannot listen on 127.0.0.1:{port}: Address already in use" in err, err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--metrics_port", "70000"], "--metrics_port must be a port number from 0 to 65535, not \"70000\""),
        (["--metrics-port", "http"], "--metrics_port must be a port number"),
        (["--metrics_port"], "--metrics_port/--metrics-port: expected one argument"),
        (["--metrics_host", "0.0.0.0"], "--metrics_host needs --metrics_port"),
        (["--metrics_port", "0", "--metrics_host", ""], "--metrics_host must be a host name or address"),
        (["--stats", "fast"], "--stats must be a number of seconds from 0.1 to 86400, not \"fast\""),
        (["--stats", "0"], "--stats must be a number of seconds"),
        (["--stats", "-1"], "--stats must be a number of seconds"),
        (["--stats", "nan"], "--stats must be a number of seconds"),
        (["--stats", "1_0"], "--stats must be a number of seconds"),
        (["--stats", "1e1"], "--stats must be a number of seconds"),
        (["--metrics_port", "\u00b2"], "--metrics_port must be a port number"),
        (["--metrics_port", "\u0663"], "--metrics_port must be a port number"),  # (an Arabic-Indic 3)
        (["--metrics_port", "0", "--metrics_host", "a b"], "--metrics_host must be a host name or address"),
        (["--daemonize", "--stats"], "--stats: a daemon has no terminal to show it on (use --metrics_port)"),
    ],
)
def test_bad_stats_and_metrics_options_are_one_line(args, says):
    r = run_mp("--input", "STDIN", "--output", "Null", *args, input=b"{}\n")
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and says in err, err


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"input":"STDIN","output":"Null","metrics_port":true}', "--metrics_port must be a port number"),
        ('{"input":"STDIN","output":"Null","metrics_port":8.5}', "--metrics_port must be a port number"),
        ('{"input":"STDIN","output":"Null","stats":"often"}', "--stats must be a number of seconds"),
        ('{"input":"STDIN","output":"Null","metrics_port":0,"metrics_host":"a\\u0000b"}',
         "--metrics_host must be a host name or address, not \"a\\u0000b\""),
        ('{"input":"STDIN","output":"Null","stats":5,"daemonize":true}', "--stats: a daemon has no terminal"),
    ],
)
def test_bad_stats_and_metrics_in_a_configfile(tmp_path, text, says):
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


@pytest.mark.parametrize(
    "host, says",
    [
        ("192.0.2.1", "--metrics_host: cannot listen on 192.0.2.1:0: Cannot assign requested address"),
        ("no-such-host.invalid", "--metrics_host: cannot resolve no-such-host.invalid"),
    ],
)
def test_a_metrics_host_that_cannot_be_had_is_named(host, says):
    r = run_mp("--input", "STDIN", "--output", "Null", "--metrics_port", "0", "--metrics_host", host, input=b"")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1 and says in err, err


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["localhost", pytest.param("[::1]", marks=pytest.mark.skipif(
    not _has_ipv6_loopback(), reason="no IPv6 loopback"))])
def test_a_metrics_host_by_name_or_in_brackets(procs, host):
    # the system says which family a name is (ip6-localhost is IPv6); the URL has the address bound
    p = mp("--input", "STDIN", "--output", "Null", "--metrics_port", "0", "--metrics_host", host,
           stdin=subprocess.PIPE)
    procs.append(p)
    line = read_line(p)
    address = socket.getaddrinfo(host.strip("[]"), 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][4][0]
    shown = f"[{address}]" if ":" in address else address
    assert re.fullmatch(rf"message-passing: metrics at http://{re.escape(shown)}:\d+/metrics\n", line), line
    assert scrape(line.split(" at ")[1].strip())[0] == 200
    p.stdin.close()
    assert p.wait(timeout=10) == 0


def test_a_daemon_says_where_its_metrics_are(tmp_path):
    # its stderr is /dev/null: the process that started it says it, with the port the system chose
    pid_file = tmp_path / "d.pid"
    r = run_mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=endpoint(), socket_type="PULL"),
               "--output", "Null", "--metrics_port", "0", "--daemonize", "--pid_file", str(pid_file))
    assert r.returncode == 0, r.stderr
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text().strip()))
    try:
        line = r.stderr.decode()
        assert re.fullmatch(r"message-passing: metrics at http://127\.0\.0\.1:\d+/metrics\n", line), line
        samples = parse_metrics(scrape(line.split(" at ")[1].strip())[2])
        assert metric(samples, "message_passing_received_total", "input", "ZeroMQ") == 0
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not pid_file.exists())


def test_a_stderr_nobody_reads_holds_the_exit_one_second_in_all(tmp_path):
    """The last status line and the exit line each could wait 1 s for room: once one waited in
    vain, the next does not wait."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 4096)  # full
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    began = time.monotonic()
    p = subprocess.run([MP, "--input", "STDIN", "--output", "Null", "--stats", "0.1", "--metrics_port", "0"],
                       input=b'{"a":1}\n', stdout=subprocess.DEVNULL, stderr=w, timeout=30)
    took = time.monotonic() - began
    os.close(w)
    os.close(r)
    assert p.returncode == 0 and took < 1.9, took
