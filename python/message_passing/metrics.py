"""--metrics_port: the chain's counters over HTTP, in the Prometheus text format (0.0.4), at
GET /metrics. One metric a counter, labelled by the part that counts:

    message_passing_received_total{component="input",name="ZeroMQ"} 1200
    message_passing_sent_total{component="output",name="File"} 1198

`component` is input, filter, output, tee (a T filter's branch, also labelled with its `branch`,
from 0) or error (the error chain's output); `name` is the part's name. Also: message_passing_error_records_total (records given to
the error chain), message_passing_error_records_lost_total, message_passing_uptime_seconds.

A part's own counters (a plugin's) are served too, untyped, under names made valid: a character
outside [a-zA-Z0-9_] becomes '_', and one that would name a family already on the page (a built-in
one, or another type's) is left out, so that the page always parses.

A stdlib HTTP server: each request in a daemon thread of its own, at most MAX_CLIENTS at once (a
connection beyond them is closed at once), each within REQUEST_TIME whatever its client does.
Counters are read on the main thread only (a ZeroMQ output's reads its socket's monitor, which is
not thread-safe): a request wakes the chain, which takes a snapshot at its next look at signals
and hands it to every request that was waiting; a chain busy in a Python filter, or waiting in an
input written in Python, for longer than FRESH_WAIT gets the last snapshot served.
"""

from __future__ import annotations

import errno
import http.server
import io
import math
import re
import socket
import socketserver
import threading
import time

from .errors import StartError

FRESH_WAIT = 0.5  # s a request waits for the chain's counters
REQUEST_TIME = 5  # s for a whole request, from its connection to its answer
MAX_CLIENTS = 16  # requests served at once
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
        """Listens at once: an address or port that cannot be had stops start-up."""
        try:  # (a name, or an address of either family: the system says which)
            family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        except (OSError, UnicodeError) as e:
            raise StartError(f"--metrics_host: cannot resolve {host}: {e.strerror or e}") from None
        try:
            self.server = _Server(family, address, _Handler)
        except OSError as e:
            host_fault = e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)  # (not this machine's, or no IPv6)
            option = "--metrics_host" if host_fault else "--metrics_port"
            raise StartError(f"{option}: cannot listen on {_authority(address[0], port)}: "
                             f"{e.strerror or e}") from None
        self.server.metrics = self
        self.host, self.port = self.server.server_address[:2]
        self.started = time.monotonic()
        self.chain, self.signals = chain, None
        self.wanted = False  # a request waits for counters (read by the chain's loop)
        self._snapshot: tuple = ([], 0, 0)
        # requests are numbered as they ask; a snapshot answers every one numbered before it began
        self._taken = threading.Condition()
        self._asked = self._answered = 0
        self._live = threading.Lock()  # no wake-up once stop_waking has returned

    @property
    def url(self) -> str:
        return f"http://{_authority(self.host, self.port)}/metrics"

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
        with self._taken:
            asked, self.wanted = self._asked, False
        errors = self.chain.errors
        snapshot = (self.chain.counters(), errors.reported, errors.lost)
        with self._taken:
            self._snapshot, self._answered = snapshot, asked
            self._taken.notify_all()

    def render(self) -> str:
        """The exposition text (on a request's thread), from the freshest snapshot to be had."""
        with self._taken:
            self._asked += 1
            ticket = self._asked
        with self._live:
            waking = self.signals is not None
            if waking:
                self.wanted = True
                self.signals.wake()
        with self._taken:
            if waking:
                self._taken.wait_for(lambda: self._answered >= ticket, FRESH_WAIT)
            rows, reported, lost = self._snapshot
        families: dict[str, tuple[str, str, dict[str, str]]] = {}
        taken: set[str] = set()  # the names families have (a counter's also without _total, as OpenMetrics has it)

        def add(name: str, kind: str, help: str, value, labels: str = "") -> None:
            family = families.get(name)
            if family is None:
                names = {name, name.removesuffix("_total") if kind == "counter" else name}
                if names & taken:
                    return  # (a plugin's key named like another family: the page has one family a name)
                taken.update(names)
                family = families[name] = (kind, help, {})
            if family[0] == kind and labels not in family[2]:  # (two keys of a part may clean alike)
                family[2][labels] = _value(value)

        # the process's own first: a plugin's key cannot take their names
        add("message_passing_error_records_total", "counter", "Records given to the error chain.", reported)
        add("message_passing_error_records_lost_total", "counter",
            "Error records the error chain could not write.", lost)
        add("message_passing_uptime_seconds", "gauge", "Seconds since start-up.",
            round(time.monotonic() - self.started, 3))
        parts, branch = [], 0
        for role, counters in rows:
            component, _, part = role.partition(" ")
            labels = f'component="{_escape(component)}",name="{_escape(part)}"'
            if component == "tee":  # (two branches may have the same output)
                labels += f',branch="{branch}"'
                branch += 1
            parts.append(("{" + labels + "}", counters))
        for known in (True, False):  # the counters we know first: a plugin's key cannot take their names
            for labels, counters in parts:
                for key, value in counters.items():
                    key = str(key)
                    if (key in KNOWN) != known or isinstance(value, bool) or not isinstance(value, (int, float)):
                        continue
                    kind, help = KNOWN.get(key, ("untyped", f"The {key} counter of a part."))
                    name = "message_passing_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)  # (never starts with a digit)
                    add(name + "_total" if kind == "counter" else name, kind, help, value, labels)
        out = []
        for name, (kind, help, samples) in families.items():
            out += [f"# HELP {name} {_escape(help, quote=False)}", f"# TYPE {name} {kind}",
                    *(f"{name}{labels} {value}" for labels, value in samples.items())]
        return "\n".join(out) + "\n"


def _escape(value: str, quote: bool = True) -> str:
    """A label value (or, without quote, a HELP text) as the format has it."""
    value = value.replace("\\", "\\\\").replace("\n", "\\n")
    return value.replace('"', '\\"') if quote else value


def _value(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"
    return str(value)


def _authority(host: str, port: int) -> str:
    """host:port in a URL (an IPv6 address in brackets, its zone's % escaped)."""
    return f"[{host.replace('%', '%25')}]:{port}" if ":" in host else f"{host}:{port}"


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    # (not http.server.HTTPServer: it looks up the host's fully qualified name, a DNS query)
    allow_reuse_address = True  # a restart need not wait for TIME_WAIT; a live listener still refuses
    daemon_threads = True  # a request in progress does not hold the exit
    block_on_close = False

    def __init__(self, family: int, address: tuple, handler) -> None:
        self.address_family = family
        self._clients = 0
        self._count = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address) -> None:
        with self._count:
            full = self._clients >= MAX_CLIENTS
            self._clients += not full
        if full:  # (a flood of connections takes no more threads)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done()

    def _done(self) -> None:
        with self._count:
            self._clients -= 1

    def handle_error(self, request, client_address) -> None:
        pass  # a client's fault (a reset, a timeout) is not ours, and stderr is not for it


class _Within(io.RawIOBase):
    """A request's socket, read within its deadline: a timeout for each read alone would let a
    client that sends a byte every few seconds hold its thread for ever."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("the request took too long")
        self.sock.settimeout(left)  # (and so bounds the answer's write too)
        return self.sock.recv_into(buffer)


class _Handler(http.server.BaseHTTPRequestHandler):
    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # (the socket stays open: read through _Within instead)
        self.rfile = io.BufferedReader(_Within(self.connection, time.monotonic() + REQUEST_TIME))

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, socket.timeout):  # the client went, or took too long
            pass

    def do_GET(self, with_body: bool = True) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404)
            return
        body = self.server.metrics.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET(with_body=False)

    def _not_allowed(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # (other methods: 501)

    def log_message(self, format, *args) -> None:
        pass  # stderr is the error chain's and the status line's
