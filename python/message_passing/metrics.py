"""--metrics_port: the chain's counters over HTTP, in the Prometheus text format (0.0.4), at
GET /metrics. One metric a counter, labelled by the part that counts:

    message_passing_received_total{component="input",name="ZeroMQ"} 1200
    message_passing_sent_total{component="output",name="File"} 1198

`component` is input, filter, output, tee (a T filter's branch, also labelled with its `branch`,
from 0) or error (the error chain's output); `name` is the part's name. Also: message_passing_error_records_total (records given to
the error chain), message_passing_error_records_lost_total, message_passing_uptime_seconds.

A stdlib HTTP server in a daemon thread, one request at a time. Counters are read on the main
thread only (a ZeroMQ output's reads its socket's monitor, which is not thread-safe): a request
wakes the chain, which takes a snapshot at its next look at signals; a chain busy in a Python
filter, or waiting in an input written in Python, for longer than FRESH_WAIT gets the last
snapshot served.
"""

from __future__ import annotations

import http.server
import re
import socket
import socketserver
import threading
import time

from .errors import StartError

FRESH_WAIT = 0.5  # s a request waits for the chain's counters
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The counters parts report: kind (counter, or gauge for those that can go down) and help.
KNOWN = {
    "received": ("counter", "Messages the input received (rejected ones included)."),
    "rejected": ("counter", "Messages the input rejected (given to the error chain)."),
    "ignored_frames": ("counter", "Frames of multipart messages between topic and payload (not part of a record)."),
    "unprocessed": ("gauge", "Lines read but not yet passed on."),
    "filtered": ("counter", "Messages the filter dropped."),
    "sent": ("counter", "Messages the output sent or wrote."),
    "dropped": ("counter", "Messages the output dropped (at its high-water mark, or with no peer)."),
    "failed": ("counter", "Messages the output failed to write."),
    "undelivered": ("gauge", "Messages queued while no peer was connected, and none has connected since."),
}


class Metrics:
    def __init__(self, chain, host: str, port: int) -> None:
        """Listens at once: a port that cannot be had stops start-up."""
        try:
            self.server = _Server((host, port), _Handler)
        except OSError as e:
            raise StartError(f"--metrics_port: cannot listen on {host}:{port}: "
                             f"{e.strerror or e}") from None
        self.server.metrics = self
        self.host, self.port = host, self.server.server_address[1]
        self.started = time.monotonic()
        self.chain, self.signals = chain, None
        self.wanted = False  # a request waits for counters (read by the chain's loop)
        self._snapshot: tuple = ([], 0, 0)
        self._fresh = threading.Event()
        self._live = threading.Lock()  # no wake-up once stop_waking has returned

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def serve(self, signals) -> None:
        """Takes the first snapshot and starts answering (the chain is open)."""
        self.signals = signals
        self.snapshot()
        threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True).start()

    def stop_waking(self) -> None:
        """The chain has stopped running: requests get its last snapshot (it closes without
        spurious wake-ups, which would cut its drain short)."""
        with self._live:
            self.signals = None
        self.snapshot()  # (on the main thread: what a scrape sees while the chain closes)

    def snapshot(self) -> None:
        """Reads the counters (on the main thread)."""
        self.wanted = False
        errors = self.chain.errors
        self._snapshot = (self.chain.counters(), errors.reported, errors.lost)
        self._fresh.set()

    def render(self) -> str:
        """The exposition text (on the server's thread), from the freshest snapshot to be had."""
        self._fresh.clear()
        with self._live:
            if self.signals is not None:
                self.wanted = True
                self.signals.wake()
        if self.signals is not None:
            self._fresh.wait(FRESH_WAIT)
        rows, reported, lost = self._snapshot
        families: dict[str, tuple[str, str, list[str]]] = {}

        def add(name: str, kind: str, help: str, value, labels: str = "") -> None:
            families.setdefault(name, (kind, help, []))[2].append(f"{name}{labels} {value}")

        branch = 0
        for role, counters in rows:
            component, _, part = role.partition(" ")
            labels = f'component="{_escape(component)}",name="{_escape(part)}"'
            if component == "tee":  # (two branches may have the same output)
                labels += f',branch="{branch}"'
                branch += 1
            labels = "{" + labels + "}"
            for key, value in counters.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                kind, help = KNOWN.get(key, ("untyped", f"The {key} counter of a part."))
                name = "message_passing_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)
                add(name + "_total" if kind == "counter" else name, kind, help, value, labels)
        add("message_passing_error_records_total", "counter", "Records given to the error chain.", reported)
        add("message_passing_error_records_lost_total", "counter",
            "Error records the error chain could not write.", lost)
        add("message_passing_uptime_seconds", "gauge", "Seconds since start-up.",
            f"{time.monotonic() - self.started:.3f}")
        out = []
        for name, (kind, help, samples) in families.items():
            out += [f"# HELP {name} {help}", f"# TYPE {name} {kind}", *samples]
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Server(socketserver.TCPServer):
    # (not http.server.HTTPServer: it looks up the host's fully qualified name, a DNS query)
    allow_reuse_address = True  # a restart need not wait for TIME_WAIT; a live listener still refuses

    def __init__(self, address: tuple[str, int], handler) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 5  # s: a client that stalls does not hold the (one-at-a-time) server for long

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = self.server.metrics.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass  # stderr is the error chain's and the status line's
