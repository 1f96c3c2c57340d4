"""Shared test helpers: real subprocesses of our CLI, real sockets on 127.0.0.1, bounded waits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
MP = str(BIN / "message-passing")
PEER_DIR = Path(__file__).parent / "peer"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def endpoint(port: int | None = None) -> str:
    return f"tcp://127.0.0.1:{port or free_port()}"


def opts(**kw) -> str:
    return json.dumps(kw)


def mp(*args: str, stdin=subprocess.DEVNULL, env: dict | None = None, **kw) -> subprocess.Popen:
    """Starts our CLI with `args`."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen([MP, *args], stdin=stdin, stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=kw.pop("stderr", subprocess.PIPE), env=full_env, **kw)


def run_mp(*args: str, input: bytes | None = None, timeout: float = 30, env: dict | None = None):
    """Runs our CLI to completion; returns the CompletedProcess (stdout/stderr as bytes)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([MP, *args], input=input, capture_output=True, timeout=timeout, env=full_env)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Polls `predicate` until it returns something true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def lines(path) -> list[bytes]:
    try:
        return Path(path).read_bytes().splitlines()
    except FileNotFoundError:
        return []


def records(path) -> list:
    return [json.loads(line) for line in lines(path)]


def error_records(stderr: bytes) -> list[dict]:
    """The error chain's records on stderr (its default output), without our own lines."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith(b"{")]


def summary(stderr: bytes) -> str:
    """The counters line printed at exit."""
    found = [line for line in stderr.decode().splitlines() if line.startswith("message-passing: input ")]
    assert found, stderr
    return found[-1]


def counter(stderr: bytes, role: str, name: str) -> int:
    """One counter of the exit line, e.g. counter(err, "output ZeroMQ", "dropped")."""
    part = [p for p in summary(stderr).split("; ") if role in p][0]
    return int(part.split(f" {name}=")[1].split()[0])


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 10) -> tuple[int, bytes, bytes]:
    """Signals `proc` and collects its exit status and output."""
    if proc.poll() is None:
        proc.send_signal(sig)
    if proc.stdin is not None and proc.stdin.closed:
        proc.stdin = None  # communicate() would flush it
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"process did not stop within {timeout}s after {sig!r}; stderr: {err!r}")
    return proc.returncode, out or b"", err or b""


def wait_listening(port: int, timeout: float = 10) -> bool:
    """Waits until something accepts TCP connections on 127.0.0.1:port (a bound receiver is up)."""

    def up():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    return wait_for(up, timeout)


@pytest.fixture
def procs():
    """Processes to clean up whatever the test's outcome."""
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


# -- the Perl original ------------------------------------------------------------------------

# Our package installs a `message-pass` alias too: the original is the Debian package's.
PERL_MP = "/usr/bin/message-pass" if os.path.exists("/usr/bin/message-pass") else None


@pytest.fixture
def perl_peer():
    """The original's `message-pass`: required in CI (never skipped there), skipped elsewhere if absent."""
    if PERL_MP is None:
        if IN_CI:
            pytest.fail("the Perl peer (message-pass) is not installed, and CI must run the interop tests")
        pytest.skip("the Perl peer is not installed (sh tests/peer/install.sh)")
    return PERL_MP
