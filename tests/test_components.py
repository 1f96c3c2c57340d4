"""The built-in components and the plugin surface, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import textwrap

import pytest

from conftest import counter, error_records, lines, mp, run_mp, stop, summary, wait_for


def write_module(tmp_path, name: str, source: str) -> dict:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    return {"PYTHONPATH": str(tmp_path)}


def test_file_appends_by_default_and_truncates_when_asked(tmp_path):
    out = tmp_path / "out.log"
    out.write_bytes(b'{"old":1}\n')
    args = ("--input", "STDIN", "--output", "File")
    assert run_mp(*args, "--output_options", json.dumps({"filename": str(out)}), input=b'{"new":1}\n').returncode == 0
    assert lines(out) == [b'{"old":1}', b'{"new":1}']
    opts = json.dumps({"filename": str(out), "append": False})
    assert run_mp(*args, "--output_options", opts, input=b'{"new":2}\n').returncode == 0
    assert lines(out) == [b'{"new":2}']


def test_a_truncated_file_is_written_from_its_new_end_even_without_append(tmp_path):
    """logrotate's copytruncate empties the file under a running writer: the next line must go at
    the start, not past the old end (a hole of NUL bytes)."""
    import subprocess

    from conftest import MP

    out = tmp_path / "out.log"
    p = subprocess.Popen([MP, "--input", "STDIN", "--output", "File", "--output_options",
                          json.dumps({"filename": str(out), "append": False})], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdin.write(b'{"before":1}\n' * 10)
    p.stdin.flush()
    assert wait_for(lambda: len(lines(out)) == 10)
    os.truncate(out, 0)
    out_data, err = p.communicate(b'{"after":1}\n', timeout=30)
    assert p.returncode == 0, err
    assert out.read_bytes() == b'{"after":1}\n'


def test_file_relative_path_and_stderr_and_null_outputs(tmp_path):
    import subprocess

    from conftest import MP

    r = subprocess.run([MP, "--input", "STDIN", "--output", "File", "--output_options", '{"filename":"rel.log"}'],
                       input=b"{}\n", cwd=tmp_path, capture_output=True, timeout=30)
    assert r.returncode == 0 and lines(tmp_path / "rel.log") == [b"{}"]
    r = run_mp("--input", "STDIN", "--output", "STDERR", input=b"[1]\n")
    assert (r.stdout, r.stderr.splitlines()[0]) == (b"", b"[1]")
    r = run_mp("--input", "STDIN", "--output", "Null", input=b"[1]\n")
    assert (r.returncode, r.stdout, error_records(r.stderr)) == (0, b"", [])


@pytest.mark.parametrize(
    "options, passed",
    [
        ({"key": "level", "match": "error"}, ["error"]),
        ({"key": "level", "match": "err", "match_type": "regex"}, ["error", "terror"]),
        ({"key": "a.b", "match": "1"}, ["nested"]),
        ({"key": "n", "match": "0"}, ["zero"]),  # falsy values match: the original dropped them
        ({"key": "s", "match": ""}, ["empty"]),
        ({"key": "flag", "match": "true"}, ["bool"]),
        ({"key": "obj", "match": "{}"}, []),  # objects, lists and null never match
    ],
)
def test_key_filter(options, passed):
    data = "\n".join(json.dumps(m) for m in [
        {"id": "error", "level": "error"}, {"id": "info", "level": "info"}, {"id": "terror", "level": "terror"},
        {"id": "nested", "a": {"b": 1}}, {"id": "flat", "a": 1}, {"id": "zero", "n": 0}, {"id": "empty", "s": ""},
        {"id": "bool", "flag": True}, {"id": "obj", "obj": {}}, ["array"],
    ]).encode()
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "Key", "--filter_options", json.dumps(options),
               input=data)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == passed


def test_all_filter_drops_everything():
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "All", input=b'{"a":1}\n[2]\n')
    assert (r.returncode, r.stdout, error_records(r.stderr)) == (0, b"", [])


def test_tee_from_a_config_file(tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    cfg = tmp_path / "tee.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        input: STDIN
        output: STDOUT
        filter: T
        filter_options:
          outputs:
            - {{output: File, output_options: {{filename: {a}}}}}
            - output: File
              output_options: {{filename: {b}}}
              encoder: JSON
              encoder_options: {{pretty: true}}
        """))
    r = run_mp("--configfile", str(cfg), input=b'{"x":1}\n{"x":2}\n')
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'{"x":1}\n{"x":2}\n'
    assert lines(a) == [b'{"x":1}', b'{"x":2}']
    assert b.read_bytes() == b'{\n  "x": 1\n}\n{\n  "x": 2\n}\n'


def test_tee_of_raw_lines_and_a_json_branch_that_refuses_them(tmp_path):
    a, j = tmp_path / "a.log", tmp_path / "j.log"
    opts = json.dumps({"outputs": [{"output": "File", "output_options": {"filename": str(a)}, "encoder": "Null"},
                                   {"output": "File", "output_options": {"filename": str(j)}}]})
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--decoder", "Null", "--encoder", "Null",
               "--filter", "T", "--filter_options", opts, input=b'raw line\n{"json":1}\n')
    assert r.stdout == b'raw line\n{"json":1}\n' and lines(a) == [b"raw line", b'{"json":1}']
    assert lines(j) == [b'{"json":1}']  # the JSON encoder writes JSON only
    (e,) = error_records(r.stderr)
    assert e["class"] == "Message::Passing::Exception::Encoding" and e["stringified_data"] == "raw line"


@pytest.mark.parametrize(
    "spec, says",
    [
        ({"outputs": [{"output": "Nope"}]}, "T outputs[0].output: unknown output 'Nope'"),
        ({"outputs": [{"output": "File"}]}, "File needs option 'filename'"),
        ({"outputs": [{"output": "STDOUT", "bogus": 1}]}, "T outputs[0] has no key 'bogus'"),
        ({"outputs": ["STDOUT"]}, "T outputs[0] must be an object"),
        ({"outputs": {"output": "STDOUT"}}, "option 'outputs' must be a list"),
    ],
)
def test_tee_bad_branches_are_option_errors(spec, says):
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "T", "--filter_options", json.dumps(spec))
    assert r.returncode == 2 and says in r.stderr.decode(), r.stderr


def test_user_filter_only_none_drops(tmp_path):
    env = write_module(tmp_path, "falsy", """
        class Falsy:
            def filter(self, message):
                return {"zero": 0, "empty": "", "obj": {}, "list": [], "none": None}[message["k"]]
        """)
    data = b"\n".join(json.dumps({"k": k}).encode() for k in ("zero", "empty", "obj", "list", "none"))
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "+falsy.Falsy", input=data, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b'0\n""\n{}\n[]\n'


def test_user_filter_with_options_and_the_colon_spelling(tmp_path):
    env = write_module(tmp_path, "tagger", """
        from message_passing import Filter, Option

        class Tag(Filter):
            options = {"tag": Option("string", "the tag to add")}

            def filter(self, message):
                message["tag"] = self.tag
                return message

        class Plain:
            def __init__(self, prefix="p"):
                self.prefix = prefix

            def filter(self, message):
                return {self.prefix: message}
        """)
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "+tagger.Tag", "--filter_options", '{"tag":"x"}',
               input=b'{"a":1}\n', env=env)
    assert r.stdout == b'{"a":1,"tag":"x"}\n', r.stderr
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "tagger:Plain", "--filter_options", '{"prefix":"q"}',
               input=b'{"a":1}\n', env=env)
    assert r.stdout == b'{"q":{"a":1}}\n', r.stderr
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "+tagger.Tag", "--filter_options", '{"tog":"x"}',
               env=env)
    assert r.returncode == 2 and b"has no option 'tog'" in r.stderr
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "+tagger.Plain", "--filter_options", '{"x":1}',
               env=env)
    assert r.returncode == 2 and b"--filter_options: +tagger.Plain does not take these options" in r.stderr


def test_filter_exception_goes_to_the_error_chain_and_the_pipeline_goes_on(tmp_path):
    env = write_module(tmp_path, "boom", """
        class Boom:
            def filter(self, message):
                if message.get("boom"):
                    raise ValueError("bad message")
                return message
        """)
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "+boom.Boom",
               input=b'{"n":1}\n{"boom":true}\n{"n":2}\n', env=env)
    assert r.returncode == 0
    assert r.stdout == b'{"n":1}\n{"n":2}\n'
    (e,) = error_records(r.stderr)
    assert e["class"] == "Message::Passing::Exception::Filter"
    assert "ValueError: bad message" in e["exception"] and "Traceback" in e["exception"]
    assert e["stringified_data"] == "{'boom': True}"


def test_unencodable_filter_result_is_an_encoding_error(tmp_path):
    env = write_module(tmp_path, "obj", """
        class Obj:
            def filter(self, message):
                return {"when": object()} if message.get("bad") else message
        """)
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "+obj.Obj",
               input=b'{"n":1}\n{"bad":1}\n{"n":2}\n', env=env)
    assert r.stdout == b'{"n":1}\n{"n":2}\n'
    (e,) = error_records(r.stderr)
    assert e["class"] == "Message::Passing::Exception::Encoding"


def test_user_input_output_decoder_encoder(tmp_path):
    out = tmp_path / "seen.txt"
    env = write_module(tmp_path, "parts", f"""
        class Lines:
            def __init__(self, count=3):
                self.count = count

            def __iter__(self):
                for i in range(self.count):
                    yield f"{{i}}:line".encode()
                yield b"not json"
                yield {{"already": "decoded"}}

        class Colon:
            def decode(self, data):
                if isinstance(data, dict):
                    return data
                n, _, text = data.decode().partition(":")
                if not text:
                    raise ValueError("no colon")
                return {{"n": int(n), "text": text}}

        class Upper:
            def encode(self, message):
                return repr(sorted(message.items())).upper().encode()

        class Collect:
            def consume(self, data):
                with open({str(out)!r}, "ab") as f:
                    f.write(data + b"\\n")
        """)
    r = run_mp("--input", "+parts.Lines", "--input_options", '{"count":2}', "--decoder", "+parts.Colon",
               "--encoder", "+parts.Upper", "--output", "+parts.Collect", env=env)
    assert r.returncode == 0, r.stderr
    assert lines(out) == [b"[('N', 0), ('TEXT', 'LINE')]", b"[('N', 1), ('TEXT', 'LINE')]",
                          b"[('ALREADY', 'DECODED')]"]
    (e,) = error_records(r.stderr)
    assert e["class"] == "Message::Passing::Exception::Decoding" and e["packed_data"] == "not json"


def test_python_input_lines_are_validated_like_native_ones(tmp_path):
    env = write_module(tmp_path, "gen", """
        class Gen:
            def __iter__(self):
                yield b'{ "a" : 1 }'
                yield '[2]'
                yield b'"scalar"'
                yield b'{"big":123456789012345678901234567890}'
        """)
    r = run_mp("--input", "+gen.Gen", "--output", "STDOUT", env=env)
    assert r.stdout == b'{"a":1}\n[2]\n{"big":123456789012345678901234567890}\n'
    assert [e["packed_data"] for e in error_records(r.stderr)] == ['"scalar"']


def test_entry_points_add_components(tmp_path):
    # what `pip install message-passing-foo` does: a module and a dist-info with entry points
    (tmp_path / "mp_foo.py").write_text("class Upper:\n    def filter(self, m):\n"
                                        "        return {k.upper(): v for k, v in m.items()}\n")
    info = tmp_path / "message_passing_foo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: message-passing-foo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[message_passing.filters]\nUpper = mp_foo:Upper\n")
    env = {"PYTHONPATH": str(tmp_path)}
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "Upper", input=b'{"a":1}\n', env=env)
    assert r.stdout == b'{"A":1}\n', r.stderr
    r = run_mp("--input", "STDIN", "--output", "STDOUT", "--filter", "Nope", env=env)
    assert b"known: Null, All, Key, T, Upper" in r.stderr


def test_null_input_runs_until_a_signal():
    for sig in (signal.SIGTERM, signal.SIGINT):
        p = mp("--input", "Null", "--output", "STDOUT")
        try:
            assert wait_for(lambda: p.poll() is not None, timeout=1.0) is False  # still running
        finally:
            code, out, err = stop(p, sig)
        assert (code, out) == (0, b""), err
        assert b"Traceback" not in err


def test_a_failing_output_is_said_once_and_counted(tmp_path):
    data = b"".join(b'{"n":%d}\n' % i for i in range(100000))
    r = run_mp("--input", "STDIN", "--output", "File", "--output_options", '{"filename":"/dev/full"}', input=data)
    assert r.returncode == 0
    (record,) = error_records(r.stderr)
    assert record["exception"] == "File: /dev/full: No space left on device"
    assert "output File sent=0 dropped=0 failed=100000" in summary(r.stderr)


def test_stdout_closed_by_its_reader(tmp_path):
    import subprocess

    from conftest import MP

    data = b"".join(b'{"n":%d}\n' % i for i in range(200000))
    r = subprocess.run(f"{MP} --input STDIN --output STDOUT | head -1", shell=True, input=data,
                       capture_output=True, timeout=30)
    assert r.stdout == b'{"n":0}\n'
    (record,) = error_records(r.stderr)
    assert "Broken pipe" in record["exception"]
    sent = counter(r.stderr, "output STDOUT", "sent")
    failed = counter(r.stderr, "output STDOUT", "failed")
    assert sent + failed == 200000 and sent >= 1


def test_tee_to_an_output_with_nothing_but_consume(tmp_path):
    out = tmp_path / "seen"
    env = write_module(tmp_path, "bare", f"""
        class Out:
            def consume(self, data):
                with open({str(out)!r}, "ab") as f:
                    f.write(data + b"\\n")
        """)
    opts = json.dumps({"outputs": [{"output": "+bare.Out"}]})
    r = run_mp("--input", "STDIN", "--output", "Null", "--filter", "T", "--filter_options", opts,
               input=b'{"t":1}\n', env=env)
    assert r.returncode == 0, r.stderr
    assert lines(out) == [b'{"t":1}']


def test_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "no" / "x.log"
    r = run_mp("--input", "STDIN", "--output", "File", "--output_options", json.dumps({"filename": str(missing)}))
    assert r.returncode == 1 and f"File: {missing}: No such file or directory".encode() in r.stderr, r.stderr
