"""The benchmarks' idiomatic pure-Python peer (pyzmq + orjson), one mode per job:

    python bench/pyzmq_orjson.py pull ENDPOINT FILENAME [--filter]   ZeroMQ PULL -> file (an aggregator)
    python bench/pyzmq_orjson.py sub ENDPOINT FILENAME [--filter]    ZeroMQ SUB -> file
    python bench/pyzmq_orjson.py forward ENDPOINT OUT_ENDPOINT       ZeroMQ PULL -> ZeroMQ PUSH (a distributor)
    python bench/pyzmq_orjson.py stdin FILENAME                      standard input -> file

Every endpoint is bound. Each message is decoded and re-encoded with orjson (as a program that
validates and normalises its input would); with --filter it goes through the Python filter of the
worker benchmark in between (bench/trivial_filter.py). Files are written through Python's buffered
file, flushed whenever the socket runs dry, as a real aggregator must (else the last lines would
sit in memory until exit); under a steady stream that is rarely. The ZeroMQ modes run until
SIGTERM/SIGINT (a blocking receive waits WAIT_MS at most: pyzmq does not see a signal that comes
just before it starts waiting, and would wait on), stdin until the end of its input.

ZmqJSONHandler is the same idiom as a logging handler (for bench/run.py's handler scenario).
"""

import argparse
import datetime
import logging
import signal
import socket
import sys

import orjson
import zmq

HWM = 10000
WAIT_MS = 100  # a blocking receive's bound: a signal that comes just before it is seen that late


def receive(sock_type: int, endpoint: str, filename: str, use_filter: bool) -> None:
    sock = zmq.Context.instance().socket(sock_type)
    sock.setsockopt(zmq.RCVHWM, HWM)
    sock.setsockopt(zmq.RCVTIMEO, WAIT_MS)
    sock.setsockopt(zmq.LINGER, 0)
    if sock_type == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.bind(endpoint)
    loads, dumps = orjson.loads, orjson.dumps
    if use_filter:
        from trivial_filter import Passthrough

        keep = Passthrough().filter
    with open(filename, "ab", buffering=1 << 16) as f:
        write = f.write
        while True:
            try:
                data = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                f.flush()
                try:
                    data = sock.recv()
                except zmq.Again:
                    continue
            if use_filter:
                message = keep(loads(data))
                if message is not None:
                    write(dumps(message) + b"\n")
            else:
                write(dumps(loads(data)) + b"\n")


def forward(endpoint: str, out_endpoint: str) -> None:
    ctx = zmq.Context.instance()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.setsockopt(zmq.RCVHWM, HWM)
    pull.setsockopt(zmq.RCVTIMEO, WAIT_MS)
    push.setsockopt(zmq.SNDHWM, HWM)
    push.setsockopt(zmq.LINGER, 0)
    pull.bind(endpoint)
    push.bind(out_endpoint)
    loads, dumps, recv, send = orjson.loads, orjson.dumps, pull.recv, push.send
    while True:
        try:
            send(dumps(loads(recv())))
        except zmq.Again:
            pass


def stdin(filename: str) -> None:
    loads, dumps = orjson.loads, orjson.dumps
    with open(filename, "ab", buffering=1 << 16) as f:
        write = f.write
        for line in sys.stdin.buffer:
            write(dumps(loads(line)) + b"\n")


class ZmqJSONHandler(logging.Handler):
    """A logging handler that sends each record as one JSON frame on a PUSH socket, never waiting:
    a record that does not fit in the queue (HWM) is dropped."""

    def __init__(self, connect: str) -> None:
        super().__init__()
        self.sock = zmq.Context.instance().socket(zmq.PUSH)
        self.sock.setsockopt(zmq.SNDHWM, HWM)
        self.sock.setsockopt(zmq.LINGER, 2000)
        self.sock.connect(connect)
        self.hostname = socket.gethostname()
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            doc = {"message": record.getMessage(), "level": record.levelname.lower(), "name": record.name,
                   "@timestamp": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
                   .isoformat(timespec="milliseconds"),
                   "hostname": self.hostname, "pid": record.process, "thread": record.threadName,
                   "module": record.module, "function": record.funcName, "line": record.lineno}
            self.sock.send(orjson.dumps(doc), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("pull", "sub", "forward", "stdin"))
    ap.add_argument("where", nargs="+", help="ENDPOINT FILENAME, ENDPOINT OUT_ENDPOINT or FILENAME")
    ap.add_argument("--filter", action="store_true", help="pull, sub: pass each message through the filter")
    args = ap.parse_args()
    if len(args.where) != (1 if args.mode == "stdin" else 2):
        ap.error(f"{args.mode}: wrong number of arguments")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if args.mode == "stdin":
            stdin(*args.where)
        elif args.mode == "forward":
            forward(*args.where)
        else:
            receive(zmq.PULL if args.mode == "pull" else zmq.SUB, *args.where, args.filter)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
