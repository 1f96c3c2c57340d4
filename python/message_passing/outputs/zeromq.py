"""ZeroMQ: sends each message as one frame on a PUB (default) or PUSH socket, from the core.

Sending never blocks: a message that meets the high-water mark is dropped and counted. A PUB socket
is an XPUB underneath, so that it knows its subscribers and is told of a full queue: a message
goes to every subscriber or, if one of them has no room for it, to none, and is counted as dropped
(so is one sent while nobody subscribes). Before its first message a PUB waits up to
`subscribe_delay` seconds for a subscriber, so that a sender that connects and sends at once does
not lose its first messages. At the end, queued messages get up to `linger` milliseconds to be
delivered; what was queued for a peer that never connected is counted as undelivered.
"""

from __future__ import annotations

import time

import zmq

from .. import _core
from ..base import Output
from ..options import Option
from ..zmqsocket import SOCKET_OPTIONS, attach, check_endpoint, context


class ZeroMQ(Output):
    name = "ZeroMQ"
    options = {
        **SOCKET_OPTIONS,
        "socket_type": Option("string", "the kind of socket", "PUB", choices=("PUB", "PUSH")),
        "linger": Option("integer", "milliseconds to deliver queued messages at exit (-1: no limit)",
                         3000, minimum=-1),
        "subscribe_delay": Option("number", "PUB: seconds to wait, once, for a first subscriber before "
                                  "sending", 1.0, minimum=0, maximum=86400),
    }

    def __init__(self, **options):
        super().__init__(**options)
        self.endpoint = self.where = check_endpoint(self.name + " output", self.connect, self.socket_bind)
        self.socket = self.monitor = None
        self.undelivered = 0

    def open(self) -> None:
        pub = self.socket_type == "PUB"
        sock = context().socket(zmq.XPUB if pub else zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.socket_hwm)
        sock.setsockopt(zmq.LINGER, self.linger)
        if pub:
            sock.setsockopt(zmq.XPUB_NODROP, 1)  # at the HWM, tell us (we count the drop)
        # peers coming and going: what is queued while none is there may never be delivered
        self.monitor = sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_ACCEPTED | zmq.EVENT_CLOSED
                                               | zmq.EVENT_DISCONNECTED)
        attach("ZeroMQ output", sock, self.endpoint, bind=self.socket_bind is not None)
        self.socket = sock
        self.sink = _core.ZmqSink(sock, xpub=pub, first_wait_ms=int(self.subscribe_delay * 1000) if pub else 0,
                                  monitor=self.monitor)

    def close(self) -> None:
        if self.socket is None:
            return
        if self.sink.peers == 0 and self.sink.unconfirmed:
            # queued while no peer was connected: within the linger, a peer may still come
            deadline = time.monotonic() + self.linger / 1000
            while self.sink.peers == 0 and (self.linger < 0 or time.monotonic() < deadline):
                wait = -1 if self.linger < 0 else max(1, int((deadline - time.monotonic()) * 1000))
                if not self.monitor.poll(wait):
                    break
            if self.sink.peers == 0:  # none came: what was queued for it is lost
                self.undelivered = self.sink.unconfirmed
                self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.disable_monitor()
        self.monitor.close(linger=0)
        self.socket.close()  # with its linger: queued messages get that long

    def counters(self) -> dict[str, int]:
        counters = super().counters()
        undelivered = self.undelivered
        if self.monitor is not None and not self.monitor.closed and self.sink.peers == 0:
            undelivered = self.sink.unconfirmed  # still waiting (or stopped while waiting) for a peer
        if undelivered:
            counters["undelivered"] = undelivered
        return counters
