"""What the ZeroMQ input and output share: their socket options and how a socket is made.

pyzmq creates and configures every socket; the core is handed the raw socket and does the
sending and receiving (one libzmq in the process: see DESIGN.md).
"""

from __future__ import annotations

import zmq

from .options import ConfigError, Option

SOCKET_OPTIONS = {
    "connect": Option("string", "endpoint to connect to, e.g. tcp://127.0.0.1:5558 (give this or socket_bind)", None),
    "socket_bind": Option("string", "endpoint to bind, e.g. tcp://*:5558 (give this or connect)", None),
    "socket_hwm": Option("integer", "high-water mark: messages queued per peer before more are dropped "
                         "(0: no limit)", 10000, minimum=0),
}


def check_endpoint(owner: str, connect: str | None, socket_bind: str | None) -> None:
    if (connect is None) == (socket_bind is None):
        which = "both" if connect is not None else "neither"
        raise ConfigError(f"{owner}: give exactly one of 'connect' and 'socket_bind' ({which} given)")
    endpoint = connect if connect is not None else socket_bind
    if "://" not in endpoint:
        raise ConfigError(f"{owner}: endpoint '{endpoint}' must look like tcp://host:port, ipc://path or inproc://name")


def context() -> zmq.Context:
    return zmq.Context.instance()  # one a process; a new one after fork


def attach(owner: str, sock: zmq.Socket, connect: str | None, socket_bind: str | None) -> None:
    """Connects or binds; a failure is one line naming the endpoint."""
    endpoint = connect if connect is not None else socket_bind
    try:
        sock.connect(endpoint) if connect is not None else sock.bind(endpoint)
    except zmq.ZMQError as e:
        sock.close(linger=0)
        verb = "connect to" if connect is not None else "bind"
        raise OSError(e.errno, f"{owner}: cannot {verb} {endpoint}: {e.strerror}") from None


def terminate() -> None:
    """Ends the process's context once every socket is closed: waits for each output's linger."""
    ctx = zmq.Context._instance
    if ctx is not None and not ctx.closed:
        ctx.destroy(linger=0)  # sockets still open here are strays (a plugin's); ours closed with their linger
