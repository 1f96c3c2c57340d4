#!/usr/bin/env python3
"""The benchmark harness: every scenario, side by side, in one run.

    python bench/run.py [--quick] [--json PATH] [--record]

Scenarios (150-byte JSON log lines over tcp on 127.0.0.1), each run by up to four systems: `ours`
(message-passing), `ceiling` (bare libzmq in C that only counts or forwards, bench/zmq_bare.c, built
here; `cat` for STDIN; NullHandler for the handler), `python` (an idiomatic pyzmq + orjson program
doing the same job, bench/pyzmq_orjson.py) and `perl` (the original, /usr/bin/message-pass):

- aggregator_pull: C PUSH sender (blocking: nothing lost, the receiver sets the pace) -> PULL -> File;
- aggregator_sub: C XPUB sender (waits for the subscription, then never waits: a send HWM as large
  as the run, and a send to a full queue is dropped and counted) -> SUB -> File; loss is reported;
- distributor: C PUSH sender -> PULL -> PUSH (bound) -> two C PULL sockets that count (one process,
  not measured); a distributor may drop at its HWM: loss is reported;
- worker: as aggregator_pull with a Python filter that returns its message (bench/trivial_filter.py;
  Perl runs its own Null filter: it cannot run a Python one);
- stdin: the harness writes the lines into the system's standard input (a pipe) -> File, JSON;
- handler: an application's logger.info through a handler sending to a live aggregator
  (ZeroMQHandler, PUSH; bench/log_handler.py's logger and loop), measured inside the application.

How each measure is taken (one run):
- msgs/s = messages written (or counted) / (first send .. last one written). The start is the C
  sender's own timestamp (after it loaded its file), or the moment the harness starts writing to
  standard input (after the system read a first line: it is up); the end is when the output file
  reached the input's size (polled every 5 ms), the C counter's timestamp of its last message, or,
  where loss is possible, the last growth of the output once the senders are done and it has been
  still for QUIET s. Medians over the rounds.
- CPU s per million messages: the system's processes' user + system time, from wait4's rusage at
  their exit less /proc/PID/stat's at the start (so start-up is not counted; shutting down is).
- peak RSS: the process's VmHWM in /proc/PID/status, read every 5 ms while it runs (wait4's
  ru_maxrss would count the harness's pages, held between fork and exec); the largest of the rounds.
- lost: messages sent minus those written or counted, summed over the rounds. Where the scenario
  cannot lose (blocking PUSH, STDIN), a loss fails the run, as does a surplus or a byte count off.
- × ceiling: the median rate over the ceiling's median rate of the same scenario.
- the handler: the application measures itself over its timed loop (after 5,000 records of warm-up):
  records/s, its CPU (time.process_time: every thread, libzmq's included) and VmHWM; lost: the
  records it logged less those the aggregator (ours, PULL -> Null) says it received.
The scenarios run interleaved, round after round in a rotating order, so that the machine's drift
hits them all alike; a failed run is reported (and not in the medians), never a crash.

How cost grows (a second table): the aggregator (PULL -> File) with 1, 2 and 4 senders sharing the
messages, and with messages of 100 B, 1 KB and 10 KB (fewer of them: the same bytes as the main runs
twice over), for ours, the ceiling and the pure-Python peer.

Goals reported (not tests): aggregator at least 0.9 of the ceiling; worker with a Python filter at
least 2 times the pure-Python program; the Perl original beaten at least 30 times.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import termios
import threading
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import (  # noqa: E402
    MIN_LINE_BYTES,
    POLL,
    RESULTS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    RunFailed,
    build_bare,
    children,
    count_lines,
    find_libzmq,
    free_port,
    machine,
    spawn,
    stamp,
    stop,
    tail,
    versions,
    wait_listening,
    write_data,
)
from soak import TCK, proc_cpu  # noqa: E402

SCENARIOS = {
    "aggregator_pull": "ZeroMQ PULL -> File",
    "aggregator_sub": "ZeroMQ SUB -> File",
    "distributor": "ZeroMQ PULL -> ZeroMQ PUSH to two workers",
    "worker": "ZeroMQ PULL -> Python filter -> File",
    "stdin": "STDIN -> File, JSON",
    "handler": "logger.info -> handler -> ZeroMQ PUSH",
}
SYSTEMS = ("ours", "ceiling", "writer", "python", "perl")
WRITES_A_FILE = {"aggregator_pull", "aggregator_sub"}  # the scenarios with a `writer` row
# What each system is, by scenario (a missing entry: the same as "*").
WHAT = {
    ("ceiling", "*"): "C libzmq receiver that only counts",
    ("ceiling", "distributor"): "C libzmq forwarder PULL -> PUSH",
    ("ceiling", "stdin"): "cat",
    ("ceiling", "handler"): "logging.NullHandler (the logging call alone)",
    ("writer", "*"): "C libzmq receiver that appends each message to the file (no validation)",
    ("ours", "*"): "message-passing",
    ("ours", "handler"): "message_passing.logging.ZeroMQHandler",
    ("python", "*"): "pyzmq + orjson",
    ("python", "stdin"): "readline + orjson",
    ("python", "handler"): "pyzmq + orjson logging handler",
    ("perl", "*"): "message-pass (Perl)",
    ("perl", "worker"): "message-pass (Perl) with its Null filter",
    ("perl", "handler"): "Log::Dispatch::Message::Passing (Perl)",
    ("stdlib", "handler"): "logging.StreamHandler + JSONFormatter to /dev/null (no transport)",
}
LOSSY = {"aggregator_sub", "distributor"}  # where a loss is measured, not a failure
# Floors on the rates, only to bound the wait for one run (not targets).
FLOOR = {"ceiling": 100_000, "writer": 100_000, "ours": 50_000, "python": 20_000, "perl": 5_000}
QUIET = 1.0            # s of no growth, once the senders are done, that ends a run that may lose
SIZES = (100, 1000, 10_000)
SENDERS = (1, 2, 4)
GOALS = {"ceiling": 0.9, "python": 2.0, "perl": 30.0}


class Run(NamedTuple):
    """What one run measured."""

    received: int
    sent: int
    seconds: float
    cpu_s: float
    peak_rss: int


# -- processes ----------------------------------------------------------------------------------

def reap(p: subprocess.Popen):
    """The rusage of a child of bench.spawn once it has exited (then its returncode is set), else
    None. Children are reaped here, never by Popen, so that their rusage is not lost."""
    if hasattr(p, "rusage"):
        return p.rusage
    try:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    except ChildProcessError:  # reaped by Popen (bench.wait_listening polls)
        p.rusage = None
        return None
    if pid == 0:
        return None
    p.returncode, p.rusage = os.waitstatus_to_exitcode(status), ru
    if p in children:
        children.remove(p)
    return ru


def finish(p: subprocess.Popen, sig: int | None = signal.SIGTERM):
    """Sends `sig` (unless None or it has exited), waits STOP_TIMEOUT at most, then kills it; its
    rusage (None if it could not be had)."""
    if reap(p) is None and not hasattr(p, "rusage") and sig is not None:
        p.send_signal(sig)
    deadline, killed = time.monotonic() + STOP_TIMEOUT, False
    while reap(p) is None and not hasattr(p, "rusage"):
        if time.monotonic() > deadline:
            if killed:
                raise RunFailed(f"pid {p.pid} still there after SIGKILL")
            p.kill()
            deadline, killed = time.monotonic() + STOP_TIMEOUT, True
        time.sleep(0.002)
    return p.rusage


def peak_rss(p: subprocess.Popen) -> int:
    """The process's peak RSS so far (VmHWM, bytes; its largest sample once it has gone). Not wait4's
    ru_maxrss: that counts the harness's own pages, which a child holds between fork and exec."""
    try:
        with open(f"/proc/{p.pid}/status") as f:
            hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # gone, or a zombie
        hwm = 0
    p.peak = max(hwm, getattr(p, "peak", 0))
    return p.peak


def connections(port: int) -> int:
    """Established TCP connections to local port `port` on 127.0.0.1."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            n += int(local.split(":")[1], 16) == port and state == "01"
    return n


def wait_until(what: str, predicate, proc: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if reap(proc) is not None or hasattr(proc, "rusage"):
            raise RunFailed(f"exited ({proc.returncode}) before {what}: {tail(proc.log)}")
        if time.monotonic() > deadline:
            raise RunFailed(f"not {what} after {timeout:.0f} s")
        time.sleep(0.005)


def unread(fd: int) -> int:
    """Bytes in the pipe `fd` is an end of, not read yet."""
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder)


# -- the systems' commands ----------------------------------------------------------------------

def file_output(out: str) -> list[str]:
    return ["--output", "File", "--output_options", json.dumps({"filename": out})]


def command(scenario: str, system: str, cfg, ep: str, out_ep: str, out: str, n: int) -> tuple[list[str], dict]:
    """The system under test's command line and environment."""
    env = dict(os.environ)
    peer = [sys.executable, os.path.join(HERE, "pyzmq_orjson.py")]
    sub = scenario == "aggregator_sub"
    if system == "ceiling":
        if scenario == "stdin":
            return ["cat"], env
        if scenario == "distributor":
            return [cfg.bare_exe, "forward", ep, out_ep], env
        return [cfg.bare_exe, "recv", ep, str(n), *(["SUB", "1", str(int(QUIET * 1000))] if sub else [])], env
    if system == "writer":
        return [cfg.bare_exe, "write", ep, out, "SUB" if sub else "PULL"], env
    if system == "python":
        if scenario == "stdin":
            return [*peer, "stdin", out], env
        if scenario == "distributor":
            return [*peer, "forward", ep, out_ep], env
        return [*peer, "sub" if sub else "pull", ep, out, *(["--filter"] if scenario == "worker" else [])], env
    argv = [cfg.mp if system == "ours" else cfg.perl]
    if scenario == "stdin":
        return [*argv, "--input", "STDIN", *file_output(out)], env
    argv += ["--input", "ZeroMQ", "--input_options", json.dumps({"socket_bind": ep, "socket_type": "SUB" if sub else "PULL"})]
    if scenario == "distributor":
        return [*argv, "--output", "ZeroMQ", "--output_options",
                json.dumps({"socket_bind": out_ep, "socket_type": "PUSH"})], env
    if scenario == "worker" and system == "ours":
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        argv += ["--filter", "+trivial_filter.Passthrough"]
    return [*argv, *file_output(out)], env


# -- one run ------------------------------------------------------------------------------------

def run_once(scenario: str, system: str, cfg, n: int, senders: int = 1, size: int | None = None) -> Run:
    if scenario == "handler":
        return run_handler(system, cfg, n)
    tmp = cfg.tmp
    each = n // senders
    data, data_size = write_data(tmp, each, size)
    n, expect_size = each * senders, data_size * senders
    port, out_port = free_port(), free_port()
    ep, out_ep = f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{out_port}"
    out = os.path.join(tmp, "out.log")
    if os.path.exists(out):
        os.remove(out)
    argv, env = command(scenario, system, cfg, ep, out_ep, out, n)
    counts_itself = system == "ceiling" and scenario not in ("distributor", "stdin")
    timeout = 30 + n / FLOOR[system] * max(1.0, (size or 150) / 150)
    sut, feeder = None, None
    procs = []  # every process of the run but the system under test: senders, or the workers

    def start(name: str, argv: list[str], **kw) -> subprocess.Popen:
        log = os.path.join(tmp, f"{name}.log")
        with open(log, "wb") as f:
            p = spawn(argv, **{"stdout": f, "stderr": subprocess.STDOUT, **kw})
        p.log = log  # its stdout and stderr
        return p

    try:
        if scenario == "distributor":  # the two workers: one process, two sockets, that counts (not measured)
            procs.append(start("workers", [cfg.bare_exe, "recv", ">" + out_ep, str(n), "PULL", "2",
                                           str(int(QUIET * 1000))]))
        if scenario == "stdin":
            feeder = Feeder(data)
            with open(out, "wb") as of:
                sut = start("sut", argv, stdin=feeder.r, env=env, **({"stdout": of} if system == "ceiling" else {}))
            feeder.close("r")  # the system's now
            feeder.start_up(sut)
            expect_size += len(feeder.first)
        else:
            sut = start("sut", argv, env=env)
            wait_listening(port, sut, sut.log)
            if scenario == "distributor" and system != "perl":  # (Perl binds its output at its first message)
                wait_until("connected to by both workers", lambda: connections(out_port) >= 2, sut)
        cpu0 = proc_cpu(sut.pid) or 0
        if feeder:
            feeder.go()
        else:
            mode = ["pub", ep, data, str(n)] if scenario == "aggregator_sub" else ["send", ep, data]
            procs += [start(f"send{i}", [cfg.bare_exe, *mode]) for i in range(senders)]
        counter = sut if counts_itself else procs[0] if scenario == "distributor" else None
        t_end = wait_done(scenario, sut, procs, counter, feeder, out, expect_size, timeout)
        if feeder:
            feeder.join()
        senders_done([p for p in procs if p is not counter])
        peak_rss(sut)
        ru = finish(sut, None if scenario == "stdin" else signal.SIGTERM)
    finally:
        for p in [sut, *procs] if sut else procs:
            reap(p)
            stop(p)
        if feeder:
            feeder.close()
    if ru is None:
        raise RunFailed("its resource usage could not be had")
    if sut.returncode not in (0, -signal.SIGTERM):
        raise RunFailed(f"exited {sut.returncode}: {tail(sut.log)}")
    t_start = feeder.t_start if feeder else min(stamp(p.log, "t_start") for p in procs if p is not counter)
    if counter is not None:
        got, t_end = int(stamp(counter.log, "received")), stamp(counter.log, "t_end")
    else:
        got, got_size = count_lines(out) - (1 if feeder else 0), os.path.getsize(out)  # (the first line)
        os.remove(out)  # drops its dirty pages before the next run writes
        if got == n and got_size != expect_size:
            raise RunFailed(f"output has {got_size} bytes, expected {expect_size}")
    if got > n or (got < n and scenario not in LOSSY):
        raise RunFailed(f"{got:,} messages arrived of {n:,}")
    if got == 0:
        raise RunFailed("nothing arrived")
    cpu = ru.ru_utime + ru.ru_stime - cpu0 / TCK
    return Run(got, n, t_end - t_start, cpu, sut.peak)


def wait_done(scenario, sut, procs, counter, feeder, out, expect_size, timeout) -> float:
    """When the last message was written (or counted); RunFailed if something failed first."""
    deadline = time.monotonic() + timeout
    last_size, last_change = -1, time.monotonic()
    while True:
        now = time.monotonic()
        peak_rss(sut)
        if counter is not None:
            if reap(counter) is not None or hasattr(counter, "rusage"):
                return now  # (the counter's own timestamp is taken instead)
        else:
            size = os.path.getsize(out) if os.path.exists(out) else 0
            if size >= expect_size:
                return now
            if size != last_size:
                last_size, last_change = size, now
            senders_over = feeder.done.is_set() if feeder else all(reap(p) is not None for p in procs)
            if scenario in LOSSY and senders_over and now - last_change > QUIET:
                return last_change
        if counter is not sut and reap(sut) is not None:
            if not (scenario == "stdin" and sut.returncode == 0):
                raise RunFailed(f"exited ({sut.returncode}): {tail(sut.log)}")
        for p in procs:
            if p is not counter and reap(p) is not None and p.returncode != 0:
                raise RunFailed(f"{p.args[1]} failed ({p.returncode}): {tail(p.log)}")
        if feeder and feeder.error:
            raise RunFailed(f"writing its input: {feeder.error}")
        if now > deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s")
        time.sleep(POLL)


def senders_done(procs) -> None:
    """The senders linger until their queues are delivered: they end right after the receiver."""
    deadline = time.monotonic() + STOP_TIMEOUT
    for p in procs:
        while reap(p) is None and not hasattr(p, "rusage"):
            if time.monotonic() > deadline:
                raise RunFailed("a sender still running after the receiver had everything")
            time.sleep(POLL)
        if p.returncode != 0:
            raise RunFailed(f"a sender failed ({p.returncode}): {tail(p.log)}")


class Feeder:
    """Writes a file into a system's standard input: first one line (when the pipe is empty again,
    the system is up and reading), then, on go(), the rest from a thread."""

    def __init__(self, data: str):
        self.data, self.r, self.w = data, *os.pipe()
        with open(data, "rb") as f:
            self.first = f.readline()
        self.done, self.error, self.thread, self.t_start = threading.Event(), None, None, 0.0

    def start_up(self, sut) -> None:
        os.write(self.w, self.first)
        wait_until("reading its input", lambda: unread(self.w) == 0, sut)

    def go(self) -> None:
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.t_start = time.monotonic()
        self.thread.start()

    def _write(self) -> None:
        try:
            with open(self.data, "rb") as f:
                while chunk := f.read(1 << 20):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(self.w, view):]
        except OSError as e:
            self.error = e
        finally:
            self.close("w")
            self.done.set()

    def join(self) -> None:
        self.thread.join(STOP_TIMEOUT)

    def close(self, *ends: str) -> None:
        for end in ends or ("r", "w"):
            fd = getattr(self, end)
            if fd >= 0:
                setattr(self, end, -1)
                os.close(fd)


# -- the handler scenario -------------------------------------------------------------------------

def run_handler(system: str, cfg, n: int) -> Run:
    """One application process logs `n` records (after a warm-up) through the system's handler to
    an aggregator of ours (PULL -> Null output) that counts what arrived."""
    import log_handler

    warm = min(n, 5000)
    agg, app, ep = None, None, "-"
    try:
        if system not in ("ceiling", "stdlib"):
            try:
                agg, ep = log_handler.aggregator("PULL")
            except SystemExit as e:
                raise RunFailed(str(e)) from None
            children.append(agg)
        argv = ([cfg.perl_script, ep, str(n), str(warm)] if system == "perl" else
                [sys.executable, os.path.abspath(__file__), "--handler-child", system, ep, str(n), str(warm)])
        app = spawn(["perl", *argv] if system == "perl" else argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = app.communicate(timeout=30 + n / 5000)
        except subprocess.TimeoutExpired:
            raise RunFailed("the application timed out") from None
        if app.returncode != 0:
            raise RunFailed(f"the application failed ({app.returncode}): {err.decode(errors='replace')[-600:]}")
        r = json.loads(out.decode().strip().splitlines()[-1])
        received = r["logged"]
        if agg is not None:
            agg.terminate()
            try:
                _, agg_err = agg.communicate(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise RunFailed("the aggregator did not stop") from None
            found = re.search(rb"input ZeroMQ received=(\d+)", agg_err)
            if not found:
                raise RunFailed(f"the aggregator said no count: {agg_err.decode(errors='replace')[-600:]}")
            received = int(found.group(1))
    finally:
        for p in (app, agg):
            if p is not None:
                stop(p)
    if received > r["logged"]:
        raise RunFailed(f"{received} records arrived of {r['logged']}")
    # the warm-up's records count in the loss, not in the rate
    return Run(n - (r["logged"] - received), n, r["s_per_record"] * n, r["cpu_s"], r["peak_rss"])


def handler_child(system: str, endpoint: str, n: int, warm: int) -> None:
    """(In the application process.) Logs through the system's handler; prints what it measured."""
    import log_handler
    from pyzmq_orjson import ZmqJSONHandler

    from message_passing.logging import JSONFormatter, ZeroMQHandler

    if system == "ours":
        handler = ZeroMQHandler(connect=endpoint, socket_type="PUSH")
    elif system == "python":
        handler = ZmqJSONHandler(endpoint)
    elif system == "stdlib":
        handler = logging.StreamHandler(open(os.devnull, "w"))
        handler.setFormatter(JSONFormatter())
    else:
        handler = logging.NullHandler()
    log = log_handler.make_logger(system, handler)
    log_handler.run(log, warm)
    cpu0 = time.process_time()
    s = log_handler.run(log, n)
    cpu = time.process_time() - cpu0
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    handler.close()
    print(json.dumps({"s_per_record": s, "cpu_s": cpu, "peak_rss": peak, "logged": n + warm}))


# -- the whole run ------------------------------------------------------------------------------

def plan(cfg) -> list[dict]:
    """Every cell of both tables: what runs, and how."""
    cells = []
    for sc in cfg.scenarios:
        systems = [s for s in SYSTEMS if s in cfg.systems and (s != "writer" or sc in WRITES_A_FILE)] + \
            (["stdlib"] if sc == "handler" and "ours" in cfg.systems else [])
        for system in systems:
            cell = {"table": "main", "scenario": sc, "system": system, "senders": 1, "size": None,
                    "n": cfg.handler_records if sc == "handler" else cfg.messages,
                    "what": WHAT.get((system, sc)) or WHAT[(system, "*")], "runs": [], "failures": []}
            if system == "perl":
                cell["n"] = min(cell["n"], cfg.perl_messages)
                if not cfg.perl_ok:
                    cell["note"] = "not installed"
            cells.append(cell)
    if "aggregator_pull" in cfg.scenarios:
        for senders, size in [(k, None) for k in cfg.senders if k != 1] + [(1, s) for s in cfg.sizes]:
            for system in ("ours", "ceiling", "writer", "python"):
                if system in cfg.systems:
                    n = cfg.messages if size is None else max(1000, min(cfg.messages, cfg.messages * 300 // size))
                    cells.append({"table": "scaling", "scenario": "aggregator_pull", "system": system,
                                  "senders": senders, "size": size, "n": n,
                                  "what": WHAT.get((system, "aggregator_pull")) or WHAT[(system, "*")],
                                  "runs": [], "failures": []})
    return cells


def measure(cfg, cells: list[dict]) -> None:
    active = [c for c in cells if "note" not in c]
    for rnd in range(cfg.repeat):
        k = rnd % max(1, len(active))
        for cell in active[k:] + active[:k]:  # rotated, so that no cell always follows the same one
            if cell["system"] == "perl" and rnd >= cfg.perl_repeat:
                continue
            label = label_of(cell)
            try:
                r = run_once(cell["scenario"], cell["system"], cfg, cell["n"], cell["senders"], cell["size"])
            except Exception as e:  # RunFailed, or the harness's own fault: reported, and the run goes on
                if not isinstance(e, RunFailed):
                    e = f"{type(e).__name__}: {e}"
                cell["failures"].append(f"round {rnd + 1}: {e}")
                print(f"round {rnd + 1} {label:40s} FAILED: {e}", flush=True)
                continue
            cell["runs"].append(r)
            lost = f", lost {r.sent - r.received:,}" if r.received != r.sent else ""
            print(f"round {rnd + 1} {label:40s} {r.received / r.seconds:12,.0f} msg/s{lost}", flush=True)


def label_of(cell) -> str:
    extra = (f" {cell['senders']} senders" if cell["senders"] != 1 else "") + \
        (f" {cell['size']} B" if cell["size"] else "")
    return f"{cell['scenario']}{extra} / {cell['system']}"


def summarise(cells: list[dict]) -> list[dict]:
    rows = []
    for c in cells:
        runs = c["runs"]
        row = {k: c[k] for k in ("table", "scenario", "system", "what", "senders", "size")}
        row.update(messages_per_run=c["n"], runs=len(runs), failed_runs=c["failures"], note=c.get("note"),
                   msgs_per_s=None, cpu_s_per_million=None, peak_rss_mb=None, lost=None, sent=None,
                   ratio_to_ceiling=None)
        if runs:
            row.update(msgs_per_s=statistics.median(r.received / r.seconds for r in runs),
                       cpu_s_per_million=statistics.median(r.cpu_s / r.received * 1e6 for r in runs),
                       peak_rss_mb=max(r.peak_rss for r in runs) / 2**20,
                       lost=sum(r.sent - r.received for r in runs), sent=sum(r.sent for r in runs))
        elif not row["note"]:
            row["note"] = "failed" if c["failures"] else "not run"
        rows.append(row)
    for row in rows:
        ceiling = next((r for r in rows if r["system"] == "ceiling" and all(
            r[k] == row[k] for k in ("table", "scenario", "senders", "size"))), None)
        if row["msgs_per_s"] and ceiling and ceiling["msgs_per_s"]:
            row["ratio_to_ceiling"] = row["msgs_per_s"] / ceiling["msgs_per_s"]
    return rows


def goals(rows: list[dict]) -> list[dict]:
    def rate(scenario, system):
        return next((r["msgs_per_s"] for r in rows if r["table"] == "main" and r["scenario"] == scenario
                     and r["system"] == system), None)

    out = []

    def goal(text, a, b, target):
        value = a / b if a and b else None
        out.append({"goal": text, "value": value, "target": target,
                    "met": None if value is None else value >= target})

    for sc in ("aggregator_pull", "aggregator_sub"):
        goal(f"{sc}: ours / ceiling", rate(sc, "ours"), rate(sc, "ceiling"), GOALS["ceiling"])
        # (not a goal of the issue: the same, less what writing the file costs any aggregator)
        goal(f"{sc}: ours / writer", rate(sc, "ours"), rate(sc, "writer"), GOALS["ceiling"])
    goal("worker: ours / python", rate("worker", "ours"), rate("worker", "python"), GOALS["python"])
    for sc in SCENARIOS:
        if rate(sc, "perl"):
            goal(f"{sc}: ours / perl", rate(sc, "ours"), rate(sc, "perl"), GOALS["perl"])
    return out


def fmt(v, spec, empty="–") -> str:
    return empty if v is None else format(v, spec)


def markdown(rows: list[dict], goal_list: list[dict]) -> str:
    head = "| msg/s (median) | CPU s / M msgs | peak RSS MB | lost / sent | × ceiling | runs |"
    rule = "|---:|---:|---:|---:|---:|---|"

    def cells(r):
        lost = "–" if r["lost"] is None else f"{r['lost']:,} / {r['sent']:,}"
        runs = f"{r['runs']} × {r['messages_per_run']:,}" + (f" ({len(r['failed_runs'])} failed)"
                                                              if r["failed_runs"] else "")
        rate = fmt(r["msgs_per_s"], ",.0f", r["note"] or "–")
        return (f"{rate} | {fmt(r['cpu_s_per_million'], '.2f')} | {fmt(r['peak_rss_mb'], '.1f')} | {lost} | "
                f"{fmt(r['ratio_to_ceiling'], '.2f')} | {runs} |")

    lines = ["| scenario | system | what " + head, "|---|---|---" + rule]
    for r in rows:
        if r["table"] == "main":
            lines.append(f"| {r['scenario']} | {r['system']} | {r['what']} | " + cells(r))
    scaling = [r for r in rows if r["table"] == "scaling" or (
        r["table"] == "main" and r["scenario"] == "aggregator_pull" and r["system"] in ("ours", "ceiling", "writer", "python"))]
    if any(r["table"] == "scaling" for r in rows):
        lines += ["", "How cost grows: aggregator_pull (PULL -> File)", "",
                  "| senders | message bytes | system | MB/s " + head, "|---:|---:|---|---:" + rule]
        scaling.sort(key=lambda r: (r["size"] is not None, r["size"] or 0, r["senders"], SYSTEMS.index(r["system"])))
        for r in scaling:
            mb = fmt(r["msgs_per_s"] and r["msgs_per_s"] * (r["size"] or 150) / 1e6, ".0f")
            lines.append(f"| {r['senders']} | {r['size'] or '~150'} | {r['system']} | {mb} | " + cells(r))
    failed = [f"{label_of(r)} {why}" for r in rows for why in r["failed_runs"]]
    lines += ["", "| goal | value | target | |", "|---|---:|---:|---|"]
    for g in goal_list:
        verdict = "not measured" if g["met"] is None else "met" if g["met"] else "**missed**"
        lines.append(f"| {g['goal']} | {fmt(g['value'], '.2f')} | ≥ {g['target']} | {verdict} |")
    if failed:
        lines += ["", "Failed runs (not in the medians):", ""] + [f"- {f}" for f in failed]
    return "\n".join(lines)


def chart(rows: list[dict], path: str) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install '.[bench]')"
    main = [r for r in rows if r["table"] == "main"]
    scenarios = list(dict.fromkeys(r["scenario"] for r in main))
    systems = [s for s in (*SYSTEMS, "stdlib") if any(r["system"] == s for r in main)]
    fig, ax = plt.subplots(figsize=(11, 5))
    width = 0.8 / max(1, len(systems))
    for i, system in enumerate(systems):
        xs, ys = [], []
        for j, sc in enumerate(scenarios):
            r = next((r for r in main if r["scenario"] == sc and r["system"] == system), None)
            if r and r["msgs_per_s"]:
                xs.append(j + (i - (len(systems) - 1) / 2) * width)
                ys.append(r["msgs_per_s"])
        ax.bar(xs, ys, width, label=system)
    ax.set_yscale("log")
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel("messages per second (log scale)")
    ax.set_title("message-passing and its peers, 150-byte JSON log lines, tcp 127.0.0.1")
    ax.legend()
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"chart: {path}"


def record(text: str, header: str) -> None:
    """Replaces (or adds) the harness's section of RESULTS.md, before the other sections."""
    with open(RESULTS) as f:
        doc = f.read()
    title = "# The harness: every scenario side by side (bench/run.py)"
    start = doc.find(title)
    if start >= 0:
        end = doc.find("\n# ", start + len(title))
        doc = doc[:start] + doc[end + 1 if end >= 0 else len(doc):]
    section = f"{title}\n\n{header}\n{text}\n\n"
    with open(RESULTS, "w") as f:
        f.write(section + doc.lstrip("\n"))


def at_least(least: int):
    """An argparse type: a whole number no smaller than `least`."""
    def check(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if n < least:
            raise argparse.ArgumentTypeError(f"{n} is less than {least}")
        return n
    return check


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="What is measured, and how: see the top of bench/run.py.")
    ap.add_argument("--quick", action="store_true", help="fewer and smaller runs: about half a minute")
    ap.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH, with PATH's .md and .png")
    ap.add_argument("--record", action="store_true", help="put the run in bench/RESULTS.md (and RESULTS.png)")
    ap.add_argument("--messages", type=at_least(1), help="messages a run (default 1,000,000; --quick 100,000)")
    ap.add_argument("--repeat", type=at_least(1), help="rounds (default 5; --quick 3)")
    ap.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS), metavar="S",
                    help=f"scenarios to run (default: all of {', '.join(SCENARIOS)})")
    ap.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS), metavar="S",
                    help=f"systems to run (default: all of {', '.join(SYSTEMS)})")
    ap.add_argument("--senders", nargs="*", type=at_least(1), default=list(SENDERS), help="senders of the second table")
    ap.add_argument("--sizes", nargs="*", type=at_least(MIN_LINE_BYTES), default=list(SIZES),
                    help=f"message bytes of the second table (at least {MIN_LINE_BYTES})")
    ap.add_argument("--mp", default=os.path.join(os.path.dirname(sys.executable), "message-passing"),
                    help="our CLI (default: message-passing next to this Python)")
    ap.add_argument("--perl", default="/usr/bin/message-pass", help="the Perl original's CLI")
    ap.add_argument("--handler-child", nargs=4, help=argparse.SUPPRESS)
    cfg = ap.parse_args()
    if cfg.record and (cfg.quick or cfg.messages or cfg.repeat or cfg.scenarios != list(SCENARIOS)
                       or cfg.systems != list(SYSTEMS) or cfg.senders != list(SENDERS) or cfg.sizes != list(SIZES)):
        ap.error("--record records full runs only (no --quick, --messages, --repeat or subsets)")
    json_dir = cfg.json and os.path.dirname(os.path.abspath(cfg.json))
    if json_dir and not os.access(json_dir, os.W_OK):
        ap.error(f"--json: cannot write in {json_dir}")  # known before the run
    if cfg.handler_child:
        system, ep, n, warm = cfg.handler_child
        handler_child(system, ep, int(n), int(warm))
        return 0
    full = not cfg.quick
    cfg.messages = cfg.messages or (1_000_000 if full else 100_000)
    cfg.repeat = cfg.repeat or (5 if full else 3)
    cfg.perl_messages = max(1000, min(cfg.messages, 200_000 if full else 20_000))
    cfg.perl_repeat = min(cfg.repeat, 3 if full else 1)
    cfg.handler_records = max(1000, cfg.messages // 10)
    cfg.perl_ok = os.access(cfg.perl, os.X_OK)
    cfg.perl_script = os.path.join(HERE, "log_dispatch_bench.pl")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the clean-up below runs
    cfg.tmp = tempfile.mkdtemp(prefix="mp-run-")
    try:
        cfg.libzmq = find_libzmq()
        cfg.bare_exe = build_bare(cfg.tmp, cfg.libzmq)
        cfg.cases = ["perl_file"] if cfg.perl_ok and "perl" in cfg.systems else []  # for bench.versions
        header = (f"- machine: {machine()}\n- versions: {versions(cfg)}\n"
                  f"- {cfg.messages:,} messages a run ({cfg.perl_messages:,} for Perl; "
                  f"{cfg.handler_records:,} records for the handler), {cfg.repeat} rounds "
                  f"({cfg.perl_repeat} with Perl), interleaved")
        print(header, flush=True)
        cells = plan(cfg)
        started = time.monotonic()
        measure(cfg, cells)
        rows = summarise(cells)
        goal_list = goals(rows)
        text = markdown(rows, goal_list)
        print(f"\n{text}\n\n({time.monotonic() - started:.0f} s)")
        for g in goal_list:
            verdict = "not measured" if g["met"] is None else "met" if g["met"] else "MISSED"
            print(f"goal {g['goal']} ≥ {g['target']}: {fmt(g['value'], '.2f')}: {verdict}")
        command = shlex.join(["python", "bench/run.py", *sys.argv[1:]])
        if cfg.json:
            stem = os.path.splitext(cfg.json)[0]
            with open(cfg.json, "w") as f:
                json.dump({"command": command, "machine": machine(), "versions": versions(cfg),
                           "settings": {k: getattr(cfg, k) for k in ("messages", "repeat", "perl_messages",
                                                                     "perl_repeat", "handler_records")},
                           "rows": rows, "goals": goal_list}, f, indent=1)
            with open(stem + ".md", "w") as f:
                f.write(header + "\n\n" + text + "\n")
            print(f"results: {cfg.json}, {stem}.md; " + chart(rows, stem + ".png"))
        elif not cfg.record:
            print("(no chart without --json PATH or --record)")
        if cfg.record:
            when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            png = os.path.join(HERE, "RESULTS.png")
            note = chart(rows, png)
            figure = "\n![messages per second](RESULTS.png)\n" if note.startswith("chart:") else ""
            record(text + figure, f"Run of {when}. What is measured, and how: see the top of `bench/run.py`.\n\n"
                                  f"- command (from the repository root, in the dev virtualenv): `{command}`\n"
                                  + header + "\n")
            print(f"recorded in {RESULTS}; {note}")
        return 1 if any(c["failures"] for c in cells) else 0
    finally:
        for p in list(children):
            reap(p)
            stop(p)
        shutil.rmtree(cfg.tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # (every child was stopped on the way out)
        sys.exit("interrupted")
