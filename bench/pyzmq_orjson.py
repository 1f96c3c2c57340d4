"""A peer for the benchmark: the idiomatic pure-Python aggregator, ZeroMQ PULL -> file.

    python bench/pyzmq_orjson.py ENDPOINT FILENAME

Receives each frame with pyzmq, decodes and re-encodes it with orjson (as an aggregator that
validates and normalises its input would) and appends it to FILENAME through Python's buffered
file. The buffer is flushed whenever the socket runs dry, as a real aggregator must (else the
last lines would sit in memory until exit); under a steady stream that is rarely.
Runs until SIGTERM/SIGINT.
"""

import signal
import sys

import orjson
import zmq


def main() -> None:
    endpoint, filename = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = zmq.Context.instance().socket(zmq.PULL)
    sock.setsockopt(zmq.RCVHWM, 10000)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    loads, dumps = orjson.loads, orjson.dumps
    with open(filename, "ab", buffering=1 << 16) as f:
        write = f.write
        try:
            while True:
                try:
                    data = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    f.flush()
                    data = sock.recv()
                write(dumps(loads(data)) + b"\n")
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
