#!/usr/bin/env python3
"""Throughput benchmark: ZeroMQ PULL receivers fed ~150-byte JSON log lines over tcp 127.0.0.1.

    python bench/bench.py [--messages N] [--repeat R] [--cases CASE ...] [--record]

Every case is fed by the same sender, bench/zmq_bare.c compiled here against the libzmq that
pyzmq ships: a C PUSH socket (HWM 10000, blocking sends) that connects to the receiver under test,
which binds PULL. With blocking PUSH nothing is lost, so the receiver sets the pace, and

    rate = N / (sender's first send .. receiver has all N messages)

"Has all N" is the C receiver's own timestamp for `bare`, and for the File-writing receivers the
moment the output file reaches the input's byte size (polled every 5 ms; each line is re-encoded
to the same number of bytes). Afterwards every run is checked to have delivered exactly N lines.

The cases run interleaved, round after round, so that the machine's drift (2 noisy cores, shared
by the sender and the receiver) hits them all alike; the ratios are computed from the medians of
one run only. Stdlib + pyzmq; gcc builds the C peer into a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime
import filecmp
import glob
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "RESULTS.md")

# Exactly the lines of the Perl peer's benchmark (shared/peer/bench_perl.sh beside this project), so
# that the Perl numbers compare with the reference's.
LINE = ('{"@timestamp":"2024-05-01T12:34:56.%03dZ","level":"info","message":'
        '"GET /api/v1/items/%06d HTTP/1.1 200 1234 bytes in 12ms ok","host":"web1","n":%d}\n')

CASES = {
    "bare": "C libzmq PULL receiver that only counts (the ceiling)",
    "ours_file": "message-passing ZeroMQ(PULL) -> File",
    "ours_pyfilter": "message-passing ZeroMQ(PULL) -> trivial Python filter -> File",
    "perl_file": "Perl message-pass ZeroMQ(PULL) -> File",
    "pyzmq_orjson": "pure Python: pyzmq recv + orjson loads/dumps + buffered file",
}
# A floor on each case's rate, only to bound the wait for one run (not a target).
FLOOR = {"bare": 100_000, "ours_file": 50_000, "ours_pyfilter": 20_000, "perl_file": 10_000,
         "pyzmq_orjson": 20_000}
POLL = 0.005           # s between checks of the output file's size
START_TIMEOUT = 60.0   # s for a receiver to listen (Perl loads Moose: ~1 s)
STOP_TIMEOUT = 10.0    # s for a process to exit once asked to

children: list[subprocess.Popen] = []


class RunFailed(Exception):
    pass


# -- set-up -------------------------------------------------------------------------------------

def find_libzmq() -> str:
    """The libzmq pyzmq uses, so that the C peers and our core run on the very same library."""
    import zmq

    site = os.path.dirname(os.path.dirname(os.path.abspath(zmq.__file__)))
    found = sorted(glob.glob(os.path.join(site, "pyzmq.libs", "libzmq*.so*")))
    if found:
        return found[0]
    # pyzmq built against a system libzmq: take the one the import mapped into this process.
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if os.path.basename(path).startswith("libzmq") and ".so" in path:
                return path
    raise SystemExit("cannot find the libzmq that pyzmq uses")


def build_bare(tmp: str, lib: str) -> str:
    exe = os.path.join(tmp, "zmq_bare")
    cmd = ["gcc", "-O2", "-o", exe, os.path.join(HERE, "zmq_bare.c"), lib,
           "-Wl,-rpath," + os.path.dirname(lib)]
    subprocess.run(cmd, check=True, timeout=120)
    return exe


SIZED_HEAD = '{"@timestamp":"2024-05-01T12:34:56.%03dZ","level":"info","message":"item %07d '
MIN_LINE_BYTES = len(SIZED_HEAD % (0, 0)) + 2  # the shortest line write_data makes with a size


def write_data(tmp: str, n: int, size: int | None = None) -> tuple[str, int]:
    """n lines of LINE, or with `size`, log lines of exactly `size` bytes each (and a newline)."""
    line, fields = LINE, (lambda i: (i % 1000, i, i))
    if size:
        line, fields = SIZED_HEAD + "x" * (size - MIN_LINE_BYTES) + '"}\n', (lambda i: (i % 1000, i % 10**7))
        if len(line % (0, 0)) != size + 1:
            raise ValueError(f"{size} bytes is too short for a log line")
    path = os.path.join(tmp, f"data_{n}_{size}.jsonl" if size else f"data_{n}.jsonl")
    if not os.path.exists(path):
        with open(path, "w") as f:
            for start in range(0, n, 100_000):
                f.write("".join(line % fields(i) for i in range(start, min(n, start + 100_000))))
    return path, os.path.getsize(path)


def free_port() -> int:
    # The kernel picks a free port; the receiver binds it a moment later (a tiny race, reported
    # as a failed run if lost).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def receiver_command(case: str, args, endpoint: str, out: str, n: int) -> tuple[list[str], dict]:
    env = dict(os.environ)
    if case == "bare":
        return [args.bare_exe, "recv", endpoint, str(n)], env
    if case == "pyzmq_orjson":
        return [sys.executable, os.path.join(HERE, "pyzmq_orjson.py"), "pull", endpoint, out], env
    inp = ["--input", "ZeroMQ", "--input_options",
           '{"socket_bind":"%s","socket_type":"PULL"}' % endpoint,
           "--output", "File", "--output_options", '{"filename":"%s"}' % out]
    if case == "perl_file":
        return [args.perl, *inp], env
    if case == "ours_pyfilter":
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        inp += ["--filter", "+trivial_filter.Passthrough"]
    return [args.mp, *inp], env


# -- one run ------------------------------------------------------------------------------------

def spawn(argv, **kw) -> subprocess.Popen:
    try:
        p = subprocess.Popen(argv, **{"stdin": subprocess.DEVNULL, **kw})
    except OSError as e:
        raise RunFailed(f"cannot run {argv[0]}: {e}") from None
    children.append(p)
    return p


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(STOP_TIMEOUT)
    if p in children:
        children.remove(p)


def wait_listening(port: int, proc: subprocess.Popen, log: str) -> None:
    # A plain TCP connect that is closed at once: libzmq drops such a peer silently.
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunFailed(f"receiver exited ({proc.returncode}) before listening: {tail(log)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RunFailed(f"receiver not listening on port {port} after {START_TIMEOUT:.0f} s")


def stamp(path: str, key: str) -> float:
    with open(path) as f:
        for line in f:
            if line.startswith(key + "="):
                return float(line.split("=", 1)[1])
    raise RunFailed(f"no {key}= in {path}: {tail(path)}")


def tail(path: str, size: int = 600) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - size))
            return f.read().decode(errors="replace").strip() or "(empty)"
    except OSError:
        return "(none)"


def count_lines(path: str) -> int:
    lines = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
    return lines


def run_once(case: str, args, tmp: str, data: str, size: int, n: int) -> float:
    """Messages a second for one run of `case`; RunFailed if it did not deliver exactly n."""
    port = free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    out = os.path.join(tmp, f"out_{case}.log")
    rlog, slog = os.path.join(tmp, f"{case}.recv.log"), os.path.join(tmp, f"{case}.send.log")
    for path in (out, rlog, slog):
        if os.path.exists(path):
            os.remove(path)
    argv, env = receiver_command(case, args, endpoint, out, n)
    timeout = 30 + n / FLOOR[case]
    with open(rlog, "wb") as rl, open(slog, "wb") as sl:
        recv = spawn(argv, stdout=rl, stderr=subprocess.STDOUT, env=env)
        send = None
        try:
            wait_listening(port, recv, rlog)
            send = spawn([args.bare_exe, "send", endpoint, data], stdout=sl, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while True:
                if case == "bare":
                    if recv.poll() is not None:
                        break
                else:
                    try:
                        if os.stat(out).st_size >= size:
                            t_end = time.monotonic()
                            break
                    except FileNotFoundError:
                        pass
                    if recv.poll() is not None:
                        raise RunFailed(f"receiver exited ({recv.returncode}): {tail(rlog)}")
                if send.poll() not in (None, 0):
                    raise RunFailed(f"sender failed ({send.returncode}): {tail(slog)}")
                if time.monotonic() > deadline:
                    got = os.path.getsize(out) if os.path.exists(out) else 0
                    raise RunFailed(f"timed out after {timeout:.0f} s ({got} of {size} bytes)")
                time.sleep(POLL)
            # The sender lingers until its queue is delivered, so it ends right after the receiver.
            try:
                send.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise RunFailed("sender still running after the receiver had everything") from None
            if send.returncode != 0:
                raise RunFailed(f"sender failed ({send.returncode}): {tail(slog)}")
        finally:
            for p in (send, recv):
                if p is not None:
                    stop(p)
    t_start = stamp(slog, "t_start")
    if case == "bare":
        if recv.returncode != 0:
            raise RunFailed(f"receiver failed ({recv.returncode}): {tail(rlog)}")
        t_end = stamp(rlog, "t_end")
        got = int(stamp(rlog, "received"))
        if got != n:
            raise RunFailed(f"received {got} messages, expected {n}")
    else:
        # Checked after the receiver stopped, so that a late surplus shows too.
        got, got_size = count_lines(out), os.path.getsize(out)
        if got != n or got_size != size:
            raise RunFailed(f"output has {got} lines / {got_size} bytes, expected {n} / {size}")
        # Ours and orjson write compact JSON, byte for byte the input; Perl re-orders keys.
        if case != "perl_file" and not filecmp.cmp(out, data, shallow=False):
            raise RunFailed("output differs from the input")
        os.remove(out)  # drops its dirty pages before the next run writes
    return n / (t_end - t_start)


# -- report -------------------------------------------------------------------------------------

def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, Linux {platform.release()}"


def versions(args) -> str:
    import zmq

    parts = [f"Python {platform.python_version()}", f"pyzmq {zmq.__version__}",
             f"libzmq {zmq.zmq_version()} ({os.path.basename(args.libzmq)})"]
    try:
        import orjson
        parts.append(f"orjson {orjson.__version__}")
    except ImportError:
        pass
    probe = ("import importlib.metadata as m, message_passing as p, os; "
             "print('message-passing', m.version('message-passing'), 'from', os.path.dirname(p.__file__))")
    mp_python = os.path.join(os.path.dirname(args.mp), "python")
    if os.path.exists(mp_python):
        r = subprocess.run([mp_python, "-c", probe], capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            parts.append(r.stdout.strip() + installed_vs_tree(r.stdout.split(" from ", 1)[1].strip()))
    r = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode == 0:
        parts.append(f"repo at {r.stdout.strip()}")
    if "perl_file" in args.cases:
        r = subprocess.run(["perl", "-MMessage::Passing", "-MMessage::Passing::ZeroMQ", "-MZMQ::FFI", "-e",
                            'print "Perl $^V, Message::Passing $Message::Passing::VERSION, '
                            'Message::Passing::ZeroMQ $Message::Passing::ZeroMQ::VERSION, '
                            'ZMQ::FFI $ZMQ::FFI::VERSION, libzmq ", join(".", ZMQ::FFI->new->version)'],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            parts.append(r.stdout.strip())
    return "; ".join(parts)


def installed_vs_tree(installed: str) -> str:
    """Whether the installed (non-editable) package is the working tree's Python layer: a stale
    install would make the numbers describe some other code."""
    tree = os.path.join(os.path.dirname(HERE), "python", "message_passing")
    if not os.path.isdir(tree) or os.path.samefile(tree, installed):
        return ""
    names = [os.path.relpath(os.path.join(d, f), tree) for d, _, fs in os.walk(tree) for f in fs
             if f.endswith(".py")]
    stale = [n for n in names if not (os.path.exists(os.path.join(installed, n))
                                      and filecmp.cmp(os.path.join(tree, n), os.path.join(installed, n),
                                                      shallow=False))]
    return f" (its .py files differ from python/: {', '.join(stale)})" if stale else \
        " (its .py files match python/)"


def report(args, rates: dict, failures: dict, counts: dict) -> str:
    med = {c: statistics.median(r) for c, r in rates.items() if r}
    rows = ["| case | what | messages × runs | median msg/s | min | max |", "|---|---|---|---:|---:|---:|"]
    for c in args.cases:
        r = rates[c]
        runs = f"{counts[c]:,} × {len(r)}" + (f" ({len(failures[c])} failed)" if failures[c] else "")
        if r:
            rows.append(f"| {c} | {CASES[c]} | {runs} | {med[c]:,.0f} | {min(r):,.0f} | {max(r):,.0f} |")
        else:
            rows.append(f"| {c} | {CASES[c]} | {runs} | – | – | – |")
    checks = []

    def check(name, value, target, fmt):
        if value is None:
            checks.append(f"| {name} | – | {target} | not measured |")
        else:
            ok = value >= float(target.lstrip("≥ ").replace(",", ""))
            checks.append(f"| {name} | {fmt.format(value)} | {target} | {'yes' if ok else '**NO**'} |")

    def ratio(a, b):
        return med[a] / med[b] if a in med and b in med else None

    check("ours_file / bare", ratio("ours_file", "bare"), "≥ 0.5", "{:.2f}")
    check("ours_file / perl_file", ratio("ours_file", "perl_file"), "≥ 15", "{:.1f}")
    check("ours_pyfilter (msg/s)", med.get("ours_pyfilter"), "≥ 500,000", "{:,.0f}")
    lines = rows + ["", "| target (medians of this run) | value | target | met |", "|---|---|---|---|"] + checks
    if "pyzmq_orjson" in med and "ours_file" in med:
        lines.append("")
        lines.append(f"For scale: ours_file / pyzmq_orjson = {ratio('ours_file', 'pyzmq_orjson'):.1f}, "
                     + (f"ours_pyfilter / pyzmq_orjson = {ratio('ours_pyfilter', 'pyzmq_orjson'):.1f}."
                        if "ours_pyfilter" in med else ""))
    notes = [f"{c} run {i}: {why}" for c in args.cases for i, why in failures[c]]
    if notes:
        lines += ["", "Failed runs (not in the medians):", ""] + [f"- {x}" for x in notes]
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", "-n", type=int, default=1_000_000, help="messages a run (default 1,000,000)")
    ap.add_argument("--repeat", "-r", type=int, default=5, help="rounds over the cases (default 5)")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES), metavar="CASE",
                    help=f"cases to run, in this order within a round (default: all of {', '.join(CASES)})")
    ap.add_argument("--perl-messages", type=int, help="messages a run for perl_file (default: --messages)")
    ap.add_argument("--perl-repeat", type=int, help="rounds that include perl_file (default: --repeat)")
    ap.add_argument("--mp", default=os.path.join(os.path.dirname(sys.executable), "message-passing"),
                    help="our CLI (default: message-passing next to this Python)")
    ap.add_argument("--perl", default="/usr/bin/message-pass", help="the Perl original's CLI")
    ap.add_argument("--tmpdir", help="where the temporary directory goes (default: the system's)")
    ap.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = ap.parse_args()
    perl_n = args.perl_messages or args.messages
    perl_rounds = args.perl_repeat if args.perl_repeat is not None else args.repeat
    counts = {c: (perl_n if c == "perl_file" else args.messages) for c in args.cases}

    # SIGTERM (e.g. from `timeout`) must still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="mp-bench-", dir=args.tmpdir)
    try:
        args.libzmq = find_libzmq()
        args.bare_exe = build_bare(tmp, args.libzmq)
        data = {n: write_data(tmp, n) for n in set(counts.values())}
        print(f"# {machine()}\n# {versions(args)}\n# {args.messages:,} messages "
              f"of {data[args.messages][1] / args.messages:.1f} bytes (with the newline), "
              f"rounds: {args.repeat}; temp dir {tmp}", flush=True)
        if "perl_file" in args.cases and (perl_n != args.messages or perl_rounds != args.repeat):
            print(f"# perl_file: {perl_n:,} messages, {perl_rounds} rounds", flush=True)
        rates = {c: [] for c in args.cases}
        failures = {c: [] for c in args.cases}
        for rnd in range(args.repeat):
            # Rotate the order, so that no case always runs right after the same other one.
            order = args.cases[rnd % len(args.cases):] + args.cases[:rnd % len(args.cases)]
            for case in order:
                if case == "perl_file" and rnd >= perl_rounds:
                    continue
                path, size = data[counts[case]]
                try:
                    rate = run_once(case, args, tmp, path, size, counts[case])
                    rates[case].append(rate)
                    print(f"round {rnd + 1} {case:14s} {rate:12,.0f} msg/s", flush=True)
                except RunFailed as e:
                    failures[case].append((rnd + 1, str(e)))
                    print(f"round {rnd + 1} {case:14s} FAILED: {e}", flush=True)
        table = report(args, rates, failures, counts)
        print("\n" + table)
        if args.record:
            command = shlex.join([os.path.relpath(sys.executable, os.path.dirname(HERE))
                                  if sys.executable.startswith(os.path.dirname(HERE)) else sys.executable,
                                  os.path.relpath(os.path.abspath(sys.argv[0]), os.path.dirname(HERE)),
                                  *sys.argv[1:]])
            when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            extra = ""
            if "perl_file" in args.cases and (perl_n != args.messages or perl_rounds != args.repeat):
                extra = f"- perl_file: {perl_n:,} messages a run, {perl_rounds} rounds\n"
            run = (f"\n## Run of {when}\n\n"
                   f"- command (from the repository root): `{command}`\n"
                   f"- machine: {machine()}\n- versions: {versions(args)}\n"
                   f"- {args.messages:,} messages a run of "
                   f"{data[args.messages][1] / args.messages:.1f} bytes (with the newline), "
                   f"{args.repeat} rounds, cases interleaved\n{extra}\n{table}\n")
            with open(RESULTS) as f:
                text = f.read()
            at = text.find("\n# Soak")  # throughput runs go before the soak section
            at = len(text) if at < 0 else at
            with open(RESULTS, "w") as f:
                f.write(text[:at].rstrip("\n") + "\n" + run + text[at:])
            print(f"\nrecorded in {RESULTS}")
        return 1 if any(failures.values()) else 0
    finally:
        for p in list(children):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
