"""The `message-passing` command (also installed as `message-pass`), with the original's options.

Any bad option stops start-up with one line naming it and exit status 2; a resource that cannot be
had at start (an address in use, an unwritable file) with one line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from typing import Any

from .options import ConfigError
from .plugins import BUILTIN

PROG = "message-passing"
METRICS_HOST = "127.0.0.1"

# The component options, in the original's order, with the original's defaults.
COMPONENTS = {
    "input": None,
    "output": None,
    "filter": "Null",
    "decoder": "JSON",
    "encoder": "JSON",
    "error": "STDERR",
    "error_encoder": "JSON",
}
KIND = {"input": "input", "output": "output", "filter": "filter", "decoder": "decoder",
        "encoder": "encoder", "error": "output", "error_encoder": "encoder"}
ROLE = {"input": "where messages come from", "output": "where they go", "filter": "what changes or drops them",
        "decoder": "how received data becomes a message", "encoder": "how a message becomes data to send",
        "error": "where error records go", "error_encoder": "how error records are encoded"}
FLAGS = {"daemonize": False, "pid_file": None, "stats": None, "metrics_port": None, "metrics_host": None}
CONFIG_KEYS = set(COMPONENTS) | {k + "_options" for k in COMPONENTS} | set(FLAGS)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise ConfigError(message)


def _parser() -> argparse.ArgumentParser:
    listing = "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in BUILTIN.items())
    p = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Moves messages Input -> Decoder -> Filter -> Encoder -> Output, with an error chain "
        "(Error encoder -> Error output) for what cannot be decoded, filtered, encoded or written.",
        epilog=f"Built-in components ({listing}). A name like +package.module.Class loads your own class. "
        "*_options take a JSON object; an option file (--configfile) holds the same keys, and the "
        "command line wins over it.",
    )
    for name, default in COMPONENTS.items():
        dashed = name.replace("_", "-")
        flags = [f"--{name}"] + ([f"--{dashed}"] if dashed != name else [])
        p.add_argument(*flags, dest=name, metavar="NAME",
                       help=f"{ROLE[name]} ({KIND[name]}; {'default ' + default if default else 'required'})")
        p.add_argument(f"--{name}_options", f"--{dashed}-options", dest=name + "_options", metavar="JSON",
                       help="its options, a JSON object (see README.md)")
    p.add_argument("--configfile", "--config-file", metavar="FILE",
                   help="options from a .json, .yaml/.yml or .toml file")
    p.add_argument("--daemonize", action="store_true", default=None,
                   help="run in the background, detached (start-up errors are still reported here)")
    p.add_argument("--pid_file", "--pid-file", metavar="FILE", help="write the process id to FILE")
    p.add_argument("--stats", nargs="?", const=1.0, metavar="SECONDS",
                   help="a status line on stderr every SECONDS (default 1): messages in, out, dropped, "
                   "rejected, and the rate")
    p.add_argument("--metrics_port", "--metrics-port", metavar="PORT",
                   help="serve the counters at http://HOST:PORT/metrics, in the Prometheus text format "
                   "(0: any free port)")
    p.add_argument("--metrics_host", "--metrics-host", metavar="HOST",
                   help=f"the address --metrics_port listens on (default {METRICS_HOST})")
    return p


def _load_config_file(path: str) -> dict:
    ext = os.path.splitext(path)[1].lower()
    try:
        with open(path, "rb") as f:
            if ext == ".json":
                data = json.load(f)
            elif ext in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(f)
            elif ext == ".toml":
                try:
                    import tomllib
                except ImportError:  # Python < 3.11
                    import tomli as tomllib
                data = tomllib.load(f)
            else:
                raise ConfigError(f"--configfile: {path}: unknown format '{ext}' (use .json, .yaml, .yml or .toml)")
    except OSError as e:
        raise ConfigError(f"--configfile: cannot read {path}: {e.strerror}") from None
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"--configfile: {path} is not valid {ext[1:].upper()}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--configfile: {path} must hold a mapping of option names to values")
    config = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in CONFIG_KEYS:
            raise ConfigError(f"--configfile: {path}: unknown option '{key}'")
        if name in COMPONENTS and value is None:
            value = "Null"  # YAML reads a bare Null as nothing
        config[name] = value
    return config


def _options_object(name: str, value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--{name}: not valid JSON ({e}): {value}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--{name} must be a JSON object, not {json.dumps(value, default=str)}")
    return value


def _same_component(kind: str, a: Any, b: Any) -> bool:
    from .plugins import resolve

    return isinstance(a, str) and isinstance(b, str) and resolve(kind, a) is resolve(kind, b)


def parse_command_line(argv: list[str]) -> dict:
    """The whole configuration: command line over --configfile over defaults."""
    args = vars(_parser().parse_args(argv))
    config = _load_config_file(args["configfile"]) if args["configfile"] else {}
    for name in COMPONENTS:
        # the file's options were for the file's component: not for another one named here
        if (args[name] is not None and args[name + "_options"] is None and name in config
                and not _same_component(KIND[name], args[name], config[name])):
            config.pop(name + "_options", None)
    for key, value in args.items():
        if key != "configfile" and value is not None:
            config[key] = value
    for name, default in COMPONENTS.items():
        config.setdefault(name, default)
        if config[name] is None:
            raise ConfigError(f"--{name} is required (e.g. --{name} {'STDIN' if name == 'input' else 'STDOUT'})")
        if not isinstance(config[name], str):
            raise ConfigError(f"--{name} must be a name, not {json.dumps(config[name], default=str)}")
        config[name + "_options"] = _options_object(name + "_options", config.get(name + "_options"))
    for name, default in FLAGS.items():
        config.setdefault(name, default)
    if not isinstance(config["daemonize"], bool):
        raise ConfigError("daemonize must be true or false")
    if config["pid_file"] is not None and (not isinstance(config["pid_file"], str) or not config["pid_file"]):
        raise ConfigError(f"--pid_file must be a path, not {json.dumps(config['pid_file'], default=str)}")
    config["stats"] = _stats_interval(config["stats"])
    if config["stats"] is not None and config["daemonize"]:
        raise ConfigError("--stats: a daemon has no terminal to show it on (use --metrics_port)")
    _check_metrics(config)
    return config


def _stats_interval(value: Any) -> float | None:
    """--stats SECONDS (bare: 1; from a file, also true or false)."""
    if value is None or value is False:
        return None
    if value is True:
        return 1.0
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(min(value, 1e9))  # (a JSON integer too large for a float is too large anyway)
    elif isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]*)?|\.[0-9]+", value):
        seconds = float(value)  # (a plain number: not 1_0, 1e1, inf or a digit of another script)
    if seconds is None or not 0.1 <= seconds <= 86400:  # (NaN too)
        raise ConfigError(f"--stats must be a number of seconds from 0.1 to 86400, not "
                          f"{json.dumps(value, default=str)}")
    return seconds


def _check_metrics(config: dict) -> None:
    port, host = config["metrics_port"], config["metrics_host"]
    if port is None:
        if host is not None:
            raise ConfigError("--metrics_host needs --metrics_port")
        return
    if isinstance(port, str) and port.strip().isascii() and port.strip().isdigit():
        port = int(port)  # (ASCII digits: isdigit() alone takes ² too)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"--metrics_port must be a port number from 0 to 65535, not "
                          f"{json.dumps(config['metrics_port'], default=str)}")
    if host is None:
        host = METRICS_HOST
    if isinstance(host, str) and re.fullmatch(r"\[[^\[\]]+\]", host):
        host = host[1:-1]  # [::1], as in a URL
    if not isinstance(host, str) or not host or not host.isprintable() or any(c.isspace() for c in host):
        raise ConfigError(f"--metrics_host must be a host name or address, not "
                          f"{json.dumps(config['metrics_host'], default=str)}")
    config["metrics_port"], config["metrics_host"] = port, host


class PidFile:
    """Checked before daemonizing (so that a problem is reported where it was asked for), written
    once the chain has started, and removed at exit. Never truncated before that: a second copy
    that fails to start leaves the first one's file alone."""

    def __init__(self, path: str) -> None:
        from .errors import StartError

        self.path = os.path.abspath(path)
        running = _running_pid(self.path)
        if running:
            raise StartError(f"--pid_file {path}: message-passing is already running as process {running}")
        self.created = not os.path.exists(self.path)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644))
        except OSError as e:
            raise StartError(f"--pid_file: cannot write {path}: {e.strerror}") from None

    def write(self) -> None:
        with open(self.path, "w") as f:
            f.write(f"{os.getpid()}\n")

    def remove(self, started: bool) -> None:
        try:
            with open(self.path) as f:
                text = f.read().strip()
            if text == str(os.getpid()) or (not started and self.created and not text):
                os.unlink(self.path)
        except OSError:
            pass


def _running_pid(path: str) -> int | None:
    """The process a pid file names, if it is alive and a message-passing."""
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and (b"message-pass" in cmdline or b"message_passing" in cmdline) else None


def _daemonize():
    """Forks twice and detaches. The original process waits for the daemon to report that it has
    started (or why it could not), shows what it says (the daemon's stderr is /dev/null), and exits
    with that; returns the daemon's report function: report(lines, started)."""
    r, w = os.pipe()
    if os.fork():
        os.close(w)
        with os.fdopen(r, "rb") as pipe:
            report = pipe.read()  # b"0" (started) or b"1" (not), then lines to show
        if report[:1] not in (b"0", b"1"):
            report = f"1{PROG}: the daemon exited during start-up\n".encode()
        os.write(2, report[1:])
        os._exit(0 if report[:1] == b"0" else 1)
    os.close(r)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

    def report(text: str, started: bool) -> None:
        os.write(w, ("0" if started else "1").encode() + text.encode(errors="backslashreplace"))
        os.close(w)

    return report


def _open_standard_streams() -> None:
    """A closed 0, 1 or 2 would be taken by the next file we open, and written to as if it were
    stdin, stdout or stderr: give it /dev/null (and an output meant for it refuses to start)."""
    from .outputs.stdout import closed_at_start

    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # takes the lowest free descriptor: this one
            closed_at_start.add(fd)


def main(argv: list[str] | None = None) -> int:
    # a signal while the rest loads is kept for Signals, not the default (death, or a traceback)
    early: list[int] = []
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(s, lambda signum, frame: early.append(signum))
    _open_standard_streams()
    from .signals import Signals

    signals = Signals()
    signals.install(early)
    argv = sys.argv[1:] if argv is None else argv
    from .chain import build
    from .errors import StartError, exc_text, say
    from .signals import ForcedExit
    from .zmqsocket import terminate

    try:
        config = parse_command_line(argv)
        chain = build(config)
        pid_file = PidFile(config["pid_file"]) if config["pid_file"] else None
    except ConfigError as e:
        say(str(e))
        return 2
    except StartError as e:
        say(str(e))
        return 1
    report = _daemonize() if config["daemonize"] else None
    status, forced, started, spent = 0, None, False, 0.0
    try:
        if config["metrics_port"] is not None:
            from .metrics import Metrics

            chain.metrics = Metrics(chain, config["metrics_host"], config["metrics_port"])
        chain.open()
        started = True
        if report:  # (--metrics_port 0: the port is only known now)
            report(f"{PROG}: metrics at {chain.metrics.url}\n" if chain.metrics is not None else "", True)
        if pid_file:
            pid_file.write()
        _watch(chain, signals, config["stats"])
        chain.run(signals)
    except ForcedExit as e:
        forced = e.signum
    except StartError as e:
        if report:
            report(f"{PROG}: {e}\n", False)
        say(str(e))
        status = 1
    except Exception as e:  # the input failed (a socket error, a plugin's input raising)
        say(f"stopped: {exc_text(e)}")
        status = 1
    signals.tick_every(0)
    if chain.metrics is not None:
        chain.metrics.stop_waking()
    if forced is None:
        began = time.monotonic()
        try:
            chain.close()
            terminate(signals)
        except ForcedExit as e:
            forced = e.signum
        spent = time.monotonic() - began
    signals.ending = True  # a signal now must not cut the exit line (it is bounded)
    if pid_file:
        pid_file.remove(started)
    note = ""
    if forced is not None:
        note = " (stopped at once: what was still queued is lost)"
    elif _linger_ran_out(chain, spent):
        note = " (the linger ran out: what was still queued for a connected peer may not all have been delivered)"
    if started:
        if chain.status is not None:
            chain.status.show(last=True)
        if chain.metrics is not None:
            chain.metrics.snapshot()  # what a scrape sees until the process is gone
        say(chain.summary() + note)  # every counter, so that no loss is silent
    if forced is not None:
        os._exit(128 + forced)
    return status


def _watch(chain, signals, stats: float | None) -> None:
    """Starts --stats's ticks and the --metrics_port endpoint."""
    from .errors import say

    if chain.metrics is not None:
        chain.metrics.serve(signals)
        say(f"metrics at {chain.metrics.url}", wait_ms=0)  # (a stderr nobody reads must not delay the start)
    if stats is not None:
        from .stats import Status

        chain.status = Status(chain, stats)
        signals.tick_every(stats)
    signals.while_waiting = chain.while_input_waits


def _linger_ran_out(chain, spent: float) -> bool:
    """Whether closing took as long as the linger of a ZeroMQ output that had a peer (one that had
    none says so itself: `undelivered`): it may have given up on queued messages."""
    lingers = [o.linger for o in chain.outputs() if getattr(o, "socket", None) is not None and o.linger > 0
               and not getattr(o, "undelivered", 0)]
    return bool(lingers) and spent * 1000 >= 0.9 * max(lingers)


if __name__ == "__main__":
    sys.exit(main())
