#!/usr/bin/env python3
"""The logging handler's cost to an application: one `logger.info` through
message_passing.logging.ZeroMQHandler, against `logging.NullHandler` and against a StreamHandler
writing the same JSON (JSONFormatter) to /dev/null, measured side by side in one process.

    python bench/log_handler.py [--records 50000] [--rounds 9] [--record]

Cases (each a logger of its own with one handler, propagate off):
- `null`: logging.NullHandler: the cost of the logging call itself;
- `stream_json`: logging.StreamHandler on /dev/null with message_passing.logging.JSONFormatter;
- `zmq_push`: ZeroMQHandler(socket_type="PUSH") connected to a live aggregator
  (`message-passing --input ZeroMQ` PULL -> Null output, another process);
- `zmq_pub`: ZeroMQHandler() (PUB, the default) connected to a live aggregator (SUB -> Null);
- `zmq_dead`: ZeroMQHandler(socket_type="PUSH") connected to an endpoint nobody listens on
  (past the high-water mark every record is dropped).
Each round logs --records records through every case, in a rotating order; the per-record time of
a case is its median over the rounds (after one warm-up round). Then, apart: 100,000 records to a
dead PUSH endpoint in a fresh process-like handler (the loop's time and close's, and whether
anything raised).

Target: ZeroMQHandler at most 2 µs a record more than the JSON StreamHandler.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench import RESULTS, machine  # noqa: E402

from message_passing.logging import JSONFormatter, ZeroMQHandler  # noqa: E402

CASES = ("null", "stream_json", "zmq_push", "zmq_pub", "zmq_dead")
TARGET_US = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def aggregator(socket_type: str) -> tuple[subprocess.Popen, str]:
    ep = f"tcp://127.0.0.1:{free_port()}"
    mp = os.path.join(os.path.dirname(sys.executable), "message-passing")
    p = subprocess.Popen([mp, "--input", "ZeroMQ", "--input_options",
                          f'{{"socket_bind":"{ep}","socket_type":"{socket_type}"}}', "--output", "Null"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = int(ep.rsplit(":", 1)[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, ep
        except OSError:
            time.sleep(0.05)
    p.kill()
    raise SystemExit(f"the {socket_type} aggregator did not start: {p.stderr.read().decode()}")


def make_logger(case: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"bench.{case}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log


def run(log: logging.Logger, n: int) -> float:
    """Seconds a record for n records."""
    info = log.info
    t = time.perf_counter()
    for i in range(n):
        info("GET /api/v1/items/%06d HTTP/1.1 200 %d bytes in %dms", i, 1234, 12)
    return (time.perf_counter() - t) / n


def dead_endpoint(n: int = 100_000) -> dict:
    h = ZeroMQHandler(connect=f"tcp://127.0.0.1:{free_port()}", socket_type="PUSH", socket_hwm=1000, linger=200)
    log = make_logger("dead100k", h)
    raised = None
    t = time.perf_counter()
    try:
        for i in range(n):
            log.error("x %d", i)
    except BaseException as e:  # the point: nothing may
        raised = repr(e)
    loop = time.perf_counter() - t
    t = time.perf_counter()
    h.close()
    return {"loop_s": loop, "close_s": time.perf_counter() - t, "raised": raised, **h.counters()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=50_000, help="records per case per round")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = ap.parse_args()

    procs = []
    try:
        pull, pull_ep = aggregator("PULL")
        sub, sub_ep = aggregator("SUB")
        procs += [pull, sub]
        devnull = open(os.devnull, "w")
        stream = logging.StreamHandler(devnull)
        stream.setFormatter(JSONFormatter())
        handlers = {
            "null": logging.NullHandler(),
            "stream_json": stream,
            "zmq_push": ZeroMQHandler(connect=pull_ep, socket_type="PUSH"),
            "zmq_pub": ZeroMQHandler(connect=sub_ep),
            "zmq_dead": ZeroMQHandler(connect=f"tcp://127.0.0.1:{free_port()}", socket_type="PUSH", linger=0),
        }
        loggers = {c: make_logger(c, h) for c, h in handlers.items()}
        # the PUB's first records wait for the aggregator's subscription: let it come first
        deadline = time.monotonic() + 10
        while not handlers["zmq_pub"]._sink.poll_subscribers() and time.monotonic() < deadline:
            time.sleep(0.02)
        times: dict[str, list[float]] = {c: [] for c in CASES}
        for r in range(args.rounds + 1):
            order = CASES[r % len(CASES):] + CASES[:r % len(CASES)]
            for c in order:
                s = run(loggers[c], args.records)
                if r:  # round 0 warms up
                    times[c].append(s)
            print(f"round {r}: " + ", ".join(f"{c} {times[c][-1] * 1e6:.2f} µs" for c in CASES if r), flush=True)
        counters = {c: handlers[c].counters() for c in CASES if c.startswith("zmq")}
        for h in handlers.values():
            h.close()
        dead = dead_endpoint()
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    med = {c: statistics.median(v) * 1e6 for c, v in times.items()}
    rows = ["| case | median µs a record | min | max | vs stream_json |", "|---|---:|---:|---:|---:|"]
    for c in CASES:
        rows.append(f"| `{c}` | {med[c]:.2f} | {min(times[c]) * 1e6:.2f} | {max(times[c]) * 1e6:.2f} | "
                    f"{med[c] - med['stream_json']:+.2f} |")
    worst = max(med["zmq_push"], med["zmq_pub"]) - med["stream_json"]
    verdict = (f"ZeroMQHandler (PUSH and PUB, live aggregator) costs at most {worst:+.2f} µs a record more than "
               f"the JSON StreamHandler: target ≤ {TARGET_US:.0f} µs: **{'met' if worst <= TARGET_US else 'MISSED'}**")
    dead_line = (f"100,000 records to a dead PUSH endpoint (socket_hwm 1000, linger 200 ms): the loop took "
                 f"{dead['loop_s']:.3f} s, close {dead['close_s']:.3f} s; raised: {dead['raised'] or 'nothing'}; "
                 f"sent {dead['sent']:,} (all undelivered: {dead['undelivered']:,}), dropped {dead['dropped']:,}, "
                 f"failed {dead['failed']}")
    counts = "; ".join(f"`{c}` " + ", ".join(f"{k} {v:,}" for k, v in cn.items()) for c, cn in counters.items())
    text = "\n".join(rows) + "\n\n" + verdict + "\n\n" + dead_line + "\n\nHandler counters: " + counts + "\n"
    print("\n" + text)
    if args.record:
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        rev = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
        section = (f"\n## Logging handler run of {when}\n\n"
                   f"- command (from the repository root): `{sys.executable} bench/log_handler.py --record`\n"
                   f"- machine: {machine()}; Python {sys.version.split()[0]}; repo at {rev}\n"
                   f"- {args.records:,} records per case per round, {args.rounds} rounds (after a warm-up), "
                   f"cases interleaved\n\n" + text)
        with open(RESULTS) as f:
            doc = f.read()
        if "\n# Logging handler" not in doc:
            doc = doc.rstrip("\n") + "\n\n# Logging handler: the cost of one record to the application\n\n" \
                "What is measured and how: see `bench/log_handler.py`.\n"
        doc = doc.rstrip("\n") + "\n" + section
        with open(RESULTS, "w") as f:
            f.write(doc)
        print(f"recorded in {RESULTS}")
    return 0 if worst <= TARGET_US and not dead["raised"] else 1


if __name__ == "__main__":
    sys.exit(main())
