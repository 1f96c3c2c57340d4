"""ZeroMQ: receives from a SUB (default, subscribed to everything) or PULL socket, in the core.

One ZeroMQ message is one record, whatever its frame count: a frame alone is the payload; of
several, the first is the topic and the last the payload (frames between are counted as
`ignored_frames`). The topic is added to the payload (a JSON object) under the key `topic_field`,
unless the object already has that key.
"""

from __future__ import annotations

import zmq

from .. import _core
from ..base import Input
from ..options import Option
from ..zmqsocket import SOCKET_OPTIONS, attach, check_endpoint, context
from .stdin import MAX_MESSAGE_SIZE

TYPES = {"SUB": zmq.SUB, "PULL": zmq.PULL}


class ZeroMQ(Input):
    name = "ZeroMQ"
    options = {
        **SOCKET_OPTIONS,
        "socket_type": Option("string", "the kind of socket", "SUB", choices=tuple(TYPES)),
        "subscribe": Option("strings", "SUB only: topic prefixes to receive (the raw bytes of a "
                            "single-frame message start with one of them)", [""]),
        "linger": Option("integer", "milliseconds; accepted for compatibility (an input queues nothing)", 0),
        "max_message_size": Option("integer", "bytes; a longer message goes to the error chain with its size, "
                                   "and libzmq refuses one over twice this (closing that sender's connection)",
                                   MAX_MESSAGE_SIZE.default, minimum=1, maximum=1 << 40),
        "topic_field": Option("string", "key that receives a multipart message's topic (\"\": drop the topic)",
                              "topic"),
    }

    def __init__(self, **options):
        super().__init__(**options)
        self.endpoint = check_endpoint(self.name + " input", self.connect, self.socket_bind)
        self.socket = None

    def open(self) -> None:
        sock = context().socket(TYPES[self.socket_type])
        sock.setsockopt(zmq.RCVHWM, self.socket_hwm)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 100)  # the core's blocking wait looks for signals this often
        # libzmq allocates a whole message before the core sees it: bound that (never below what
        # its own handshake needs)
        sock.setsockopt(zmq.MAXMSGSIZE, max(2 * self.max_message_size, 1 << 20))
        if self.socket_type == "SUB":
            for prefix in self.subscribe:
                sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        attach("ZeroMQ input", sock, self.endpoint, bind=self.socket_bind is not None)
        self.socket = sock
        self.source = _core.ZmqSource(sock, validate=self.json_frames, max_size=self.max_message_size,
                                      topic_field=self.topic_field)

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
