"""The README stays true: its reference is the components' own declaration, its test command is
what CI runs, and the original's examples run as written (with free ports and a temporary file)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, free_port, lines, records, stop, wait_for, wait_listening
from message_passing.reference import render

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def code_after(heading: str) -> str:
    """The first fenced block after a heading."""
    section = README.split(heading, 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_component_reference_is_generated_from_the_declarations():
    block = README.split("<!-- reference:start", 1)[1].split("-->", 1)[1].split("<!-- reference:end -->")[0]
    assert block.strip() == render().strip(), "run: python -m message_passing.reference, and paste it"


def test_ci_runs_the_readme_test_command():
    commands = re.findall(r"```sh\n(.*?)\n```", README.split("## The two commands")[1], re.S)
    test_command = commands[1]
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_the_originals_examples_run_as_written(tmp_path):
    block = code_after("## The original's examples")
    commands = [c for c in re.sub(r"\\\n\s*", "", block).splitlines() if c.strip() and not c.startswith("#")]
    aggregator, sender, distributor, worker = commands
    ports = {"5222": str(free_port()), "5223": str(free_port())}
    log = tmp_path / "my_test.log"

    def argv(command: str) -> tuple[list[str], dict]:
        for old, new in ports.items():
            command = command.replace(old, new)
        command = command.replace("/tmp/my_test.log", str(log))
        words = shlex.split(command)
        env = dict(os.environ)
        while "=" in words[0]:  # VAR=value prefixes
            key, value = words.pop(0).split("=", 1)
            env[key] = str(ROOT / value) if key == "PYTHONPATH" else value
        assert words[0] == "message-passing"
        return [str(BIN / words[0]), *words[1:]], env

    started = []
    try:
        cmd, env = argv(aggregator)
        started.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE))
        assert wait_listening(int(ports["5222"]))
        cmd, env = argv(sender)
        r = subprocess.run(cmd, env=env, input=b'{"example":1}\n', capture_output=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: lines(log) == [b'{"example":1}'])
        assert stop(started.pop())[0] == 0

        cmd, env = argv(distributor)
        started.append(subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE))
        assert wait_listening(int(ports["5222"])) and wait_listening(int(ports["5223"]))
        cmd, env = argv(worker)
        outs = []
        for i in range(2):
            out = open(tmp_path / f"worker{i}.out", "wb")
            outs.append(tmp_path / f"worker{i}.out")
            started.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE))
            out.close()
        time.sleep(1.0)  # both workers connect
        cmd, env = argv(sender)
        data = b"".join(b'{"job":%d}\n' % i for i in range(10))
        assert subprocess.run(cmd, env=env, input=data, timeout=30).returncode == 0
        assert wait_for(lambda: sum(len(lines(o)) for o in outs) >= 10)
        for p in started:
            assert stop(p)[0] == 0
        got = [records(o) for o in outs]
        assert sorted(r["job"] for part in got for r in part) == list(range(10))
        assert all(part and all("worker_pid" in r for r in part) for part in got)
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_the_filter_examples_work(tmp_path):
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    python = re.findall(r"```python\n(.*?)```", README.split("## Writing a filter")[1], re.S)
    (tmp_path / "myapp" / "worker.py").write_text(python[0])
    (tmp_path / "tagging.py").write_text(python[1])
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    mp = str(BIN / "message-passing")
    r = subprocess.run([mp, "--input", "STDIN", "--output", "STDOUT", "--filter", "+myapp.worker.MessageWorker"],
                       input=b'{"a":1}\n', capture_output=True, env=env, timeout=30)
    assert r.returncode == 0 and b'"worker_pid":' in r.stdout, r.stderr
    r = subprocess.run([mp, "--input", "STDIN", "--output", "STDOUT", "--filter", "+tagging.Tag",
                        "--filter_options", '{"tag":"x"}'], input=b'{"a":1}\n', capture_output=True, env=env,
                       timeout=30)
    assert r.stdout == b'{"a":1,"tag":"x"}\n', r.stderr


@pytest.mark.parametrize("block, socket_type", [(0, "SUB"), (1, "PULL")])
def test_the_logging_examples_work(tmp_path, block, socket_type):
    """The three lines (PUB, to a SUB aggregator) and the dictConfig (PUSH, to a PULL one): the
    record arrives with the fields the README shows."""
    import sys

    section = README.split("## Logging from Python")[1].split("\n## ")[0]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[block]
    if block == 1:
        code = "import logging, logging.config\n" + code + 'logging.getLogger("shop").warning("disk %s is %d%% full", "/var", 91)\n'
    shown = json.loads(re.search(r"arrives as\n\n((?:    .*\n)+)", section).group(1).replace("\n    ", ""))
    port = free_port()
    (tmp_path / "app.py").write_text(code.replace("tcp://127.0.0.1:5558", f"tcp://127.0.0.1:{port}"))
    log = tmp_path / "agg.log"
    agg = subprocess.Popen([str(BIN / "message-passing"), "--input", "ZeroMQ", "--input_options",
                            json.dumps({"socket_bind": f"tcp://127.0.0.1:{port}", "socket_type": socket_type}),
                            "--output", "File", "--output_options", json.dumps({"filename": str(log)})],
                           stderr=subprocess.PIPE)
    try:
        assert wait_listening(port)
        r = subprocess.run([sys.executable, str(tmp_path / "app.py")], capture_output=True, timeout=30)
        assert r.returncode == 0 and r.stderr == b""
        assert wait_for(lambda: lines(log))
        (got,) = records(log)
        assert (got["message"], got["level"], got["name"]) == ("disk /var is 91% full", "warning", "shop")
        assert set(got) == set(shown)
    finally:
        stop(agg)
