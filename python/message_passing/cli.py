"""The `message-passing` command (also installed as `message-pass`), with the original's options.

Any bad option stops start-up with one line naming it and exit status 2; a resource that cannot be
had at start (an address in use, an unwritable file) with one line and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .options import ConfigError
from .plugins import BUILTIN

PROG = "message-passing"

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
FLAGS = {"daemonize": False, "pid_file": None}
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
        kind = KIND[name]
        p.add_argument(*flags, dest=name, metavar="NAME",
                       help=f"the {name.replace('_', ' ')} ({kind}); default: {default or 'none, required'}")
        p.add_argument(f"--{name}_options", f"--{dashed}-options", dest=name + "_options", metavar="JSON",
                       help=f"options of the {name.replace('_', ' ')}, as a JSON object")
    p.add_argument("--configfile", "--config-file", metavar="FILE",
                   help="options from a .json, .yaml/.yml or .toml file")
    p.add_argument("--daemonize", action="store_true", default=None,
                   help="run in the background, detached (start-up errors are still reported here)")
    p.add_argument("--pid_file", "--pid-file", metavar="FILE", help="write the process id to FILE")
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
        config[name] = value
    return config


def _options_object(name: str, value: Any) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--{name}: not valid JSON ({e}): {value}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--{name} must be a JSON object, not {json.dumps(value)}")
    return value


def parse_command_line(argv: list[str]) -> dict:
    """The whole configuration: command line over --configfile over defaults."""
    args = vars(_parser().parse_args(argv))
    config = _load_config_file(args["configfile"]) if args["configfile"] else {}
    for name in COMPONENTS:
        # the file's options were for the file's component: not for another one named here
        if args[name] is not None and args[name] != config.get(name) and args[name + "_options"] is None:
            config.pop(name + "_options", None)
    for key, value in args.items():
        if key != "configfile" and value is not None:
            config[key] = value
    for name, default in COMPONENTS.items():
        config.setdefault(name, default)
        if config[name] is None:
            raise ConfigError(f"--{name} is required (e.g. --{name} {'STDIN' if name == 'input' else 'STDOUT'})")
        if not isinstance(config[name], str):
            raise ConfigError(f"--{name} must be a name, not {json.dumps(config[name])}")
        config[name + "_options"] = _options_object(name + "_options", config.get(name + "_options") or {})
    for name, default in FLAGS.items():
        config.setdefault(name, default)
    if not isinstance(config["daemonize"], bool):
        raise ConfigError("daemonize must be true or false")
    return config


class PidFile:
    """Opened before daemonizing, so that an unwritable path is reported where it was asked for."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        try:
            self.file = open(self.path, "w")
        except OSError as e:
            raise ConfigError(f"--pid_file: cannot write {path}: {e.strerror}") from None

    def write(self) -> None:
        self.file.write(f"{os.getpid()}\n")
        self.file.close()

    def remove(self) -> None:
        try:
            with open(self.path) as f:
                if f.read().strip() == str(os.getpid()):
                    os.unlink(self.path)
        except OSError:
            pass


def _daemonize():
    """Forks twice and detaches. The original process waits for the daemon to report that it has
    started (or why it could not) and exits with that; returns the daemon's report function."""
    r, w = os.pipe()
    if os.fork():
        os.close(w)
        with os.fdopen(r, "rb") as pipe:
            report = pipe.read().decode(errors="replace")
        if report == "ok":
            os._exit(0)
        sys.stderr.write(report or f"{PROG}: the daemon exited during start-up\n")
        os._exit(1)
    os.close(r)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)

    def report(text: str) -> None:
        os.write(w, text.encode())
        os.close(w)

    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from .chain import build
    from .signals import Signals
    from .zmqsocket import terminate

    try:
        config = parse_command_line(argv)
        chain = build(config)
        pid_file = PidFile(config["pid_file"]) if config["pid_file"] else None
    except ConfigError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    report = _daemonize() if config["daemonize"] else None
    signals = Signals()
    signals.install()
    status = 0
    try:
        try:
            chain.open()
        except OSError as e:
            message = f"{PROG}: {e.strerror or e}\n"
            if report:
                report(message)
            sys.stderr.write(message)
            return 1
        if report:
            report("ok")
        if pid_file:
            pid_file.write()
        chain.run(signals)
    except OSError as e:
        print(f"{PROG}: {e.strerror or e}", file=sys.stderr)
        status = 1
    finally:
        chain.close()
        terminate()
        if pid_file:
            pid_file.remove()
    summary = chain.summary()
    if summary:
        print(f"{PROG}: {summary}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
