"""STDIN and the JSON codecs: what passes, byte for byte, and what goes to the error chain."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from conftest import MP, error_records, run_mp

STDIN_TO_STDOUT = ("--input", "STDIN", "--output", "STDOUT")


def errors(stderr: bytes) -> list[dict]:
    return error_records(stderr)


def test_malformed_lines_between_good_ones():
    # cases/C5: good objects out in order, arrays pass, each bad line one error record, empty lines skipped
    data = b'{"ok":1}\n{bad\n[1]\n"s"\n42\nnull\n\n   \n{"ok":2}\n'
    r = run_mp(*STDIN_TO_STDOUT, input=data)
    assert r.returncode == 0
    assert r.stdout == b'{"ok":1}\n[1]\n{"ok":2}\n'
    errs = errors(r.stderr)
    assert [e["packed_data"] for e in errs] == ["{bad", '"s"', "42", "null", "   "]
    for e in errs:
        assert e["class"] == "Message::Passing::Exception::Decoding"
        assert e["exception"]
    assert b"Traceback" not in r.stderr


def test_output_is_compact_key_order_kept_escapes_as_given():
    data = b'{ "z" : 1, "a" : { "y" : [ 1 , 2 ] , "b" : null }, "s": "caf\\u00e9 \xe2\x98\x83 \\n" }\n'
    r = run_mp(*STDIN_TO_STDOUT, input=data)
    assert r.stdout == b'{"z":1,"a":{"y":[1,2],"b":null},"s":"caf\\u00e9 \xe2\x98\x83 \\n"}\n'


def test_invalid_utf8_goes_to_the_error_chain_with_its_bytes_escaped():
    # cases/C6
    data = b'{"v":"\xff\xfe"}\n{"v":"\\ud800"}\n{"v":"caf\xe9"}\n{"v":"h\xc3\xa9llo \xe2\x98\x83"}\n'
    r = run_mp(*STDIN_TO_STDOUT, input=data)
    assert r.returncode == 0
    assert r.stdout == b'{"v":"h\xc3\xa9llo \xe2\x98\x83"}\n'  # valid text passes byte-exact
    errs = errors(r.stderr)  # every line we write is valid UTF-8 JSON
    assert [e["packed_data"] for e in errs] == ['{"v":"\\xff\\xfe"}', '{"v":"\\ud800"}', '{"v":"caf\\xe9"}']
    assert "UTF-8" in errs[0]["exception"]
    r.stderr.decode("utf-8")


def test_crlf_last_line_without_newline_and_blank_lines():
    r = run_mp(*STDIN_TO_STDOUT, input=b'{"a":1}\r\n\n\n{"a":2}\r\n{"a":3}')
    assert (r.returncode, r.stdout, errors(r.stderr)) == (0, b'{"a":1}\n{"a":2}\n{"a":3}\n', [])


def test_big_numbers_are_kept_exactly():
    data = b'{"big":123456789012345678901234567890,"u":18446744073709551615,"f":1.50,"e":1e400}\n'
    r = run_mp(*STDIN_TO_STDOUT, input=data)
    assert r.stdout == b'{"big":123456789012345678901234567890,"u":18446744073709551615,"f":1.50,"e":1e400}\n'


def test_big_numbers_through_a_python_filter_are_not_rounded(tmp_path):
    (tmp_path / "touch.py").write_text("class Touch:\n    def filter(self, m):\n        m['t'] = 1\n        return m\n")
    data = b'{"big":123456789012345678901234567890}\n{"n":1}\n'
    r = run_mp(*STDIN_TO_STDOUT, "--filter", "+touch.Touch", input=data, env={"PYTHONPATH": str(tmp_path)})
    assert r.stdout == b'{"big":123456789012345678901234567890,"t":1}\n{"n":1,"t":1}\n', r.stderr


def test_deeply_nested_and_duplicate_keys():
    deep = b"[" * 2000 + b"]" * 2000
    r = run_mp(*STDIN_TO_STDOUT, input=deep + b'\n{"d":1,"d":2}\n')
    assert r.stdout == b'{"d":1,"d":2}\n'  # duplicate keys are valid JSON: kept as they came
    assert "deeper than 1024" in errors(r.stderr)[0]["exception"]


def test_null_codecs_pass_lines_as_they_are():
    data = b"not json at all\n{ \"a\" : 1 }\n\xff\n"
    r = run_mp(*STDIN_TO_STDOUT, "--decoder", "Null", "--encoder", "Null", input=data)
    assert (r.returncode, r.stdout, errors(r.stderr)) == (0, data, [])


@pytest.mark.parametrize("python_filter", [False, True])  # native, and through Python
def test_null_decoder_with_json_encoder_writes_only_json(tmp_path, python_filter):
    (tmp_path / "same.py").write_text("class Same:\n    def filter(self, m):\n        return m\n")
    r = run_mp(*STDIN_TO_STDOUT, "--decoder", "Null", "--filter", "+same.Same" if python_filter else "Null",
               input=b'plain text\n{ "a" : 1 }\n', env={"PYTHONPATH": str(tmp_path)})
    # bytes pass if they are JSON (minified, as the core frames them); the rest is refused
    assert r.stdout == b'{"a":1}\n'

    (e,) = errors(r.stderr)
    assert e["class"] == "Message::Passing::Exception::Encoding"
    assert "plain text" in json.dumps(e)


def test_json_decoder_with_null_encoder_is_an_encoding_error_per_message():
    r = run_mp(*STDIN_TO_STDOUT, "--encoder", "Null", input=b'{"a":1}\n')
    assert r.stdout == b""
    (e,) = errors(r.stderr)
    assert e["class"] == "Message::Passing::Exception::Encoding"
    assert "Null encoder writes bytes or text" in e["exception"]
    assert e["stringified_data"] == "{'a': 1}"


def test_pretty_encoder():
    r = run_mp(*STDIN_TO_STDOUT, "--encoder_options", '{"pretty":true}', input=b'{"a":[1]}\n')
    assert r.stdout == b'{\n  "a": [\n    1\n  ]\n}\n'


def test_max_message_size_rejects_with_the_size_and_goes_on():
    big = b'{"x":"' + b"a" * 10000 + b'"}'
    r = run_mp(*STDIN_TO_STDOUT, "--input_options", '{"max_message_size":1000}',
               input=b'{"a":1}\n' + big + b'\n{"a":2}\n' + big)
    assert r.stdout == b'{"a":1}\n{"a":2}\n'
    errs = errors(r.stderr)
    assert len(errs) == 2
    for e in errs:
        assert e["size"] == len(big)
        assert "max_message_size" in e["exception"]
        assert big.decode().startswith(e["packed_data"]) and len(e["packed_data"]) < len(big)


def test_a_10mb_line_passes_intact(tmp_path):
    big = b'{"x":"' + b"b" * (10 << 20) + b'"}\n'
    r = run_mp(*STDIN_TO_STDOUT, input=big + b'{"after":1}\n', timeout=60)
    assert r.returncode == 0
    assert r.stdout == big + b'{"after":1}\n'


@pytest.mark.parametrize("depth", [300, 1000, 1024])
def test_valid_json_nested_too_deep_for_python_goes_to_the_error_chain(tmp_path, depth):
    # the core takes 1024 levels; Python's decoders and encoders take fewer: the message is an
    # error record, the batch around it passes
    (tmp_path / "same.py").write_text("class Same:\n    def filter(self, m):\n        return m\n")
    deep = b"[" * depth + b"]" * depth
    for extra in (["--filter", "+same.Same"], ["--encoder_options", '{"pretty":true}']):
        r = run_mp(*STDIN_TO_STDOUT, *extra, input=b'{"ok":1}\n' + deep + b'\n{"ok":2}\n',
                   env={"PYTHONPATH": str(tmp_path)})
        assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
        out = r.stdout.replace(b"\n", b"").replace(b" ", b"")
        assert out.startswith(b'{"ok":1}') and out.endswith(b'{"ok":2}')
        if depth > 900:
            (e,) = errors(r.stderr)
            assert e["class"] in ("Message::Passing::Exception::Decoding", "Message::Passing::Exception::Encoding")


def test_crlf_blank_lines_are_blank_for_every_decoder():
    for codecs in ([], ["--decoder", "Null", "--encoder", "Null"]):
        r = run_mp(*STDIN_TO_STDOUT, *codecs, input=b'\r\n{"c":3}\r\n\r\n')
        assert (r.returncode, r.stdout, errors(r.stderr)) == (0, b'{"c":3}\n', []), codecs


def test_an_oversized_message_says_its_size_however_small():
    r = run_mp(*STDIN_TO_STDOUT, "--input_options", '{"max_message_size":1}', input=b'{"a":1}\n')
    (e,) = errors(r.stderr)
    assert (e["packed_data"], e["size"]) == ('{"a":1}', 7) and "max_message_size" in e["exception"]


def test_a_byte_order_mark_is_allowed_and_not_passed_on():
    r = run_mp(*STDIN_TO_STDOUT, input=b'\xef\xbb\xbf{"a": 1}\n\xef\xbb\xbf[2]\n\xef\xbb\xbf\xef\xbb\xbf[3]\n')
    assert (r.returncode, r.stdout) == (0, b'{"a":1}\n[2]\n')
    (e,) = errors(r.stderr)  # a second mark is not JSON; the error keeps the line as it came
    assert e["packed_data"] == "\ufeff\ufeff[3]" and "byte order mark" in e["exception"]


def test_depth_is_counted_the_same_on_every_path():
    # a value inside the 1024th container is one level too deep, numbers simdjson takes or not
    for inner in (b"1", b"1e400"):
        deep, ok = b"[" * 1024 + inner + b"]" * 1024, b"[" * 1023 + inner + b"]" * 1023
        r = run_mp(*STDIN_TO_STDOUT, input=deep + b"\n" + ok + b"\n")
        assert r.stdout == ok + b"\n", inner
        assert [e["exception"] for e in errors(r.stderr)] == ["JSON nested deeper than 1024 levels"], inner


def test_documents_with_big_numbers_are_refused_for_their_own_fault():
    # simdjson stops at a number it will not represent; the strict validator names the real fault
    lines = {b'[1e400, tru]': "bad literal", b'[1e400, "a\tb"]': "control character",
             b'[1e400, "\\x"]': "bad string", b'[1e400, "a': "string not closed", b'[1e400 1]': "commas",
             b'[1e400, 01]': "bad number", b'1e400': "must be an object or array", b'[1e400, x]': "commas"}
    r = run_mp(*STDIN_TO_STDOUT, input=b"\n".join(lines) + b"\n")
    assert r.stdout == b""
    for (line, why), e in zip(lines.items(), errors(r.stderr), strict=True):
        assert why in e["exception"] and e["packed_data"] == line.decode(), (line, e)


def test_crlf_lines_at_the_size_limit():
    # a line of exactly max_message_size bytes is accepted, however its \r\n is split between reads
    for stdin in (b'{"a":1}\r\n', b'{"a":1}\r'):
        r = run_mp(*STDIN_TO_STDOUT, "--input_options", '{"max_message_size":7}', input=stdin)
        assert r.stdout == b'{"a":1}\n', stdin
    p = subprocess.Popen([MP, *STDIN_TO_STDOUT, "--input_options", '{"max_message_size":7}'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b'{"a":1}\r')
    p.stdin.flush()
    time.sleep(0.3)  # the \n comes in a read of its own
    out, err = p.communicate(b'\n{"bb":22}\r', timeout=30)
    assert out == b'{"a":1}\n'
    (e,) = errors(err)  # over the limit: its \r is not part of it
    assert e["packed_data"] == '{"bb":22}' and "max_message_size" in e["exception"]


def test_nan_and_infinity_from_python_are_null_with_or_without_big_integers(tmp_path):
    (tmp_path / "same.py").write_text("class Same:\n    def filter(self, m):\n        return m\n")
    r = run_mp(*STDIN_TO_STDOUT, "--filter", "+same.Same", input=b'{"m":[1e999]}\n{"n":123456789012345678901234567890,"m":[1e999]}\n',
               env={"PYTHONPATH": str(tmp_path)})
    assert r.stdout == b'{"m":[null]}\n{"n":123456789012345678901234567890,"m":[null]}\n', r.stderr
