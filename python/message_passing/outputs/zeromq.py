"""ZeroMQ: sends each message as one frame on a PUB (default) or PUSH socket, from the core.

Sending never blocks: a message that meets the high-water mark (or, for PUB, finds no subscriber)
is dropped and counted. A PUB socket is an XPUB underneath, so that it knows its subscribers: before
its first message it waits up to `subscribe_delay` seconds for one to subscribe, so that a sender
that connects and sends at once does not lose its first messages. At the end, queued messages
get up to `linger` milliseconds to be delivered.
"""

from __future__ import annotations

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
                                  "sending", 1.0, minimum=0),
    }

    def __init__(self, **options):
        super().__init__(**options)
        check_endpoint(self.name + " output", self.connect, self.socket_bind)
        self.socket = None

    def open(self) -> None:
        pub = self.socket_type == "PUB"
        sock = context().socket(zmq.XPUB if pub else zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.socket_hwm)
        sock.setsockopt(zmq.LINGER, self.linger)
        if pub:
            sock.setsockopt(zmq.XPUB_NODROP, 1)  # at the HWM, tell us (we count the drop)
        attach("ZeroMQ output", sock, self.connect, self.socket_bind)
        self.socket = sock
        self.sink = _core.ZmqSink(sock, xpub=pub, first_wait_ms=int(self.subscribe_delay * 1000) if pub else 0)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()  # with its linger: queued messages get that long
