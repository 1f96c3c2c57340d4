"""What the ZeroMQ input and output share: their socket options, how a socket is made, and the
process's one context.

pyzmq creates and configures every socket and the core is handed the raw socket: there is one
libzmq in the process, the one pyzmq ships, which the core reaches through pyzmq's own copy. The
context is the core's (pyzmq shadows it), so that the wait for queued messages at exit can be
interrupted by a signal.
"""

from __future__ import annotations

import os
import socket as _socket

import zmq

from . import _core
from .errors import StartError
from .options import ConfigError, Option

SOCKET_OPTIONS = {
    "connect": Option("string", "endpoint to connect to, e.g. tcp://127.0.0.1:5558 (give this or socket_bind)", None,
                      empty=False),
    "socket_bind": Option("string", "endpoint to bind, e.g. tcp://*:5558 (give this or connect)", None, empty=False),
    "socket_hwm": Option("integer", "high-water mark: messages queued per peer before more are dropped "
                         "(0: no limit)", 10000, minimum=0),
}


def check_endpoint(owner: str, connect: str | None, socket_bind: str | None) -> str:
    """The endpoint to use, checked; ipc paths made absolute (--daemonize changes directory)."""
    if (connect is None) == (socket_bind is None):
        which = "both" if connect is not None else "neither"
        raise ConfigError(f"{owner}: give exactly one of 'connect' and 'socket_bind' ({which} given)")
    endpoint = connect if connect is not None else socket_bind
    transport, sep, address = endpoint.partition("://")
    if not sep or not address:
        raise ConfigError(f"{owner}: endpoint '{endpoint}' must look like tcp://host:port, ipc://path or inproc://name")
    if transport == "tcp":
        port = address.rpartition(":")[2]
        if port.isdigit() and not 0 < int(port) < 65536:
            raise ConfigError(f"{owner}: endpoint '{endpoint}': port {port} is not between 1 and 65535")
    if transport == "ipc" and not address.startswith(("/", "@")):
        endpoint = "ipc://" + os.path.abspath(address)
    return endpoint


_context: tuple[int, _core.Context, zmq.Context] | None = None


def context() -> zmq.Context:
    """The process's context (a new one after fork)."""
    global _context
    if _context is None or _context[0] != os.getpid():
        core = _core.Context()
        _context = (os.getpid(), core, zmq.Context.shadow(core.address))
    return _context[2]


def attach(owner: str, sock: zmq.Socket, endpoint: str, bind: bool) -> None:
    """Binds or connects; a failure is one line naming the endpoint."""
    try:
        if bind and endpoint.startswith("ipc://") and _ipc_in_use(endpoint[6:]):
            raise zmq.ZMQError(zmq.EADDRINUSE)
        sock.bind(endpoint) if bind else sock.connect(endpoint)
    except zmq.ZMQError as e:
        sock.close(linger=0)
        verb = "bind" if bind else "connect to"
        raise StartError(f"{owner}: cannot {verb} {endpoint}: {zmq.strerror(e.errno)}") from None


def _ipc_in_use(path: str) -> bool:
    # libzmq would unlink a live socket's path and take it over: refuse, as for a TCP port in use
    if path.startswith("@") or not os.path.exists(path):
        return False
    with _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False  # a stale path: nobody listens


def terminate(signals) -> None:
    """Waits until every socket has delivered what it queued, or given up (its linger). A signal
    interrupts the wait; Python then runs its handler (which may end the process), and the wait
    goes on."""
    global _context
    if _context is None or _context[0] != os.getpid():
        return
    _, core, ctx = _context
    for s in list(getattr(ctx, "_sockets", None) or []):
        if not s.closed:
            s.close(linger=0)  # a plugin's stray socket; ours closed with their linger
    while not core.term():
        signals.take()
    _context = None
