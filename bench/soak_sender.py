#!/usr/bin/env python3
"""The soak's sender (bench/soak.py starts it): sends varied JSON log lines, ~150 bytes, at a
steady rate for a set time, to every aggregator at once, and says what it sent.

    python bench/soak_sender.py --connect tcp://127.0.0.1:P1,tcp://127.0.0.1:P2 --rate 50000 \
        --seconds 600 --status FILE [--max-size 4096]

One pyzmq XPUB socket connects to every aggregator (each binds SUB), so that each one receives
every message. It waits for every aggregator's subscription before the first send
(XPUB_VERBOSE), and never drops: with XPUB_NODROP a send to a full queue fails and is retried
once the queue has room, counted as a stall. So a stall says an aggregator fell behind, and
nothing is lost on the way out of the sender.

The messages follow a fixed cycle of 1000 slots (shuffled once, with a fixed seed), so that what
was sent of each category is known exactly (see CATEGORIES): mostly valid log lines of several
shapes (nested, non-ASCII, escapes, big numbers, arrays, spaced-out JSON, multipart with a topic
frame), some at level "debug" or with a "boom" key (which the soak's Python filter drops or
fails on), and some that are not messages at all (truncated, not UTF-8, a bare number, plain
text, an empty frame, one larger than --max-size), which the aggregator's error chain records.

The status (JSON) is rewritten every second into --status, and a last time with "done": true once
the socket has handed everything to the network (or with "error" if it could not).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time

import zmq

TICK = 0.005            # s between bursts: rate * TICK messages a burst
SUBSCRIBE_TIMEOUT = 30  # s to wait for every aggregator's subscription
STALL_LIMIT = 60        # s a single send may wait for room before the sender gives up
LINGER_MS = 60_000      # to hand over what is queued at the end
SNDHWM = 100_000        # messages queued per aggregator before a send stalls

# What each kind of message becomes, by category:
#   ok   valid; written to the output by both aggregators
#   drop valid, level "debug": written by the plain aggregator, dropped by the Python filter
#   boom valid, with a "boom" key: written by the plain aggregator, an error record with the filter
#   bad  not a message: an error record (Decoding) in both
CATEGORIES = ("ok", "drop", "boom", "bad")

LEVELS = ("info", "info", "info", "warn", "error")
HOSTS = tuple(f"web{i}" for i in range(1, 10))


def kinds(max_size: int) -> list[tuple[int, str, object]]:
    """(slots in a cycle of 1000, category, make(n, ts) -> frame or [frames])."""
    big = "x" * (max_size + 1000)

    def line(n, ts):
        return (f'{{"@timestamp":"{ts}","level":"{LEVELS[n % 5]}","message":"GET /api/v1/items/{n % 1000000:06d} '
                f'HTTP/1.1 200 {n % 9000 + 100} bytes in {n % 97}ms ok","host":"{HOSTS[n % 9]}","n":{n}}}').encode()

    def nested(n, ts):
        return (f'{{"@timestamp":"{ts}","level":"info","req":{{"method":"POST","path":"/v2/orders/{n}",'
                f'"headers":{{"ua":"curl/8.5","len":{n % 4096}}}}},"tags":["api","slow"],"n":{n}}}').encode()

    def unicode(n, ts):
        return (f'{{"@timestamp":"{ts}","level":"warn","message":"naïve café ✓ 日本語 ünïcödé {n}",'
                f'"user":"Jürgen","n":{n}}}').encode()

    def escapes(n, ts):
        return (f'{{"@timestamp":"{ts}","level":"error","message":"said \\"no\\" at C:\\\\tmp\\\\{n}\\n'
                f'then \\u00e9\\t\\/ok","n":{n}}}').encode()

    def numbers(n, ts):
        return (f'{{"@timestamp":"{ts}","level":"info","big":123456789012345678901234567890{n % 10},'
                f'"neg":-{n}, "f":1.5e300,"ratio":0.{n:09d},"ok":true,"none":null,"n":{n}}}').encode()

    def array(n, ts):
        return f'["{ts}","info","array message",{n},[1,2,{{"k":"v"}}],null]'.encode()

    def spaced(n, ts):
        return (f'{{ "@timestamp" : "{ts}",\t"level" : "info" ,\n "message" : "spaced out {n}" , '
                f'"n" : {n} }}').encode()

    def multipart(n, ts):
        return [b"app.access", line(n, ts)]

    def debug(n, ts):
        return f'{{"@timestamp":"{ts}","level":"debug","message":"cache miss for key {n}","n":{n}}}'.encode()

    def boom(n, ts):
        return f'{{"@timestamp":"{ts}","level":"info","boom":true,"message":"the filter fails here","n":{n}}}'.encode()

    def truncated(n, ts):
        return line(n, ts)[:-17]

    def not_utf8(n, ts):
        return f'{{"message":"caf\xe9 {n}","n":{n}}}'.encode("latin-1")

    def scalar(n, ts):
        return str(n).encode()

    def text(n, ts):
        return f'{ts} web1 GET /index.html 200 {n}'.encode()

    def empty(n, ts):
        return b""

    def oversize(n, ts):
        return f'{{"@timestamp":"{ts}","level":"info","blob":"{big}","n":{n}}}'.encode()

    return [
        (801, "ok", line), (40, "ok", nested), (20, "ok", unicode), (20, "ok", escapes),
        (20, "ok", numbers), (10, "ok", array), (10, "ok", spaced), (15, "ok", multipart),
        (50, "drop", debug), (8, "boom", boom),
        (1, "bad", truncated), (1, "bad", not_utf8), (1, "bad", scalar), (1, "bad", text),
        (1, "bad", empty), (1, "bad", oversize),
    ]


def schedule(max_size: int) -> tuple[list, list]:
    """The cycle: make() and category of each of its 1000 slots."""
    slots = [(cat, make) for count, cat, make in kinds(max_size) for _ in range(count)]
    assert len(slots) == 1000, len(slots)
    random.Random(20261203).shuffle(slots)
    return [m for _, m in slots], [c for c, _ in slots]


def sent_by_category(cats: list, sent: int) -> dict:
    full, part = divmod(sent, len(cats))
    by = dict.fromkeys(CATEGORIES, 0)
    for i, c in enumerate(cats):
        by[c] += full + (1 if i < part else 0)
    return by


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connect", required=True, help="comma-separated endpoints (aggregators binding SUB)")
    ap.add_argument("--rate", type=float, required=True, help="messages a second")
    ap.add_argument("--seconds", type=float, required=True, help="how long to send")
    ap.add_argument("--status", required=True, help="file the status is written to (JSON)")
    ap.add_argument("--max-size", type=int, default=4096, help="the aggregators' max_message_size")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    makes, cats = schedule(args.max_size)
    endpoints = args.connect.split(",")
    status = {"pid": os.getpid(), "sent": 0, "by": sent_by_category(cats, 0), "stalls": 0, "stall_s": 0.0,
              "max_lag_s": 0.0, "t_start": None, "t_end": None, "t": None, "done": False}

    def write_status():
        status["t"] = time.time()  # when "sent" was counted
        tmp = args.status + ".tmp"
        with open(tmp, "w") as f:
            json.dump(status, f)
        os.replace(tmp, args.status)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.XPUB)
    try:
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.XPUB_NODROP, 1)
        sock.setsockopt(zmq.SNDHWM, SNDHWM)
        sock.setsockopt(zmq.RCVTIMEO, 500)
        for e in endpoints:
            sock.connect(e)
        deadline, subs = time.monotonic() + SUBSCRIBE_TIMEOUT, 0
        while subs < len(endpoints):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{subs} of {len(endpoints)} aggregators subscribed in {SUBSCRIBE_TIMEOUT} s")
            try:
                if sock.recv()[:1] == b"\x01":
                    subs += 1
            except zmq.Again:
                pass
        write_status()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLOUT)
        total = int(args.rate * args.seconds)
        t0 = time.monotonic()
        status["t_start"] = time.time()
        write_status()
        n, next_status, nslots = 0, t0 + 1, len(makes)
        while n < total:
            now = time.monotonic()
            target = min(total, int(args.rate * (now - t0)))
            status["max_lag_s"] = max(status["max_lag_s"], (target - n) / args.rate)
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(now * 1000) % 1000:03d}Z"
            while n < target:
                frame = makes[n % nslots](n, ts)
                try:
                    if type(frame) is list:
                        sock.send_multipart(frame, zmq.NOBLOCK)
                    else:
                        sock.send(frame, zmq.NOBLOCK)
                except zmq.Again:
                    # An aggregator's queue is full: wait for room (nothing was sent to anyone).
                    began = time.monotonic()
                    status["stalls"] += 1
                    while not poller.poll(100):
                        if time.monotonic() - began > STALL_LIMIT:
                            raise RuntimeError(f"could not send for {STALL_LIMIT} s: an aggregator stopped taking")
                    status["stall_s"] += time.monotonic() - began
                    continue
                n += 1
            if now >= next_status:
                status["sent"], status["by"] = n, sent_by_category(cats, n)
                write_status()
                next_status += 1
            if target < total:
                time.sleep(max(0.0, now + TICK - time.monotonic()))
        status["t_end"] = time.time()
        status["sent"], status["by"] = n, sent_by_category(cats, n)
        write_status()
        sock.close(linger=LINGER_MS)  # returns at once; ctx.term() waits for the queues to empty
        began = time.monotonic()
        ctx.term()
        status["linger_s"] = time.monotonic() - began
        status["done"] = True
        write_status()
        return 0
    except Exception as e:
        status["error"] = f"{type(e).__name__}: {e}"
        write_status()
        print(f"soak_sender: {status['error']}", file=sys.stderr)
        return 1
    finally:
        if not sock.closed:
            sock.close(linger=0)
        if not ctx.closed:
            ctx.term()


if __name__ == "__main__":
    sys.exit(main())
