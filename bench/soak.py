#!/usr/bin/env python3
"""Soak: two aggregators take a steady stream of JSON log lines for a set time (default 10 minutes)
while their memory (RSS) and CPU are sampled; RSS must level off, and every message must arrive.

    python bench/soak.py [--minutes 10] [--rate N] [--interval S] [--rotate S] [--record]

Both aggregators run at once, each a real `message-passing` process that binds a ZeroMQ SUB
socket on tcp://127.0.0.1 and writes to a File, with its error chain to another File:

- `native`: no filter, so that the core moves every message (Python runs only for error records);
- `pyfilter`: `--filter +soak_filter.Soak` (bench/soak_filter.py), so that every message goes
  through Python as a dict: the path that has memory of its own.

One sender process (bench/soak_sender.py: pyzmq, XPUB connected to both, never dropping) sends
each message to both, --rate messages a second, ~150 bytes each, of many shapes, and some that
are not messages (the error chain records them) or that the filter drops or fails on. It knows
exactly how many of each it sent, so that at the end each aggregator's output and error files
must hold exactly the lines expected of it.

Every --interval seconds each aggregator's VmRSS (and RssAnon, threads, open descriptors) is read
from /proc/PID/status and its CPU (utime + stime) from /proc/PID/stat, with the sender's CPU and
the rest of the machine's (other processes and the kernel: another session's tests show there).
Every --rotate seconds each output and error file is moved away, the aggregator is sent SIGHUP
(every other time; in between it is left to notice the move on its own, as it does before each
write), and once the aggregator holds the moved file open no more, its lines are counted and it is
deleted: the disk does not fill, and log rotation is soaked too.

At the end: SIGTERM, exit status 0, the counters of its exit line, and the verdict on RSS, for
each aggregator, over the time the sender sent (D):

- the largest RSS of the last third of D may exceed that of the middle third by no more than the
  tolerance, max(--tolerance-mib, --tolerance-pct of it), and
- the least-squares slope of RSS over the second half of D, times D/2, must stay within the same
  tolerance;

and likewise the descriptors must not grow (a leak at rotation would show there). Stdlib + pyzmq.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import (  # noqa: E402
    RESULTS,
    RunFailed,
    children,
    count_lines,
    find_libzmq,
    free_port,
    machine,
    spawn,
    stop,
    tail,
    versions,
    wait_listening,
)

CONFIGS = {
    "native": ("message-passing ZeroMQ(SUB) -> File, errors -> File (the core moves every message)", []),
    "pyfilter": ("the same with --filter +soak_filter.Soak (every message a Python dict)",
                 ["--filter", "+soak_filter.Soak"]),
}
# What each aggregator writes of the sender's categories (see soak_sender.py).
EXPECTED = {
    "native": {"out": ("ok", "drop", "boom"), "err": ("bad",)},
    "pyfilter": {"out": ("ok",), "err": ("bad", "boom")},
}
MAX_SIZE = 4096           # the aggregators' max_message_size: the sender's oversize messages exceed it
START_TIMEOUT = 60.0      # s for an aggregator to listen, and for the sender to start sending
STOP_TIMEOUT = 15.0       # s for a process to exit once asked to (an aggregator drains within 3 s)
RELEASE_TIMEOUT = 30.0    # s for an aggregator to let go of a file moved away
DRAIN_QUIET = 3.0         # s without growth of the output files that means everything has arrived
DRAIN_TIMEOUT = 120.0     # s at most to wait for that after the sender is done
MIB = 1024 * 1024
TCK = os.sysconf("SC_CLK_TCK")


class SoakFailed(RunFailed):
    """(bench.py's spawn, stop and wait_listening, shared here, raise RunFailed.)"""


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# -- /proc --------------------------------------------------------------------------------------

def proc_cpu(pid: int) -> int | None:
    """utime + stime in clock ticks, all threads; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5), counted after the name


def proc_mem(pid: int) -> dict:
    """VmRSS, RssAnon (bytes), Threads and open descriptors."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
            elif key == "Threads":
                out[key] = int(value)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def machine_busy() -> int:
    """Ticks the CPUs spent not idle, since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]  # user .. steal, less idle and iowait


def all_cpu() -> dict[int, int]:
    """Every process's CPU ticks."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            t = proc_cpu(int(name))
            if t is not None:
                out[int(name)] = t
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return f"pid {pid}"
    if not text:  # a kernel thread
        try:
            with open(f"/proc/{pid}/comm") as f:
                return f"[{f.read().strip()}]"
        except OSError:
            return f"pid {pid}"
    return text[:100]


class Meter:
    """CPU of our processes and of everything else, between calls."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids, soak=os.getpid())
        self.others: dict[str, float] = {}  # command line -> CPU seconds, of busy other processes
        self.rest_s = 0.0                   # CPU seconds the rest of the machine used
        self._t, self._busy, self._all = time.monotonic(), machine_busy(), all_cpu()

    def read(self) -> dict:
        t, busy, now = time.monotonic(), machine_busy(), all_cpu()
        dt = max(t - self._t, 1e-9)
        ours = {k: (now.get(p, self._all.get(p, 0)) - self._all.get(p, 0)) / TCK for k, p in self.pids.items()}
        rest = max(0.0, (busy - self._busy) / TCK - sum(ours.values()))
        self.rest_s += rest
        mine = set(self.pids.values())
        for pid, ticks in now.items():
            d = (ticks - self._all.get(pid, ticks)) / TCK
            if pid not in mine and d >= 0.05 * dt:  # 5% of a CPU or more: worth a name
                key = cmdline(pid)
                self.others[key] = self.others.get(key, 0.0) + d
        self._t, self._busy, self._all = t, busy, now
        return {"dt": dt, "pct": {k: 100 * v / dt for k, v in ours.items()}, "rest_pct": 100 * rest / dt}


# -- one aggregator -----------------------------------------------------------------------------

class Aggregator:
    def __init__(self, name: str, args, tmp: str) -> None:
        self.name, self.tmp = name, tmp
        self.port = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.paths = {"out": os.path.join(tmp, f"{name}.out.log"), "err": os.path.join(tmp, f"{name}.err.log")}
        self.log = os.path.join(tmp, f"{name}.stderr")
        self.lines = {"out": 0, "err": 0}   # lines counted in rotated files
        self.bytes = {"out": 0, "err": 0}
        self.rotations = 0
        self.problems: list[str] = []
        self.samples: list[dict] = []
        env = dict(os.environ)
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        self.argv = [args.mp, "--input", "ZeroMQ", "--input_options",
                     json.dumps({"socket_bind": self.endpoint, "max_message_size": MAX_SIZE}),
                     "--output", "File", "--output_options", json.dumps({"filename": self.paths["out"]}),
                     "--error", "File", "--error_options", json.dumps({"filename": self.paths["err"]}),
                     *CONFIGS[name][1]]
        with open(self.log, "wb") as log:
            self.proc = spawn(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def sample(self, t: float, phase: str) -> dict:
        s = {"t": t, "phase": phase, **proc_mem(self.pid), "cpu_s": (proc_cpu(self.pid) or 0) / TCK}
        self.samples.append(s)
        return s

    def holds(self, path: str) -> bool:
        """Whether the aggregator has `path` open (a moved file's descriptor names its new path)."""
        fd_dir = f"/proc/{self.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == path:
                    return True
            except OSError:
                pass
        return False

    def rotate(self, hup: bool) -> str:
        """Moves the output and error files away, waits until the aggregator has let go of them,
        counts their lines and deletes them."""
        self.rotations += 1
        moved = []
        for kind, path in self.paths.items():
            if os.path.exists(path):
                dst = f"{path}.{self.rotations}"
                os.rename(path, dst)
                moved.append((kind, dst))
        if hup:
            os.kill(self.pid, signal.SIGHUP)
        began = time.monotonic()
        for kind, dst in moved:
            while self.holds(dst):
                if self.proc.poll() is not None:
                    raise SoakFailed(f"{self.name} exited ({self.proc.returncode}) during rotation: {tail(self.log)}")
                if time.monotonic() - began > RELEASE_TIMEOUT:
                    self.problems.append(f"rotation {self.rotations} ({'SIGHUP' if hup else 'no signal'}): "
                                         f"{os.path.basename(dst)} still open after {RELEASE_TIMEOUT:.0f} s")
                    break
                time.sleep(0.01)
            else:
                self._take(kind, dst, f"rotation {self.rotations}")
        return f"{time.monotonic() - began:.2f} s"

    def _take(self, kind: str, path: str, what: str) -> None:
        size = os.path.getsize(path)
        self.lines[kind] += count_lines(path)
        self.bytes[kind] += size
        problem = check_lines(path, size)
        if problem:
            self.problems.append(f"{what}: {os.path.basename(path)}: {problem}")
        os.remove(path)

    def finish(self) -> None:
        """After the aggregator exited: the files it was writing last."""
        for kind, path in self.paths.items():
            if os.path.exists(path):
                self._take(kind, path, "at the end")

    def sizes(self) -> int:
        return sum(os.path.getsize(p) for p in self.paths.values() if os.path.exists(p))


def check_lines(path: str, size: int) -> str | None:
    """The file ends with a newline, and the lines at its head and tail are each a JSON document:
    a write torn at a rotation would show there."""
    if size == 0:
        return None
    with open(path, "rb") as f:
        head = f.read(65536)
        f.seek(max(0, size - 65536))
        end = f.read()
    if not end.endswith(b"\n"):
        return "does not end with a newline (a torn line)"
    lines = head.split(b"\n")[:-1]  # the last piece is empty, or a partial line
    if size > 65536:
        lines += end.split(b"\n")[1:-1]  # the first piece may be a partial line
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            return f"a line is not JSON: {line[:120]!r}"
    return None


def exit_counters(log: str) -> dict[str, dict[str, int]]:
    """The counters of the aggregator's exit line, e.g. {"input ZeroMQ": {"received": 5, ...}}."""
    found = {}
    with open(log, errors="replace") as f:
        lines = [x for x in f if x.startswith("message-passing: input ")]
    if lines:
        for part in lines[-1].split(":", 1)[1].split(";"):
            words = part.split()
            counts = {k: int(v) for k, v in (w.split("=", 1) for w in words if re.fullmatch(r"\w+=\d+", w))}
            role = " ".join(w for w in words if "=" not in w)
            found[role] = counts
    return found


# -- the verdict --------------------------------------------------------------------------------

def slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def judge(agg: Aggregator, duration: float, args) -> dict:
    soak = [s for s in agg.samples if s["phase"] == "send"]
    mid = [s for s in soak if duration / 3 <= s["t"] < 2 * duration / 3]
    last = [s for s in soak if s["t"] >= 2 * duration / 3]
    half = [s for s in soak if s["t"] >= duration / 2]
    v = {"ok": False}
    if len(mid) < 2 or len(last) < 2 or len(half) < 3:
        v["why"] = f"too few samples (middle third {len(mid)}, last third {len(last)}): lower --interval"
        return v
    v["mid_max"] = max(s["VmRSS"] for s in mid)
    v["last_max"] = max(s["VmRSS"] for s in last)
    v["tol"] = max(args.tolerance_mib * MIB, args.tolerance_pct / 100 * v["mid_max"])
    v["growth"] = v["last_max"] - v["mid_max"]
    v["slope"] = slope([(s["t"], s["VmRSS"]) for s in half])  # bytes a second
    v["fitted"] = v["slope"] * (half[-1]["t"] - half[0]["t"])
    v["fds_mid"], v["fds_last"] = max(s["fds"] for s in mid), max(s["fds"] for s in last)
    v["rss_ok"] = v["growth"] <= v["tol"] and v["fitted"] <= v["tol"]
    v["fds_ok"] = v["fds_last"] <= v["fds_mid"]
    v["ok"] = v["rss_ok"] and v["fds_ok"]
    return v


def mib(b: float) -> str:
    return f"{b / MIB:.1f}"


# -- main ---------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to send (default 10)")
    ap.add_argument("--rate", type=float, default=50_000,
                    help="messages a second to each aggregator (default 50,000)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default 10)")
    ap.add_argument("--rotate", type=float, default=60.0,
                    help="seconds between rotations of the output files (default 60)")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS), metavar="CONFIG",
                    help=f"aggregators to run at once (default: {' '.join(CONFIGS)})")
    ap.add_argument("--tolerance-mib", type=float, default=2.0,
                    help="RSS growth allowed, MiB (default 2; the larger of this and --tolerance-pct)")
    ap.add_argument("--tolerance-pct", type=float, default=5.0,
                    help="RSS growth allowed, %% of the middle third's largest (default 5)")
    ap.add_argument("--mp", default=os.path.join(os.path.dirname(sys.executable), "message-passing"),
                    help="our CLI (default: message-passing next to this Python)")
    ap.add_argument("--tmpdir", help="where the temporary directory goes (default: the system's)")
    ap.add_argument("--csv", help="also write every sample to this CSV file")
    ap.add_argument("--record", action="store_true", help="append the run to bench/RESULTS.md")
    args = ap.parse_args()
    if args.rotate <= 0 or args.interval <= 0 or args.minutes <= 0 or args.rate <= 0:
        ap.error("--minutes, --rate, --interval and --rotate must be positive")
    seconds = args.minutes * 60

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="mp-soak-", dir=args.tmpdir)
    aggs: list[Aggregator] = []
    failures: list[str] = []
    try:
        args.libzmq, args.cases = find_libzmq(), []
        args.versions = versions(args)  # now: the tree may move on while the soak runs
        print(f"# {machine()}\n# {args.versions}\n# {args.minutes:g} min at {args.rate:,.0f} msg/s to each of "
              f"{', '.join(args.configs)} (at once, one sender); samples every {args.interval:g} s, "
              f"rotation every {args.rotate:g} s; temp dir {tmp}", flush=True)
        for name in args.configs:
            aggs.append(Aggregator(name, args, tmp))
        for a in aggs:
            wait_listening(a.port, a.proc, a.log)
        rows: list[dict] = []
        meter = Meter({a.name: a.pid for a in aggs})
        t0 = None

        def take(phase: str) -> None:
            mono = time.monotonic()
            t = mono - t0 if t0 is not None else None
            cpu = meter.read()
            st = read_json(status_path) or {}
            row = {"t": t, "mono": mono, "phase": phase, "sent": st.get("sent", 0), "sent_at": st.get("t"),
                   "sender_pct": cpu["pct"].get("sender", 0.0), "rest_pct": cpu["rest_pct"]}
            parts = []
            for a in aggs:
                s = a.sample(t, phase)
                s["pct"] = cpu["pct"][a.name]
                row[a.name] = s
                parts.append(f"{a.name} rss {mib(s['VmRSS'])}M anon {mib(s['RssAnon'])}M fds {s['fds']} "
                             f"cpu {s['cpu_s']:.1f}s {s['pct']:4.1f}%")
            prev = rows[-1] if rows else {}
            rate = ""
            if prev.get("sent_at") and row["sent_at"] and row["sent_at"] > prev["sent_at"]:
                rate = f" ({(row['sent'] - prev['sent']) / (row['sent_at'] - prev['sent_at']):,.0f}/s)"
            rows.append(row)
            print(f"t={'before' if t is None else f'{t:.0f}s':>7} {phase:5s} " + " | ".join(parts)
                  + f" | sender {row['sender_pct']:4.1f}% sent {row['sent']:,}{rate}"
                  + f" | rest of machine {row['rest_pct']:4.1f}%", flush=True)

        status_path = os.path.join(tmp, "sender.json")
        take("start")  # before anything is sent
        sender_log = os.path.join(tmp, "sender.stderr")
        with open(sender_log, "wb") as sl:
            sender = spawn([sys.executable, os.path.join(HERE, "soak_sender.py"),
                            "--connect", ",".join(a.endpoint for a in aggs), "--rate", str(args.rate),
                            "--seconds", str(seconds), "--status", status_path, "--max-size", str(MAX_SIZE)],
                           stdout=sl, stderr=subprocess.STDOUT)
        meter.pids["sender"] = sender.pid  # counted from 0: all its CPU
        # t = 0 when the sender's first message goes.
        deadline = time.monotonic() + START_TIMEOUT
        while not (st := read_json(status_path) or {}).get("t_start"):
            if sender.poll() is not None:
                raise SoakFailed(f"sender exited ({sender.returncode}) before sending: {tail(sender_log)}")
            if time.monotonic() > deadline:
                raise SoakFailed(f"sender not sending after {START_TIMEOUT:.0f} s: {tail(sender_log)}")
            time.sleep(0.02)
        t0 = time.monotonic() - (time.time() - st["t_start"])
        rows[0]["t"] = rows[0]["mono"] - t0
        for a in aggs:
            a.samples[0]["t"] = rows[0]["t"]
        next_sample, next_rotate, hup = t0 + args.interval, t0 + args.rotate, True
        end_by = t0 + seconds + 120  # the sender stops on its own at t0 + seconds, then lingers
        while True:
            for a in aggs:
                if a.proc.poll() is not None:
                    raise SoakFailed(f"{a.name} exited ({a.proc.returncode}) while soaking: {tail(a.log)}")
            st = read_json(status_path) or {}
            if sender.poll() is not None or st.get("done"):
                break
            now = time.monotonic()
            if now > end_by:
                raise SoakFailed(f"sender still sending {now - t0 - seconds:.0f} s after its time: {st}")
            if now >= next_rotate and now - t0 < seconds - 5:
                took = [f"{a.name} {a.rotate(hup)}" for a in aggs]
                print(f"t={now - t0:6.0f}s rotated ({'SIGHUP' if hup else 'no signal'}): "
                      f"{', '.join(took)}", flush=True)
                hup = not hup
                next_rotate += args.rotate
            if now >= next_sample:
                take("send")
                while next_sample <= time.monotonic():
                    next_sample += args.interval
            time.sleep(max(0.01, min(0.5, next_sample - time.monotonic(), next_rotate - time.monotonic())))
        try:
            sender.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise SoakFailed("sender did not exit after it was done") from None
        st = read_json(status_path) or {}
        if sender.returncode != 0 or not st.get("done"):
            raise SoakFailed(f"sender failed ({sender.returncode}): {st.get('error') or tail(sender_log)}")
        if time.monotonic() - rows[-1]["mono"] > args.interval / 2:
            take("send")  # the last sample of the soak: RSS at the end of sending
        duration = st["t_end"] - st["t_start"]

        # Everything sent has left the sender; wait until the files stop growing, then stop.
        began, last, quiet_since = time.monotonic(), None, time.monotonic()
        while time.monotonic() - quiet_since < DRAIN_QUIET:
            if time.monotonic() - began > DRAIN_TIMEOUT:
                failures.append(f"the output files still grew {DRAIN_TIMEOUT:.0f} s after the sender was done")
                break
            size = [a.sizes() for a in aggs]
            if size != last:
                last, quiet_since = size, time.monotonic()
            time.sleep(0.2)
        take("end")
        for a in aggs:
            a.proc.terminate()
        for a in aggs:
            try:
                a.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                failures.append(f"{a.name} did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM")
                a.proc.kill()
                a.proc.wait(STOP_TIMEOUT)
            children.remove(a.proc)
            a.finish()

        # -- the verdict --
        by, sent = st["by"], st["sent"]
        print(f"\nsent {sent:,} messages to each aggregator in {duration:.1f} s ({sent / duration:,.0f} msg/s): "
              + ", ".join(f"{k} {v:,}" for k, v in by.items())
              + f"; sender stalls {st['stalls']} ({st['stall_s']:.2f} s), most behind {st['max_lag_s']:.3f} s, "
              f"linger {st.get('linger_s', 0):.2f} s")
        results = []
        for a in aggs:
            want = {k: sum(by[c] for c in cats) for k, cats in EXPECTED[a.name].items()}
            v = judge(a, duration, args)
            counters = exit_counters(a.log)
            notes = list(a.problems)
            if a.proc.returncode != 0:
                notes.append(f"exit status {a.proc.returncode}")
            received = counters.get("input ZeroMQ", {}).get("received")
            if received != sent:
                notes.append(f"exit line says received={received}, sent {sent}")
            other = [line.strip() for line in open(a.log, errors="replace")
                     if line.strip() and not line.startswith("message-passing: input ")]
            if other:
                notes.append("on its stderr: " + " / ".join(other[:5]))
            delivered = a.lines == want
            if not delivered:
                notes.append(f"lines out {a.lines['out']:,} (expected {want['out']:,}), "
                             f"err {a.lines['err']:,} (expected {want['err']:,})")
            send = [s for s in a.samples if s["phase"] == "send"]
            cpu_s = send[-1]["cpu_s"] - a.samples[0]["cpu_s"]
            ok = v["ok"] and delivered and a.proc.returncode == 0 and not notes
            results.append({"name": a.name, "v": v, "want": want, "lines": dict(a.lines), "notes": notes,
                            "counters": counters, "cpu_s": cpu_s, "ok": ok, "rotations": a.rotations,
                            "rss": (a.samples[0]["VmRSS"], send[0]["VmRSS"], nearest(send, duration / 2)["VmRSS"],
                                    send[-1]["VmRSS"]),
                            "hwm": a.samples[-1].get("VmHWM", 0), "exit": a.proc.returncode})
            print(verdict_line(results[-1], sent))
        rest_mean = 100 * meter.rest_s / max(rows[-1]["t"] - rows[0]["t"], 1e-9)
        rest_max = max(r["rest_pct"] for r in rows[1:]) if len(rows) > 1 else 0.0
        others = sorted(meter.others.items(), key=lambda kv: -kv[1])[:5]
        print(f"rest of the machine: {rest_mean:.0f}% of a CPU on average, {rest_max:.0f}% at most (an interval)"
              + ("; busiest other processes: " + "; ".join(f"{c} ({s:.1f} CPU s)" for c, s in others)
                 if others else ""))
        ok = all(r["ok"] for r in results) and not failures
        for f in failures:
            print(f"FAIL: {f}")
        print(f"\n{'PASS' if ok else 'FAIL'}")
        if args.csv:
            write_csv(args.csv, rows, aggs)
        if args.record:
            record(args, st, duration, rows, results, failures, ok, rest_mean, rest_max, others)
            print(f"recorded in {RESULTS}")
        return 0 if ok else 1
    except RunFailed as e:
        print(f"\nFAIL: {e}", flush=True)
        return 1
    finally:
        for p in list(children):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


def nearest(samples: list[dict], t: float) -> dict:
    return min(samples, key=lambda s: abs(s["t"] - t))


def verdict_line(r: dict, sent: int) -> str:
    v = r["v"]
    before, first, middle, end = r["rss"]
    text = (f"{r['name']}: {'PASS' if r['ok'] else 'FAIL'}: RSS {mib(before)} -> {mib(first)} -> {mib(middle)} -> "
            f"{mib(end)} MiB (before, first sample, middle, end of sending)")
    if "growth" in v:
        text += (f"; largest of middle third {mib(v['mid_max'])}, of last third {mib(v['last_max'])} MiB "
                 f"({v['growth'] / MIB:+.2f}, tolerance {mib(v['tol'])}); slope over the second half "
                 f"{v['slope'] * 60 / 1024:+.1f} KiB/min ({v['fitted'] / MIB:+.2f} MiB fitted); "
                 f"descriptors {v['fds_mid']} -> {v['fds_last']}")
    else:
        text += f"; {v['why']}"
    text += (f"; CPU {r['cpu_s']:.1f} s ({r['cpu_s'] / sent * 1e6:.2f} us/msg); "
             f"lines out {r['lines']['out']:,}/{r['want']['out']:,} err {r['lines']['err']:,}/{r['want']['err']:,}; "
             f"exit {r['exit']}")
    for role, c in r["counters"].items():
        text += f"\n    exit line: {role} " + " ".join(f"{k}={v}" for k, v in c.items())
    for n in r["notes"]:
        text += f"\n    - {n}"
    return text


def write_csv(path: str, rows: list[dict], aggs: list[Aggregator]) -> None:
    keys = ("VmRSS", "RssAnon", "Threads", "fds", "cpu_s", "pct")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "phase", "sent", "sender_pct", "rest_pct"]
                   + [f"{a.name}_{k}" for a in aggs for k in keys])
        for r in rows:
            w.writerow([f"{r['t']:.1f}", r["phase"], r["sent"], f"{r['sender_pct']:.1f}", f"{r['rest_pct']:.1f}"]
                       + [r[a.name][k] if k != "pct" else f"{r[a.name][k]:.1f}" for a in aggs for k in keys])


def record(args, st, duration, rows, results, failures, ok, rest_mean, rest_max, others) -> None:
    root = os.path.dirname(HERE)
    exe = os.path.relpath(sys.executable, root) if sys.executable.startswith(root) else sys.executable
    command = shlex.join([exe, os.path.relpath(os.path.abspath(sys.argv[0]), root), *sys.argv[1:]])
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    names = [r["name"] for r in results]
    # Condensed: the first sample at or after each minute, the last of the sending, and the ones
    # before and after it.
    step = max(60.0, args.interval)
    send = [r for r in rows if r["phase"] == "send"]
    keep, mark = [rows[0]], step
    for r in send:
        if r["t"] >= mark - 1 or r is send[-1]:
            keep.append(r)
            while mark <= r["t"] + 1:
                mark += step
    keep += [r for r in rows if r["phase"] == "end"]
    head = "| t (s) | " + " | ".join(f"{n} RSS MiB | {n} CPU s" for n in names) + " | sender CPU % | rest of machine % |"
    table = [head, "|" + "---:|" * (2 * len(names) + 3)]
    for r in keep:
        label = {"start": "before", "end": f"after ({r['t']:.0f})"}.get(r["phase"], f"{r['t']:.0f}")
        table.append(f"| {label} | " + " | ".join(f"{mib(r[n]['VmRSS'])} | {r[n]['cpu_s']:.1f}" for n in names)
                     + f" | {r['sender_pct']:.0f} | {r['rest_pct']:.0f} |")
    verdicts = ["| aggregator | RSS before → first → middle → end (MiB) | largest: middle → last third (MiB) | "
                "slope, 2nd half | descriptors | CPU s (µs/msg) | out lines / expected | error lines / expected "
                "| exit | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        v = r["v"]
        b, s, m, e = r["rss"]
        if "growth" in v:
            growth = f"{mib(v['mid_max'])} → {mib(v['last_max'])} ({v['growth'] / MIB:+.2f}; tolerance {mib(v['tol'])})"
            sl = f"{v['slope'] * 60 / 1024:+.1f} KiB/min"
            fds = f"{v['fds_mid']} → {v['fds_last']}"
        else:
            growth, sl, fds = v["why"], "–", "–"
        verdicts.append(f"| {r['name']} | {mib(b)} → {mib(s)} → {mib(m)} → {mib(e)} | {growth} | {sl} | {fds} | "
                        f"{r['cpu_s']:.1f} ({r['cpu_s'] / st['sent'] * 1e6:.2f}) | "
                        f"{r['lines']['out']:,} / {r['want']['out']:,} | {r['lines']['err']:,} / {r['want']['err']:,} "
                        f"| {r['exit']} | {'PASS' if r['ok'] else '**FAIL**'} |")
    notes = [f"- {r['name']}: {n}" for r in results for n in r["notes"]] + [f"- {f}" for f in failures]
    counters = [f"- {r['name']}: " + "; ".join(f"{role} " + " ".join(f"{k}={v}" for k, v in c.items())
                                               for role, c in r["counters"].items()) for r in results]
    by = ", ".join(f"{k} {v:,}" for k, v in st["by"].items())
    rest = (f"{rest_mean:.0f}% of a CPU on average, {rest_max:.0f}% at most over an interval"
            + ("; busiest other processes (CPU s): " + "; ".join(f"`{c}` ({s:.1f})" for c, s in others)
               if others else ""))
    text = (f"\n## Soak run of {when}\n\n"
            f"- command (from the repository root): `{command}`\n"
            f"- machine: {machine()}\n- versions (at the start): {args.versions}\n"
            f"- {', '.join(names)} at once; {duration:.1f} s of sending, {st['sent']:,} messages to each "
            f"({st['sent'] / duration:,.0f} msg/s; {by}); sender stalls: {st['stalls']} "
            f"({st['stall_s']:.2f} s), most behind its pace: {st['max_lag_s']:.3f} s\n"
            f"- samples every {args.interval:g} s (below, about one a minute); output and error files rotated "
            f"every {args.rotate:g} s ({results[0]['rotations']} times each, SIGHUP every other time)\n"
            f"- the rest of the machine: {rest}\n\n"
            + "\n".join(table) + "\n\n" + "\n".join(verdicts) + "\n\n"
            + "Exit lines:\n\n" + "\n".join(counters) + "\n"
            + (("\nProblems:\n\n" + "\n".join(notes) + "\n") if notes else "")
            + f"\nVerdict: **{'PASS' if ok else 'FAIL'}**\n")
    with open(RESULTS) as f:
        doc = f.read()
    # The run goes at the end of the soak's section (before the next top-level heading, if any).
    at = doc.find("\n# Soak")
    nxt = doc.find("\n# ", at + 1) if at >= 0 else -1
    if nxt < 0:
        doc = doc.rstrip("\n") + "\n" + text
    else:
        doc = doc[:nxt].rstrip("\n") + "\n" + text + doc[nxt:]
    with open(RESULTS, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    sys.exit(main())
