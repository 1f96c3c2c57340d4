"""The fuzz corpora (tests/fuzz/corpus/) as regression tests: every input the fuzzers kept is
replayed through the same invariant checks as the fuzzers' (tests/fuzz/fuzz_framing.py), with the
installed core, without atheris or clang. The `bug-*` files reproduce what the fuzzing found
(tests/fuzz/README.md), each fixed since."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
sys.path.insert(0, str(FUZZ))

import fuzz_framing  # noqa: E402

from message_passing import _core  # noqa: E402

FRAMING = sorted((FUZZ / "corpus" / "framing").iterdir())
DOCUMENTS = sorted((FUZZ / "corpus" / "json_frame").iterdir())


@pytest.fixture(autouse=True, scope="module")
def no_wake_fd():
    _core.set_wake_fd(-1)  # a wake-up pipe another test left behind would end the sources' waits


@pytest.mark.parametrize("path", FRAMING, ids=[p.name for p in FRAMING])
def test_framing_corpus(path):
    fuzz_framing.check(path.read_bytes())


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.name for p in DOCUMENTS])
def test_json_frame_corpus(path):
    fuzz_framing.check_document(path.read_bytes())


def test_the_harness_sees_a_wrong_record():
    """The checks are not vacuous: a record with whitespace left, a missing reject, a topic
    where the object has the key, are each caught."""
    exp = fuzz_framing.expect_frame(b'{"a": 1}', True, 0, None, None)
    with pytest.raises(AssertionError):
        fuzz_framing.check_record(b'{"a": 1}', exp, None, None, "test")
    with pytest.raises(AssertionError):
        fuzz_framing.check_sequence([b"[1,]"], [fuzz_framing.expect_frame(b"[1,]", True, 0, None, None)],
                                    [b"[1,]"], [], None, [None], "test")
    exp = fuzz_framing.expect_frame(b'{"topic":1}', True, 0, "topic", b"t")
    with pytest.raises(AssertionError):
        fuzz_framing.check_record(b'{"topic":"t","topic":1}', exp, "topic", b"t", "test")
