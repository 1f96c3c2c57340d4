"""Writes the hand-made seed inputs (files named seed-*) into tests/fuzz/corpus/json_frame/ and
tests/fuzz/corpus/framing/. What the fuzzers add next to them is kept as it is; running this
again only rewrites the seeds. See fuzz_framing.py for the framing input format."""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).parent

DEEP = 1024
JSON_SEEDS = [
    b'{"a":1}', b"[]", b"{}", b"[1,2,3]", b'{"level":"info","message":"hello"}',
    b'{\n  "a" : [1, 2 , {"b":null}],\r\n\t"c": true } \n', b' {"a":"x , y" , "b" : "p :q"} ',
    b'["a ,"]', b'[" ,",": ","{ ","] ["]', b"\r\n[1]\r\n", b"   ", b"", b"1", b'"str"', b"true", b"null",
    b"{", b"[1,]", b'{"a":1,}', b"{'a':1}", b"[01]", b"[1.]", b"[.5]", b"[-]", b"[1e]", b"[1e+]",
    b"[NaN]", b"[Infinity]", b"[-Infinity]", b"[tru]", b"[nul]", b"[fals]", b"[1] [2]", b"{}x", b"[1]\x00",
    b'{"a" 1}', b'{"a":}', b'{1:2}', b"[,]", b"]", b"}{",
    # numbers simdjson refuses for their size: the strict validator
    b"[18446744073709551615]", b"[18446744073709551616]", b"[-9223372036854775808]",
    b"[-9223372036854775809]", b"[1e400]", b"[-1e400]", b"[1e-400]", b"[1E+400, 2.5e-3, -0, 0.0]",
    b'{"n":123456789012345678901234567890}', b'{"n" : 123456789012345678901234567890 , "m":[ 1e999 ]}',
    b"[1.7976931348623157e309]", b"[1e400,]", b'[1e400, "\\ud800"]', b'[1e400,"\\x"]', b"[1e400 1]",
    b"[1e400, 01]", b"[1e400, -]", b"[1e400, 1.]", b'[1e400, "a\tb"]', b'[1e400, "caf\xe9"]',
    b"1e400", b"123456789012345678901234567890", b'{"a":1e400', b'[1e400, tru]', b'{"a":1e400,"b"}',
    b"[99999999999999999999e99999999999999999999]", b"[-0.000000000000000000000000000000001e-99999]",
    # strings
    b'["\\ud800"]', b'["\\udc00"]', b'["\\ud83d\\ude00"]', b'["\\ud83d"]', b'["\\ud83dx"]',
    b'["\\ud83d\\u0041"]', b'["\\u00e9\\u00E9"]', b'["a\tb"]', b'["a\\/b\\b\\f\\n\\r\\t\\"\\\\"]',
    b'["\\u12"]', b'["\\a"]', b'["a', b'["\x00"]', b'["\x7f"]', b'["\\u0000"]',
    # UTF-8
    b'["caf\xe9"]', b'["\xc0\xaf"]', b'["\xed\xa0\x80"]', b'["\xf0\x9f\x98\x80"]', b'["\xf4\x90\x80\x80"]',
    b'["\xe2\x82"]', b'["\xe2\x82\xac"]', b"\xef\xbb\xbf{}", b'{"\xc3\xa9":1}',
    # nesting
    b"[" * DEEP + b"]" * DEEP, b"[" * (DEEP + 1) + b"]" * (DEEP + 1),
    b'{"a":' * DEEP + b"1" + b"}" * DEEP, b'{"a":' * (DEEP + 1) + b"1" + b"}" * (DEEP + 1),
    b"[" * DEEP + b"1e400" + b"]" * DEEP, b"[" * (DEEP + 1) + b"1e400" + b"]" * (DEEP + 1),
    b"[" * 2000,
    # keys (HAS_KEY is checked for "topic" and for the last key)
    b'{"topic":1}', b'{"\\u0074opic":1}', b'{"\\u0074opic":1e400}', b'{"topic":1e400}',
    b'{"a":{"topic":1}}', b'{"topic":1,"topic":2}', b'{"a\\"b":1e400}', b'{"\\ud83d\\ude00":1e400}',
    # long texts: whitespace at 16-byte block edges (mp_json_compact)
    b'{"k":"' + b"x" * 100 + b' , y"}', b'[' + b'1,' * 40 + b' 2]', b'[' + b'"abcdefghijklmn",' * 8 + b'0 ]',
    b'{"k":"' + b"x" * 9 + b'",' + b' ' * 20 + b'"l":1}',
]

F = b"\x1e"  # between frames of a message
M = b"\x1d"  # between messages


def opt(max_size=0, topic=0, mode=0) -> bytes:
    return bytes([max_size | topic << 3 | mode << 6])


FRAMING_SEEDS = [
    opt(topic=1) + b'topic' + F + b'{"a":1}' + F + b'[1]' + M + b'{"b" : 2}',
    opt(topic=1) + b't\xff' + F + b'{"x":1}' + F + b'{}' + F + b'{"topic":0}',
    opt(topic=1) + b'a"b\\c\x01\x7f' + F + b'{ }' + F + b'{"y":[1, 2]}',
    opt(topic=4) + b'caf\xc3\xa9' + F + b'{"t\xc3\xb3pico":1}' + F + b'{"a":1}',
    opt(topic=2) + b'' + F + b'{"a":1}' + M + b'x' + F + b'1' + F + b'"s"' + F + b'{"t":1}',
    opt(topic=5) + b'\xed\xa0\x80' + F + b'{"b":"\\u0061"}',
    opt(topic=3) + b'dropped' + F + b'{"a":1}',
    opt(topic=0) + b'dropped' + F + b'{"a":1}',
    opt(mode=1) + b'{"a":1}\n{"b" : 2}\r\n\n\r\n[3]',
    opt(mode=1) + b'{"a":1}\r\nnot json\n[1,]\r\n\xff\xfe\n\r\r\n{"z":0}\r',
    opt(mode=2) + b'{"a": 1}\r\n[2]\r\n\n  [ 3 ]  \n',
    opt(mode=3) + b'{"key": "value with spaces", "n": [1, 2, 3]}\r\n' * 3,
    opt(max_size=3, mode=0) + b'{"a":1}\n[1]\n[12345]\r\n{"ab":1}\r\n[]',
    opt(max_size=4, mode=0) + b'["aaaaaaaa' + F + b'aaaaaaaaaaaaaaaa' + F + b'aaaa"]\n[1]\n' + b'["bbbbbbbbbbbbbbbbbbbb',
    opt(max_size=4, mode=2) + b'["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]\r\n[1]\r\n["' + b'c' * 40 + b'"]',
    opt(max_size=6) + b'{"a":"' + b'x' * 5000 + b'"}' + F + b'[1]',
    opt(max_size=6, mode=1) + b'{"a":"' + b'x' * 5000 + b'"}\n[1]\n',
    opt(max_size=7) + b'[' + b'1,' * 2500 + b'1]' + F + b'[' + b' 1 ,' * 1500 + b'1]',
    opt(max_size=1) + b'{}' + F + b'[' + F + b'x' + F + b'',
    opt(max_size=2) + b'{}' + F + b'[]' + F + b'[1]',
    opt() + b'{"n":123456789012345678901234567890}' + F + b'[1e400]' + F + b'[1.5, -1e400]',
    opt() + b'[18446744073709551615, -9223372036854775808, 18446744073709551616]' + F + b'{"f":1e-400}',
    opt() + b'[' * 1000 + b']' * 1000 + F + b'{"a":' * 300 + b'1' + b'}' * 300,
    opt() + b'[' * 1000 + b'1e400' + b']' * 1000 + F + b'[' * 1024 + b']' * 1024,
    opt(mode=1) + b'[' * 1024 + b']' * 1024 + b'\n' + b'[' * 1025 + b']' * 1025 + b'\n',
    opt() + F + F + M + M,
    opt() + b'["\\ud800"]' + F + b'["\\udc00"]' + F + b'["\\ud83d\\ude00"]' + F + b'["caf\xe9"]',
    opt() + b'[NaN]' + F + b'[Infinity]' + F + b'["\xed\xa0\x80"]' + F + b'\xef\xbb\xbf{}',
    opt(mode=1) + b'{"a" :\t"b"}\n\t{"c":1}\t\n{"d":"\t"}\n',
    opt(topic=1) + b't' + F + b'{"a":1}' + F + b'{"b":2}' + F + b'{"c":3}' + M + b'{"d":4}' + M + b'u' + F + b'{}',
]

# Reproducers of the bugs this fuzzing found, all fixed (tests/fuzz/README.md)
BUG_SEEDS = {
    "framing": {
        "bug-topic-field-unescaped": opt(topic=6) + b't' + F + b'{"a":1}',
        "bug-topic-field-unescaped-2": opt(topic=7) + b't' + F + b'{"a":1}',
        "bug-strict-escaped-key": opt(topic=1) + b't' + F + b'{"\\u0074opic":1e400}',
        "bug-crlf-oversize-boundary": opt(max_size=3) + b'{"a":1}\r' + F + b'\n[1]\n',
        "bug-crlf-oversize-boundary-eof": opt(max_size=3) + b'{"a":1}\r',
        "bug-depth-1024-value": opt() + b'[' * DEEP + b'1' + b']' * DEEP + F + b'{"a":' * DEEP + b'{}' + b'}' * DEEP,
        "bug-encode-bigint-with-inf": opt() + b'{"n":123456789012345678901234567890,"m":[1e999]}',
        "bug-ubsan-empty-reject": opt(),
        "bug-bom-accepted": opt(topic=1) + b't' + F + b'\xef\xbb\xbf{"a": 1}' + M + b'\xef\xbb\xbf[1]' + M + b'[2]',
        "bug-double-bom": opt(topic=1) + b'\xef\xbb\xbf\xef\xbb\xbf{"a":1}' + F + b'\xef\xbb\xbf\xef\xbb\xbf[]',
    },
    "json_frame": {
        "bug-strict-escaped-key": b'{"\\u0074opic":1e400}',
        "bug-bom-accepted": b'\xef\xbb\xbf{"a": 1}',
        "bug-depth-1024-value": b'[' * DEEP + b'1' + b']' * DEEP,
        "bug-double-bom": b'\xef\xbb\xbf\xef\xbb\xbf{"a":1}',
    },
}


def write(kind: str, name: str, data: bytes) -> None:
    d = HERE / "corpus" / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main() -> None:
    for kind, seeds in (("json_frame", JSON_SEEDS), ("framing", FRAMING_SEEDS)):
        for data in seeds:
            write(kind, "seed-" + hashlib.sha1(data).hexdigest()[:16], data)
    for kind, bugs in BUG_SEEDS.items():
        for name, data in bugs.items():
            write(kind, name, data)


if __name__ == "__main__":
    main()
