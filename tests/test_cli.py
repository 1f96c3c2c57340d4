"""The command line: the original's options and defaults, and one clear line for every bad one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import BIN, MP, endpoint, lines, opts, run_mp, stop, wait_for

STDIN_TO_STDOUT = ("--input", "STDIN", "--output", "STDOUT")


def test_help_lists_every_option_and_exits_0():
    r = run_mp("--help")
    assert r.returncode == 0
    text = r.stdout.decode()
    for name in ("input", "output", "filter", "decoder", "encoder", "error", "error_encoder"):
        assert f"--{name} NAME" in text
        assert f"--{name}_options JSON" in text
    for flag in ("--configfile", "--daemonize", "--pid_file"):
        assert flag in text


def test_message_pass_is_an_alias():
    r = subprocess.run([str(BIN / "message-pass"), *STDIN_TO_STDOUT], input=b'{"a":1}\n',
                       capture_output=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, b'{"a":1}\n')


def test_defaults_are_json_in_json_out_null_filter_stderr_errors():
    r = run_mp(*STDIN_TO_STDOUT, input=b'{"b": 1, "a": [1, 2]}\nnot json\n')
    assert r.returncode == 0
    assert r.stdout == b'{"b":1,"a":[1,2]}\n'
    err = [json.loads(x) for x in r.stderr.splitlines()]
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


def test_unwritable_pid_file_is_an_option_error(tmp_path):
    r = run_mp(*STDIN_TO_STDOUT, "--pid_file", str(tmp_path / "no" / "such" / "dir.pid"))
    assert r.returncode == 2 and b"--pid_file: cannot write" in r.stderr


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
