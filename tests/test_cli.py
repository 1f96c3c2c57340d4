"""The command line: the original's options and defaults, and one clear line for every bad one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import BIN, MP, endpoint, error_records, lines, opts, run_mp, stop, summary, wait_for

STDIN_TO_STDOUT = ("--input", "STDIN", "--output", "STDOUT")


def test_help_lists_every_option_and_exits_0():
    r = run_mp("--help")
    assert r.returncode == 0
    text = r.stdout.decode()
    for name in ("input", "output", "filter", "decoder", "encoder", "error", "error_encoder"):
        assert f"--{name} NAME" in text
        assert f"--{name}_options JSON" in text
    for flag in ("--configfile", "--daemonize", "--pid_file", "--stats", "--metrics_port", "--metrics_host"):
        assert flag in text


def test_message_pass_is_an_alias():
    r = subprocess.run([str(BIN / "message-pass"), *STDIN_TO_STDOUT], input=b'{"a":1}\n',
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, b'{"a":1}\n')


def test_defaults_are_json_in_json_out_null_filter_stderr_errors():
    r = run_mp(*STDIN_TO_STDOUT, input=b'{"b": 1, "a": [1, 2]}\nnot json\n')
    assert r.returncode == 0
    assert r.stdout == b'{"b":1,"a":[1,2]}\n'
    err = error_records(r.stderr)
    assert err[0]["class"] == "Message::Passing::Exception::Decoding"
    assert err[0]["packed_data"] == "not json"


def test_dashed_and_equals_spellings():
    r = run_mp("--input=STDIN", "--output", "STDOUT", "--output-options", "{}", "--error-encoder", "JSON",
               "--decoder-options={}", input=b'{"a":1}\n')
    assert (r.returncode, r.stdout) == (0, b'{"a":1}\n')


def test_perl_class_names_mean_the_builtins():
    r = run_mp("--input", "Message::Passing::Input::STDIN", "--output", "+Message::Passing::Output::STDOUT",
               "--error_encoder", "Message::Passing::Filter::Encoder::JSON", input=b'{"a":1}\n')
    assert (r.returncode, r.stdout) == (0, b'{"a":1}\n')


@pytest.mark.parametrize(
    "args, names",
    [
        (["--bogus_option", "1", *STDIN_TO_STDOUT], "--bogus_option"),
        (["--inp", "STDIN", "--out", "STDOUT"], "--inp"),  # no abbreviations
        (["--output", "STDOUT"], "--input is required"),
        (["--input", "STDIN"], "--output is required"),
        (["--input", "Nope", "--output", "STDOUT"], "unknown input 'Nope'"),
        (["--input", "STDIN", "--output", "STDOUT", "--filter", "Nope"], "unknown filter 'Nope'"),
        (["--input", "STDIN", "--output", "STDOUT", "--error", "Nope"], "--error: unknown output 'Nope'"),
        (["--input", "STDIN", "--output", "STDOUT", "--error_encoder", "Nope"], "--error_encoder: unknown encoder"),
        ([*STDIN_TO_STDOUT, "--output_options", "{bad json"], "--output_options: not valid JSON"),
        ([*STDIN_TO_STDOUT, "--output_options", "[1,2]"], "--output_options must be a JSON object"),
        ([*STDIN_TO_STDOUT, "--output_options", '{"x":1}'], "STDOUT has no option 'x'"),
        (["--input", "STDIN", "--output", "File"], "File needs option 'filename'"),
        (["--input", "STDIN", "--output", "File", "--output_options", '{"filename":1}'],
         "option 'filename' must be a string, not an integer"),
        (["--input", "STDIN", "--output", "File", "--output_options", '{"filename":"/tmp/x","append":"yes"}'],
         "option 'append' must be true or false"),
        (["--input", "ZeroMQ", "--output", "STDOUT"], "exactly one of 'connect' and 'socket_bind' (neither"),
        (["--input", "ZeroMQ", "--input_options", opts(connect=endpoint(), socket_bind=endpoint()),
          "--output", "STDOUT"], "(both given)"),
        (["--input", "ZeroMQ", "--input_options", opts(connect=endpoint(), socket_type="PUB"),
          "--output", "STDOUT"], "option 'socket_type' must be one of SUB, PULL"),
        (["--input", "ZeroMQ", "--input_options", opts(connect=endpoint(), subscribe="abc"),
          "--output", "STDOUT"], "option 'subscribe' must be a list of strings"),
        (["--input", "ZeroMQ", "--input_options", opts(connect=endpoint(), socket_hwm=-1),
          "--output", "STDOUT"], "option 'socket_hwm' must be at least 0"),
        (["--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect="127.0.0.1:5")],
         "must look like tcp://"),
        (["--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=endpoint(), socket_type="SUB")],
         "option 'socket_type' must be one of PUB, PUSH"),
        ([*STDIN_TO_STDOUT, "--filter", "Key", "--filter_options", '{"key":"a"}'], "Key needs option 'match'"),
        ([*STDIN_TO_STDOUT, "--filter", "Key", "--filter_options", '{"key":"a","match":"(","match_type":"regex"}'],
         "not a valid regular expression"),
        ([*STDIN_TO_STDOUT, "--filter", "+no_such_module.Thing"], "--filter: cannot import no_such_module"),
        ([*STDIN_TO_STDOUT, "--filter", "+json.NoSuchClass"], "module json has no NoSuchClass"),
        ([*STDIN_TO_STDOUT, "--filter", "+json.JSONDecoder"], "--filter: +json.JSONDecoder is not a filter"),
        ([*STDIN_TO_STDOUT, "--daemonize", "1"], "unrecognized arguments: 1"),
        ([*STDIN_TO_STDOUT, "--input_options", '{"max_message_size":18446744073709551616}'],
         "option 'max_message_size' must be at most"),
        (["--input", "ZeroMQ", "--input_options", opts(connect=endpoint(), socket_hwm=4294967296), "--output", "STDOUT"],
         "option 'socket_hwm' is out of range"),
        (["--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=endpoint(), linger=4294967296)],
         "option 'linger' is out of range"),
        (["--input", "STDIN", "--output", "ZeroMQ", "--output_options", '{"connect":"tcp://127.0.0.1:1","subscribe_delay":NaN}'],
         "option 'subscribe_delay' must be a finite number"),
        (["--input", "STDIN", "--output", "ZeroMQ", "--output_options", '{"connect":"tcp://127.0.0.1:1","subscribe_delay":1e300}'],
         "option 'subscribe_delay' must be at most"),
        (["--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect="tcp://*:99999")],
         "port 99999 is not between 1 and 65535"),
        (["--input", "STDIN", "--output", "File", "--output_options", '{"filename":""}'], "option 'filename' must not be empty"),
        (["--input", "STDIN", "--output", "File", "--output_options", '{"filename":"/tmp/a\\u0000b"}'],
         "option 'filename' must not contain a NUL"),
        (["--input", "STDIN", "--output", "File", "--output_options", '{"filename":"/tmp/x\\ud800.log"}'],
         "option 'filename' is not valid UTF-8 text"),
        ([*STDIN_TO_STDOUT, "--input_options", ""], "--input_options: not valid JSON"),
        ([*STDIN_TO_STDOUT, "--input_options", "0"], "--input_options must be a JSON object, not 0"),
        ([*STDIN_TO_STDOUT, "--error_encoder", "Null"], "--error_encoder: Null cannot write error records"),
        ([*STDIN_TO_STDOUT, "--pid_file", ""], "--pid_file must be a path"),
    ],
)
def test_bad_options_stop_startup_with_one_line_naming_them(args, names):
    r = run_mp(*args, input=b'{"a":1}\n')
    err = r.stderr.decode()
    assert r.returncode == 2, err
    assert r.stdout == b""
    assert err.count("\n") == 1 and err.startswith("message-passing: "), err
    assert names in err, err
    assert "Traceback" not in err


def test_configfile_formats_and_the_command_line_wins(tmp_path):
    out = tmp_path / "out.log"
    contents = {
        "c.json": json.dumps({"input": "STDIN", "output": "File", "output_options": {"filename": str(out)},
                              "filter": "Key", "filter_options": {"key": "k", "match": "yes"}}),
        "c.yaml": f"input: STDIN\noutput: File\noutput_options:\n  filename: {out}\nfilter: Key\n"
                  "filter_options: {key: k, match: 'yes'}\n",
        "c.toml": f'input = "STDIN"\noutput = "File"\nfilter = "Key"\n[output_options]\nfilename = "{out}"\n'
                  '[filter_options]\nkey = "k"\nmatch = "yes"\n',
    }
    for name, text in contents.items():
        cfg = tmp_path / name
        cfg.write_text(text)
        out.unlink(missing_ok=True)
        r = run_mp("--configfile", str(cfg), input=b'{"k":"yes"}\n{"k":"no"}\n')
        assert r.returncode == 0, r.stderr
        assert lines(out) == [b'{"k":"yes"}'], name
        # the command line wins over the file
        r = run_mp("--configfile", str(cfg), "--output", "STDOUT", "--filter", "Null", input=b'{"k":"no"}\n')
        assert (r.returncode, r.stdout) == (0, b'{"k":"no"}\n'), name


@pytest.mark.parametrize(
    "name, text, says",
    [
        ("c.json", "{bad", "is not valid JSON"),
        ("c.yaml", "input: [unclosed", "is not valid YAML"),
        ("c.toml", "input = ", "is not valid TOML"),
        ("c.conf", "input: STDIN", "unknown format '.conf'"),
        ("c.json", '{"input":"STDIN","output":"STDOUT","bogus":1}', "unknown option 'bogus'"),
        ("c.json", '["input"]', "must hold a mapping"),
        ("c.json", '{"input":"STDIN","output":"STDOUT","output_options":"{bad"}', "--output_options: not valid JSON"),
    ],
)
def test_bad_configfile_is_one_line(tmp_path, name, text, says):
    cfg = tmp_path / name
    cfg.write_text(text)
    r = run_mp("--configfile", str(cfg))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and says in err, err


def test_missing_configfile(tmp_path):
    r = run_mp("--configfile", str(tmp_path / "nope.json"))
    assert r.returncode == 2 and b"cannot read" in r.stderr


def test_pid_file_holds_the_pid_and_is_removed_at_exit(tmp_path):
    pid_file = tmp_path / "mp.pid"
    p = subprocess.Popen([MP, "--input", "Null", "--output", "Null", "--pid_file", str(pid_file)],
                         stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
        assert pid_file.read_text() == f"{p.pid}\n"
    finally:
        code, _, err = stop(p)
    assert code == 0, err
    assert not pid_file.exists()


def test_unwritable_pid_file_stops_startup_exit_1(tmp_path):
    r = run_mp(*STDIN_TO_STDOUT, "--pid_file", str(tmp_path / "no" / "such" / "dir.pid"))
    assert r.returncode == 1 and b"--pid_file: cannot write" in r.stderr


def test_daemonize_detaches_writes_pid_and_resolves_relative_paths(tmp_path):
    pid_file, port = tmp_path / "d.pid", endpoint()
    r = subprocess.run([MP, "--input", "ZeroMQ", "--input_options", opts(socket_bind=port),
                        "--output", "File", "--output_options", opts(filename="out.log"),
                        "--daemonize", "--pid_file", "d.pid"], cwd=tmp_path, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    pid = int(pid_file.read_text())
    try:
        assert pid != os.getpid()
        # detached: a session of its own, standard streams on /dev/null
        assert os.getsid(pid) != os.getsid(0)
        assert os.readlink(f"/proc/{pid}/fd/1") == "/dev/null"
        r = run_mp("--input", "STDIN", "--output", "ZeroMQ", "--output_options", opts(connect=port),
                   input=b'{"daemon":1}\n')
        assert r.returncode == 0
        assert wait_for(lambda: lines(tmp_path / "out.log") == [b'{"daemon":1}'])
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z")
    assert not pid_file.exists()


def test_daemonize_reports_startup_failure_where_it_was_asked(tmp_path):
    busy = endpoint()
    holder = subprocess.Popen([MP, "--input", "ZeroMQ", "--input_options", opts(socket_bind=busy),
                               "--output", "Null"], stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: b"" == b"" and _listening(busy))
        r = subprocess.run([MP, "--input", "ZeroMQ", "--input_options", opts(socket_bind=busy), "--output", "Null",
                            "--daemonize"], capture_output=True, timeout=30)
        assert r.returncode == 1
        assert b"cannot bind" in r.stderr and b"Address already in use" in r.stderr
    finally:
        stop(holder)


def _listening(ep: str) -> bool:
    import socket

    port = int(ep.rsplit(":", 1)[1])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_bind_in_use_is_one_line_exit_1():
    busy = endpoint()
    holder = subprocess.Popen([MP, "--input", "ZeroMQ", "--input_options", opts(socket_bind=busy),
                               "--output", "Null"], stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: _listening(busy))
        r = run_mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=busy), "--output", "Null")
        err = r.stderr.decode()
        assert r.returncode == 1 and err.count("\n") == 1, err
        assert f"ZeroMQ input: cannot bind {busy}: Address already in use" in err
    finally:
        stop(holder)


def test_unwritable_file_output_is_one_line_exit_1(tmp_path):
    r = run_mp("--input", "STDIN", "--output", "File", "--output_options", opts(filename=str(tmp_path / "no/x.log")),
               input=b"{}\n")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("\n") == 1 and "No such file or directory" in err, err


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "message_passing", *STDIN_TO_STDOUT], input=b'{"a":1}\n',
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, b'{"a":1}\n')


def test_bad_argv_bytes_are_one_line():
    r = subprocess.run([os.fsencode(MP), b"--input", b"ZeroMQ", b"--input_options", b'{"connect":"tcp://\xff:1"}',
                        b"--output", b"STDOUT"], capture_output=True, timeout=30)
    assert r.returncode == 2 and b"not valid UTF-8 text" in r.stderr and r.stderr.count(b"\n") == 1


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"input":"STDIN","output":"STDOUT","pid_file":5}', "--pid_file must be a path, not 5"),
        ("input: STDIN\noutput: STDOUT\npid_file: 2024-01-01\n", "--pid_file must be a path"),
        ('{"input":"STDIN","output":"STDOUT","input_options":[]}', "--input_options must be a JSON object, not []"),
        ('{"input":"STDIN","output":"STDOUT","daemonize":"yes"}', "daemonize must be true or false"),
    ],
)
def test_mistyped_configfile_values(tmp_path, text, says):
    cfg = tmp_path / ("c.yaml" if text.startswith("input:") else "c.json")
    cfg.write_text(text)
    r = run_mp("--configfile", str(cfg))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and says in err, err


def test_yaml_null_names_the_null_components(tmp_path):
    cfg = tmp_path / "n.yaml"
    cfg.write_text("input: STDIN\noutput: STDOUT\nfilter: Null\ndecoder: Null\nencoder: Null\n")
    r = run_mp("--configfile", str(cfg), input=b"raw\n")
    assert (r.returncode, r.stdout) == (0, b"raw\n"), r.stderr


def test_configfile_options_kept_when_the_command_line_names_the_same_component(tmp_path):
    out = tmp_path / "o.log"
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"input": "STDIN", "output": "file", "output_options": {"filename": str(out)}}))
    r = run_mp("--configfile", str(cfg), "--output", "Message::Passing::Output::File", input=b"[1]\n")
    assert r.returncode == 0, r.stderr
    assert lines(out) == [b"[1]"]


@pytest.mark.parametrize(
    "source, flag, says, code",
    [
        ("raise RuntimeError('boom at import')", "+broken.X", "importing broken failed: RuntimeError: boom at import", 2),
        ("def broken(:\n  pass", "+broken.X", "importing broken failed: SyntaxError", 2),
        ("class X:\n    def __init__(self):\n        raise ValueError('no way')\n    def filter(self, m):\n        return m",
         "+broken.X", "--filter: +broken.X could not be made with these options: ValueError: no way", 2),
        ("class X:\n    def open(self):\n        raise KeyError('k')\n    def filter(self, m):\n        return m",
         "+broken.X", "broken.X: KeyError: 'k'", 1),
    ],
)
def test_plugins_that_fail_are_one_line(tmp_path, source, flag, says, code):
    (tmp_path / "broken.py").write_text(source)
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", flag, input=b"{}\n",
               env={"PYTHONPATH": str(tmp_path)})
    err = r.stderr.decode()
    assert r.returncode == code and err.count("\n") == 1 and says in err, err
    assert "Traceback" not in err


def test_an_input_written_in_python_that_raises_stops_with_one_line(tmp_path):
    (tmp_path / "bad_in.py").write_text("class In:\n    def __iter__(self):\n        yield b'[1]'\n"
                                        "        raise OSError(5, 'device gone')\n")
    r = run_mp("--input", "+bad_in.In", "--output", "STDOUT", env={"PYTHONPATH": str(tmp_path)})
    assert r.returncode == 1 and r.stdout == b"[1]\n"
    assert r.stderr.decode().splitlines()[0] == "message-passing: stopped: device gone"


def test_a_failed_start_leaves_a_running_instances_pid_file_alone(tmp_path):
    busy, pid_file = endpoint(), tmp_path / "d.pid"
    first = subprocess.Popen([MP, "--input", "ZeroMQ", "--input_options", opts(socket_bind=busy), "--output", "Null",
                              "--pid_file", str(pid_file)], stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
        r = run_mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=endpoint()), "--output", "Null",
                   "--pid_file", str(pid_file))
        assert r.returncode == 1 and f"already running as process {first.pid}".encode() in r.stderr
        assert pid_file.read_text() == f"{first.pid}\n"
    finally:
        stop(first)
    other = tmp_path / "other.pid"
    r = run_mp("--input", "ZeroMQ", "--input_options", opts(socket_bind="tcp://1.2.3.4:5999"), "--output", "Null",
               "--pid_file", str(other))
    assert r.returncode == 1 and not other.exists()  # a failed start leaves no empty pid file


def test_ipc_endpoints_relative_paths_and_one_in_use(tmp_path):
    out = tmp_path / "out.log"
    r = subprocess.run([MP, "--input", "ZeroMQ", "--input_options", '{"socket_bind":"ipc://rel.sock","socket_type":"PULL"}',
                        "--output", "File", "--output_options", opts(filename=str(out)), "--daemonize",
                        "--pid_file", "d.pid"], cwd=tmp_path, capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int(wait_for(lambda: (tmp_path / "d.pid").exists() and (tmp_path / "d.pid").read_text().strip()))
    try:
        assert (tmp_path / "rel.sock").exists()  # not /rel.sock: the daemon's directory is /
        r = subprocess.run([MP, "--input", "STDIN", "--output", "ZeroMQ",
                            "--output_options", '{"connect":"ipc://rel.sock","socket_type":"PUSH"}'],
                           cwd=tmp_path, input=b"[1]\n", capture_output=True, timeout=30)
        assert r.returncode == 0 and wait_for(lambda: lines(out) == [b"[1]"])
        r = subprocess.run([MP, "--input", "ZeroMQ", "--input_options", '{"socket_bind":"ipc://rel.sock"}',
                            "--output", "Null"], cwd=tmp_path, capture_output=True, timeout=30)
        assert r.returncode == 1 and b"Address already in use" in r.stderr
    finally:
        os.kill(pid, signal.SIGTERM)


def test_closed_standard_streams(tmp_path):
    r = subprocess.run(f"{MP} --input STDIN --output STDOUT <&-", shell=True, capture_output=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, b"")  # no stdin: at its end at once
    assert "input STDIN received=0" in summary(r.stderr)
    r = subprocess.run(f"{MP} --input STDIN --output STDOUT 2>&-", shell=True, input=b'bad\n{"ok":1}\n',
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, b'{"ok":1}\n')  # errors had nowhere to go: not into stdout
    # a closed stdout would take every message unseen: STDOUT refuses to start
    r = subprocess.run(f"{MP} --input STDIN --output STDOUT >&-", shell=True, input=b'{"ok":1}\n',
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stderr) == (1, b"message-passing: STDOUT output: standard output is closed\n")
