"""The logging handler (message_passing.logging): applications, each a real Python process, log to
our aggregator and to the Perl original's, over real sockets; from code, dictConfig and structlog;
from threads and forked children; with the collector dead, absent or late; at interpreter exit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import endpoint, lines, mp, opts, records, wait_for, wait_listening

FIXED = {"message", "level", "name", "@timestamp", "epochtime", "hostname", "pid", "thread", "logger", "module",
         "function", "line"}


def app(tmp_path: Path, code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `code` as an application's script (its own interpreter, to its exit)."""
    script = tmp_path / f"app_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, timeout=timeout, cwd=tmp_path)


def collector(procs, out: Path, socket_type: str = "PULL", ep: str | None = None) -> str:
    """Our aggregator: binds `ep` and writes what arrives to `out`. Returns the endpoint."""
    ep = ep or endpoint()
    with open(out.with_suffix(".err"), "ab") as err:
        procs.append(mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=ep, socket_type=socket_type),
                        "--output", "File", "--output_options", opts(filename=str(out)), stderr=err))
    assert wait_listening(int(ep.rsplit(":", 1)[1]))
    return ep


def test_a_record_has_the_originals_fields_and_what_log_users_expect(procs, tmp_path):
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, sys
        from message_passing.logging import ZeroMQHandler

        log = logging.getLogger("shop.api")
        log.setLevel(logging.DEBUG)
        log.addHandler(ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH"))

        def checkout():
            log.warning("disk %s is %d%% full", "/var", 91,
                        extra={"user": "bob", "level": "NOT THIS", "hostname": "NOR THIS", "n": 2 ** 70,
                               "ratio": float("nan"), "deep": {"x": (float("inf"), 1.5)}})
            try:
                {}["missing"]
            except KeyError:
                log.exception("checkout failed")
            log.info("here", stack_info=True)

        checkout()
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert wait_for(lambda: len(lines(out)) == 3)
    warning, failed, here = records(out)
    assert FIXED <= set(warning)
    assert warning["message"] == "disk /var is 91% full" and warning["level"] == "warning"
    assert warning["name"] == warning["logger"] == "shop.api"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", warning["@timestamp"])
    assert abs(warning["epochtime"] - time.time()) < 60
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(warning["epochtime"])))
    assert warning["@timestamp"].startswith(stamp)
    assert warning["thread"] == "MainThread" and isinstance(warning["pid"], int)
    assert (warning["module"], warning["function"]) == (Path(r.args[1]).stem, "checkout")
    assert isinstance(warning["line"], int) and warning["line"] > 0
    # extra fields come along, but never in place of the fixed ones
    assert (warning["user"], warning["n"]) == ("bob", 2 ** 70)
    assert warning["hostname"] != "NOR THIS" and warning["extra.hostname"] == "NOR THIS"
    assert warning["level"] == "warning" and warning["extra.level"] == "NOT THIS"
    assert (warning["ratio"], warning["deep"]) == ("nan", {"x": ["inf", 1.5]})  # what JSON cannot hold: text
    assert failed["level"] == "error" and "Traceback (most recent call last)" in failed["exception"]
    assert "KeyError: 'missing'" in failed["exception"]
    assert "in checkout" in here["stack"]


def test_dictconfig_with_options_and_a_formatter(procs, tmp_path):
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, logging.config, sys

        logging.config.dictConfig({
            "version": 1,
            "formatters": {"json": {"()": "message_passing.logging.JSONFormatter", "name": "shop"}},
            "handlers": {"collector": {"class": "message_passing.logging.ZeroMQHandler", "connect": sys.argv[1],
                                       "socket_type": "PUSH", "socket_hwm": 500, "linger": 2000,
                                       "formatter": "json", "level": "INFO"}},
            "root": {"handlers": ["collector"], "level": "DEBUG"},
        })
        logging.getLogger("a").debug("not this")
        logging.getLogger("a").info("this")
        h = logging.getLogger().handlers[0]
        print(h.socket_hwm, h.linger)
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.split() == [b"500", b"2000"]
    assert wait_for(lambda: len(lines(out)) == 1)
    (rec,) = records(out)
    assert (rec["message"], rec["name"], rec["logger"]) == ("this", "shop", "a")


def test_bad_options_raise_at_configuration_naming_the_option(tmp_path):
    from message_passing.logging import ZeroMQHandler
    from message_passing.options import ConfigError

    for kw, named in (({"connect": "tcp://127.0.0.1:1", "socket_type": "SUB"}, "socket_type"),
                      ({"connect": "tcp://127.0.0.1:1", "socket_hwm": -1}, "socket_hwm"),
                      ({"connect": "tcp://127.0.0.1:1", "sockethwm": 5}, "sockethwm"),
                      ({}, "connect"),
                      ({"connect": "nowhere"}, "nowhere")):
        with pytest.raises(ConfigError, match=named):
            ZeroMQHandler(**kw)


def test_pub_records_wait_for_the_first_subscriber(procs, tmp_path):
    """The default PUB connects before the aggregator's SUB is there: the first records are kept
    (up to socket_hwm) until it subscribes, not lost, and handed over when it does, though the
    application logs nothing more."""
    out, ep = tmp_path / "out.log", endpoint()
    started = tmp_path / "started"
    script = tmp_path / "pub_app.py"
    script.write_text(textwrap.dedent("""
        import logging, sys, time, pathlib
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("app")
        log.setLevel(logging.INFO)
        h = ZeroMQHandler(sys.argv[1], linger=10000)
        log.addHandler(h)
        for i in range(5):
            log.info("early %d", i)
        pathlib.Path(sys.argv[2]).touch()
        deadline = time.monotonic() + 20
        while h.counters()["waiting"] and time.monotonic() < deadline:
            time.sleep(0.05)  # idle: no record, no flush
        log.info("late")
        print(h.counters())
    """))
    p = subprocess.Popen([sys.executable, str(script), ep, str(started)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    procs.append(p)
    assert wait_for(started.exists, 20)
    collector(procs, out, socket_type="SUB", ep=ep)
    so, se = p.communicate(timeout=60)
    assert p.returncode == 0 and se == b"", se
    assert wait_for(lambda: len(lines(out)) == 6)
    assert [r["message"] for r in records(out)] == [f"early {i}" for i in range(5)] + ["late"]


def test_to_the_perl_aggregator(perl_peer, procs, tmp_path):
    """The Perl original's `message-pass --input ZeroMQ` (SUB, bind) takes our records (PUB)."""
    out, ep = tmp_path / "perl.log", endpoint()
    with open(tmp_path / "perl.err", "wb") as err:
        procs.append(subprocess.Popen([perl_peer, "--input", "ZeroMQ", "--input_options",
                                       opts(socket_bind=ep), "--output", "File", "--output_options",
                                       opts(filename=str(out))], stdout=err, stderr=subprocess.STDOUT))
    assert wait_listening(int(ep.rsplit(":", 1)[1]), 30)
    r = app(tmp_path, """
        import logging, sys
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("perlish")
        log.setLevel(logging.INFO)
        log.addHandler(ZeroMQHandler(connect=sys.argv[1], linger=10000))
        for i in range(100):
            log.info("record %d", i, extra={"i": i})
        log.error("café ünïcode ✓")
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert wait_for(lambda: len(lines(out)) == 101, 30), (tmp_path / "perl.err").read_text()
    got = records(out)
    assert [g["i"] for g in got[:100]] == list(range(100))
    assert all((g["level"], g["name"]) == ("info", "perlish") for g in got[:100])
    assert got[100]["message"] == "café ünïcode ✓" and got[100]["level"] == "error"


def test_many_threads_at_once(procs, tmp_path):
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, sys, threading
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", socket_hwm=0, linger=10000)
        log = logging.getLogger("t")
        log.setLevel(logging.INFO)
        log.addHandler(h)

        def work(k):
            for i in range(2000):
                log.info("m", extra={"k": k, "i": i})

        threads = [threading.Thread(target=work, args=(k,), name=f"worker-{k}") for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(h.sent, h.dropped, h.failed)
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.split() == [b"16000", b"0", b"0"]
    assert wait_for(lambda: len(lines(out)) == 16000, 30)
    got = records(out)
    for k in range(8):  # each thread's records, all there, in its order
        mine = [g for g in got if g["k"] == k]
        assert [g["i"] for g in mine] == list(range(2000))
        assert {g["thread"] for g in mine} == {f"worker-{k}"}


def test_a_forked_child_gets_its_own_socket(procs, tmp_path):
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, os, sys
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", linger=10000)
        log = logging.getLogger("f")
        log.setLevel(logging.INFO)
        log.addHandler(h)
        log.info("parent before")
        children = []
        for k in range(3):
            pid = os.fork()
            if pid == 0:
                for i in range(100):
                    log.info("child %d", k)
                logging.shutdown()
                os._exit(0 if (h.sent, h.dropped, h.failed) == (100, 0, 0) else 3)
            children.append(pid)
        for pid in children:
            assert os.waitpid(pid, 0)[1] == 0
        log.info("parent after")
        print(h.sent, h.failed)
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.split() == [b"2", b"0"]
    assert wait_for(lambda: len(lines(out)) == 302, 30)
    got = records(out)
    pids = {g["pid"] for g in got}
    assert len(pids) == 4
    for k in range(3):
        assert len([g for g in got if g["message"] == f"child {k}"]) == 100


def test_a_forked_child_of_a_binding_handler_says_so_once_and_counts(procs, tmp_path):
    """A child cannot bind the endpoint its parent holds: no EADDRINUSE raised, its records are
    counted as dropped, and it says so once on stderr; the parent goes on."""
    ep = endpoint()
    r = app(tmp_path, """
        import logging, os, sys, time
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(socket_bind=sys.argv[1], socket_type="PUSH", linger=0)
        log = logging.getLogger("b")
        log.setLevel(logging.INFO)
        log.addHandler(h)
        for i in range(50):
            log.info("from the parent")  # (most likely still queued at the fork: the parent's to send)
        pid = os.fork()
        if pid == 0:
            for i in range(10):
                log.info("from the child")
            c = h.counters()  # the first failed to open the socket
            os._exit(0 if (c["dropped"], c["failed"], c["waiting"]) == (9, 1, 0) else 3)
        assert os.waitpid(pid, 0)[1] == 0
        log.info("parent")  # no peer: dropped, as ever
        h.flush()
        print(h.sent + h.dropped, h.failed)
    """, ep)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"51", b"0"]
    err = r.stderr.decode()
    assert err.count("--- Logging error ---") == 1 and "cannot bind" in err, err


def test_a_dead_collector_never_blocks_and_every_loss_is_counted(tmp_path):
    """100,000 records to a PUSH endpoint nobody listens on: no exception, nothing waits beyond the
    linger; what the socket had no room for is dropped, what it queued for a peer that never came is
    undelivered. (How fast: bench/log_handler.py.)"""
    r = app(tmp_path, """
        import logging, sys
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", socket_hwm=1000, linger=200)
        log = logging.getLogger("d")
        log.propagate = False
        log.addHandler(h)
        for i in range(100_000):
            log.error("x %d", i)
        h.close()
        c = h.counters()
        print(c["sent"], c["dropped"], c["undelivered"], c["failed"])
    """, endpoint())
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.split() == [b"1000", b"99000", b"1000", b"0"]


@pytest.mark.parametrize("collector_comes", [True, False])
def test_interpreter_exit_hands_over_queued_records_within_the_linger(procs, tmp_path, collector_comes):
    """The application logs and exits while the collector is not there yet: at exit the records
    get up to `linger` to be delivered (delivered if it comes in time) and the exit never hangs."""
    out, ep = tmp_path / "out.log", endpoint()
    script = tmp_path / "exiting.py"
    script.write_text(textwrap.dedent("""
        import logging, sys
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("x")
        log.setLevel(logging.INFO)
        log.addHandler(ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", linger=int(sys.argv[2])))
        for i in range(1000):
            log.info("queued %d", i)
        print("logged", flush=True)
    """))
    linger = 8000 if collector_comes else 500
    began = time.monotonic()
    p = subprocess.Popen([sys.executable, str(script), ep, str(linger)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    procs.append(p)
    assert p.stdout.readline() == b"logged\n"
    if collector_comes:
        time.sleep(0.5)  # the application is exiting, its records queued
        collector(procs, out, ep=ep)
    so, se = p.communicate(timeout=60)
    assert p.returncode == 0 and se == b"", se
    if collector_comes:
        assert wait_for(lambda: len(lines(out)) == 1000, 20)
    else:
        assert time.monotonic() - began < 30  # bounded by the linger (0.5 s), not hung


C12_APP = """
import logging, sys, time
from message_passing.logging import ZeroMQHandler

class Unprintable:
    def __str__(self):
        raise RuntimeError("no")
    __repr__ = __str__

log = logging.getLogger("app")
log.setLevel(1)
h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH")
log.addHandler(h)
raised = []
for call in (
    lambda: log.log(5, "t"),
    lambda: log.info(object()),
    lambda: log.info({"k": "v", "level": "NOT THIS"}),
    lambda: log.info("%s %s", "one"),
    lambda: log.warning("extra", extra={"user": "bob", "obj": Unprintable(), "set": {1}}),
    lambda: log.info("lone \\udc80 surrogate", extra={"big": 2 ** 80, "inf": float("inf")}),
    lambda: log.info(Unprintable()),
):
    try:
        call()
    except BaseException as e:
        raised.append(e)
try:
    1 / 0
except ZeroDivisionError:
    try:
        log.exception("it failed")
    except BaseException as e:
        raised.append(e)
print(repr(raised), h.failed)
"""


def test_c12_logging_handler_abuse(procs, tmp_path):
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, C12_APP, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.split() == [b"[]", b"0"]  # nothing raised, nothing failed
    assert wait_for(lambda: len(lines(out)) == 8)
    got = records(out)
    assert [g["level"] for g in got] == ["level 5", "info", "info", "info", "warning", "info", "info", "error"]
    assert got[0]["message"] == "t"
    assert got[1]["message"].startswith("<object object at")
    assert (got[2]["k"], got[2]["message"]) == ("v", "")  # a dict message's keys are fields
    assert "not enough arguments" in got[3]["message"] and "'%s %s'" in got[3]["message"]
    assert got[4]["user"] == "bob" and "cannot be shown" in got[4]["obj"] and got[4]["set"] == "{1}"
    assert got[5]["message"] == "lone \\udc80 surrogate" and got[5]["big"] == 2 ** 80 and got[5]["inf"] == "inf"
    assert "cannot be shown" in got[6]["message"] or "RuntimeError" in got[6]["message"]
    assert got[7]["message"] == "it failed" and "ZeroDivisionError: division by zero" in got[7]["exception"]
    raw = out.read_bytes()
    raw.decode("utf-8")  # valid UTF-8 throughout


def test_a_failing_formatter_is_said_once_and_counted(procs, tmp_path):
    r = app(tmp_path, """
        import logging, sys
        from message_passing.logging import ZeroMQHandler

        class Broken(logging.Formatter):
            def format(self, record):
                raise ValueError("broken formatter")

        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", linger=0)
        h.setFormatter(Broken())
        log = logging.getLogger("x")
        log.addHandler(h)
        for i in range(50):
            log.error("x")
        print(h.failed)
    """, endpoint())
    assert r.returncode == 0 and r.stdout.split() == [b"50"]
    err = r.stderr.decode()
    assert err.count("--- Logging error ---") == 1 and "broken formatter" in err, err


def test_another_formatters_text_is_the_message(procs, tmp_path):
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, sys
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH")
        h.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
        log = logging.getLogger("x")
        log.addHandler(h)
        log.warning("careful")
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert wait_for(lambda: len(lines(out)) == 1)
    (rec,) = records(out)
    assert (rec["message"], rec["level"]) == ("[WARNING] careful", "warning")


def test_structlog_events_go_the_same_way(procs, tmp_path):
    pytest.importorskip("structlog")
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import sys, structlog
        from message_passing.logging import ZeroMQProcessor
        send = ZeroMQProcessor(connect=sys.argv[1], socket_type="PUSH", drop=True)
        Site = structlog.processors.CallsiteParameter
        structlog.configure(processors=[structlog.stdlib.add_log_level, structlog.processors.CallsiteParameterAdder(
            [Site.MODULE, Site.FUNC_NAME, Site.LINENO]), send])
        log = structlog.get_logger("svc")

        def login():
            log.info("user logged in", user="bob", attempts=3, hostname="not this", ratio=float("nan"))

        login()
        try:
            1 / 0
        except ZeroDivisionError:
            log.exception("boom")
        print(send.handler.sent)
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert r.stdout.split() == [b"2"]
    assert wait_for(lambda: len(lines(out)) == 2)
    login, boom = records(out)
    assert (login["message"], login["level"], login["user"], login["attempts"]) == ("user logged in", "info", "bob", 3)
    assert {"@timestamp", "epochtime", "hostname", "pid", "thread", "name"} <= set(login)
    assert (login["logger"], login["function"]) == ("structlog", "login")  # (no add_logger_name)
    script = next(tmp_path.glob(login["module"] + ".py"))  # the module: the app's script
    assert 'log.info("user logged in"' in script.read_text().splitlines()[login["line"] - 1]
    assert not {"func_name", "lineno"} & set(login)
    assert login["hostname"] != "not this" and (login["extra.hostname"], login["ratio"]) == ("not this", "nan")
    assert boom["level"] == "error" and "ZeroDivisionError" in boom["exception"]


def test_jsonformatter_serves_any_handler(tmp_path):
    r = app(tmp_path, """
        import logging, sys
        from message_passing.logging import JSONFormatter
        h = logging.StreamHandler(sys.stdout)
        h.setFormatter(JSONFormatter())
        log = logging.getLogger("s")
        log.addHandler(h)
        log.warning("to stdout %d", 1)
    """)
    assert r.returncode == 0
    rec = json.loads(r.stdout)
    assert (rec["message"], rec["level"], rec["logger"]) == ("to stdout 1", "warning", "s")


@pytest.mark.parametrize("socket_type, method", [("PUSH", "fork"), ("PUB", "fork"), ("PUSH", "forkserver")])
def test_multiprocessing_children_deliver_their_records(procs, tmp_path, socket_type, method):
    """multiprocessing's children end in os._exit, without logging.shutdown: their records are
    still delivered (the handler, inherited or made in the child, closes in the child's exit)."""
    out = tmp_path / "out.log"
    ep = collector(procs, out, socket_type="PULL" if socket_type == "PUSH" else "SUB")
    r = app(tmp_path, """
        import logging, multiprocessing, sys
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("m")
        log.addHandler(ZeroMQHandler(connect=sys.argv[1], socket_type=sys.argv[2], linger=5000))

        def work(k):
            for i in range(10):
                log.warning("child %d %d", k, i)

        if __name__ == "__main__":
            ps = [multiprocessing.get_context(sys.argv[3]).Process(target=work, args=(k,)) for k in range(4)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
                assert p.exitcode == 0
            log.warning("parent done")
    """, ep, socket_type, method)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert wait_for(lambda: len(lines(out)) == 41, 30), len(lines(out))


def test_close_never_takes_longer_than_the_linger(tmp_path):
    """A PUB whose peer connected but never subscribes (a stopped aggregator, any TCP listener):
    the record waits for a subscriber the whole linger, and close() ends then, not a linger later."""
    import socket as socket_

    with socket_.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        r = app(tmp_path, """
            import logging, sys, time
            from message_passing.logging import ZeroMQHandler
            h = ZeroMQHandler(connect=sys.argv[1], linger=2000)
            log = logging.getLogger("c")
            log.addHandler(h)
            log.warning("nobody subscribes")
            t = time.monotonic()
            h.close()
            print(f"{time.monotonic() - t:.2f}", h.counters()["dropped"])
        """, f"tcp://127.0.0.1:{listener.getsockname()[1]}")
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    took, dropped = r.stdout.split()
    assert float(took) < 3.5 and dropped == b"1"  # the linger (2 s), not twice it


def test_binding_an_ipc_path_in_use_is_refused(procs, tmp_path):
    from message_passing.errors import StartError
    from message_passing.logging import ZeroMQHandler

    path = tmp_path / "live.sock"
    procs.append(mp("--input", "ZeroMQ", "--input_options", opts(socket_bind=f"ipc://{path}", socket_type="PULL"),
                    "--output", "Null"))
    assert wait_for(path.exists)
    with pytest.raises(StartError, match="cannot bind"):
        ZeroMQHandler(socket_bind=f"ipc://{path}", socket_type="PUSH")


def test_a_handler_dropped_without_close_frees_its_threads():
    import gc

    from message_passing.logging import ZeroMQHandler

    def threads_and_fds():
        return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))

    before = threads_and_fds()
    for _ in range(20):
        ZeroMQHandler(connect=endpoint(), socket_type="PUSH")  # each has a context: 2 threads
    gc.collect()
    assert wait_for(lambda: threads_and_fds() <= (before[0], before[1] + 2)), (before, threads_and_fds())


def test_structlog_event_renamed_to_message(procs, tmp_path):
    pytest.importorskip("structlog")
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import sys, structlog
        from message_passing.logging import ZeroMQProcessor
        structlog.configure(processors=[structlog.processors.EventRenamer("message"),
                                        ZeroMQProcessor(connect=sys.argv[1], socket_type="PUSH", drop=True)])
        structlog.get_logger().info("renamed event", k=1)
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    assert wait_for(lambda: len(lines(out)) == 1)
    (rec,) = records(out)
    assert (rec["message"], rec["k"]) == ("renamed event", 1)


def test_records_of_an_idle_application_go_within_milliseconds_and_errors_at_once(procs, tmp_path):
    """Records are handed to the socket a batch at a time: a few records of an application that
    then sits idle still arrive (the flusher, within GATHER), and an ERROR record goes at once,
    with the records queued before it."""
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    script = tmp_path / "idle_app.py"
    script.write_text(textwrap.dedent("""
        import logging, sys, time
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH")
        log = logging.getLogger("idle")
        log.setLevel(logging.INFO)
        log.addHandler(h)
        log.info("one")
        log.info("two")
        log.error("three")
        print(len(h._queue), flush=True)  # the error took the queue with it
        time.sleep(60)
    """))
    p = subprocess.Popen([sys.executable, str(script), ep], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(p)
    assert p.stdout.readline() == b"0\n"
    assert wait_for(lambda: len(lines(out)) == 3, 10)
    assert [g["message"] for g in records(out)] == ["one", "two", "three"]
    p.kill()


@pytest.mark.parametrize("socket_type", ["PUSH", "PUB"])
def test_a_signal_handler_that_logs_loses_and_repeats_nothing(procs, tmp_path, socket_type):
    """A signal handler that logs runs in the middle of the handler's own work (queueing, handing
    a batch over): every record arrives exactly once, in each one's order."""
    out = tmp_path / "out.log"
    ep = collector(procs, out, socket_type="SUB" if socket_type == "PUB" else "PULL")
    r = app(tmp_path, """
        import logging, signal, sys, time
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type=sys.argv[2], socket_hwm=0, linger=10000)
        log = logging.getLogger("s")
        log.setLevel(logging.INFO)
        log.addHandler(h)
        deadline = time.monotonic() + 20
        while sys.argv[2] == "PUB" and not h._sink.poll_subscribers() and time.monotonic() < deadline:
            time.sleep(0.01)
        n = 0
        def on_alarm(*_):
            global n
            n += 1
            log.info("signal", extra={"i": n})
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
        for i in range(30000):
            log.info("main", extra={"i": i})
        signal.setitimer(signal.ITIMER_REAL, 0)
        h.close()
        print(n, h.sent, h.dropped, h.failed)
    """, ep, socket_type)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    n, sent, dropped, failed = map(int, r.stdout.split())
    assert n > 100 and (sent, dropped, failed) == (30000 + n, 0, 0)
    assert wait_for(lambda: len(lines(out)) == 30000 + n, 30)
    got = records(out)
    assert [g["i"] for g in got if g["message"] == "main"] == list(range(30000))
    # (signal handlers nest: a later one can log first)
    assert sorted(g["i"] for g in got if g["message"] == "signal") == list(range(1, n + 1))


def test_a_signal_handler_that_closes_the_handler_mid_record(procs, tmp_path):
    """close() from a signal handler, whatever the handler was doing (queueing, writing a batch,
    in the flusher): nothing raised, nothing said, no crash; the records after it are dropped."""
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, signal, sys, time
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("c")
        log.setLevel(logging.INFO)
        log.propagate = False
        for round in range(40):
            h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH" if round % 2 else "PUB", linger=0)
            log.addHandler(h)
            signal.signal(signal.SIGALRM, lambda *_: h.close())
            signal.setitimer(signal.ITIMER_REAL, 0.001 + round * 0.0003)
            for i in range(3000):
                log.info("r%d", round)
            signal.setitimer(signal.ITIMER_REAL, 0)
            log.removeHandler(h)
            h.close()
            assert h.failed == 0, h.counters()
        print("done")
    """, ep)
    assert r.returncode == 0 and r.stderr == b"" and r.stdout == b"done\n", r.stderr


def test_without_threads_records_go_at_once(procs, tmp_path):
    """Where no flusher thread can start (logging during interpreter shutdown, Python 3.12+),
    each record goes to the socket at once."""
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    r = app(tmp_path, """
        import logging, sys, threading
        from message_passing.logging import ZeroMQHandler
        def refuse(self):
            raise RuntimeError("can't create new thread at interpreter shutdown")
        threading.Thread.start = refuse
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH")
        log = logging.getLogger("x")
        log.setLevel(logging.INFO)
        log.addHandler(h)
        for i in range(3):
            log.info("r%d", i)
            print(len(h._queue), end=" ")
    """, ep)
    assert r.returncode == 0 and r.stderr == b"" and r.stdout == b"0 0 0 ", r.stderr
    assert wait_for(lambda: len(lines(out)) == 3, 10)


def test_handlers_made_and_closed_leave_no_descriptor_open(procs, tmp_path):
    ep = collector(procs, tmp_path / "out.log")
    r = app(tmp_path, """
        import logging, os, sys, time
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("fd")
        log.setLevel(logging.INFO)
        def fds():
            return len(os.listdir("/proc/self/fd"))
        before = fds()
        for round in range(100):
            h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", linger=0)
            log.addHandler(h)
            log.info("x")  # starts the flusher
            if round % 2:
                time.sleep(0.005)  # and let it run
            log.removeHandler(h)
            h.close()
        deadline = time.monotonic() + 10
        while fds() > before and time.monotonic() < deadline:
            time.sleep(0.01)  # (flushers closing their pipes)
        print(before, fds())
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    before, after = r.stdout.split()
    assert before == after


def test_a_pub_whose_first_record_is_an_error_delivers_it_and_the_rest(procs, tmp_path):
    """An ERROR goes at once, but a PUB has no subscriber yet: it and the records after it wait
    for one, and go when it comes, the application idle meanwhile."""
    out = tmp_path / "out.log"
    ep = collector(procs, out, socket_type="SUB")
    script = tmp_path / "pub_error_app.py"
    script.write_text(textwrap.dedent("""
        import logging, sys, time
        from message_passing.logging import ZeroMQHandler
        log = logging.getLogger("e")
        log.setLevel(logging.INFO)
        log.addHandler(ZeroMQHandler(connect=sys.argv[1]))
        log.error("first")  # before the subscription has come
        for i in range(5):
            log.info("then %d", i)
        time.sleep(60)
    """))
    p = subprocess.Popen([sys.executable, str(script), ep], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(p)
    assert wait_for(lambda: len(lines(out)) == 6, 15)
    assert [g["message"] for g in records(out)] == ["first"] + [f"then {i}" for i in range(5)]
    p.kill()


def test_an_exception_while_the_flusher_starts_does_not_stop_it_for_good(procs, tmp_path):
    """A signal handler's exception (Ctrl-C, an alarm's timeout) raised as the flusher thread
    starts: the application goes on, and its next records still go within milliseconds."""
    out = tmp_path / "out.log"
    ep = collector(procs, out)
    script = tmp_path / "start_app.py"
    script.write_text(textwrap.dedent("""
        import logging, sys, threading, time
        from message_passing.logging import ZeroMQHandler
        start = threading.Thread.start
        def interrupted(self):
            threading.Thread.start = start
            raise KeyboardInterrupt
        threading.Thread.start = interrupted
        log = logging.getLogger("k")
        log.setLevel(logging.INFO)
        log.addHandler(ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH"))
        try:
            log.info("interrupted")
        except KeyboardInterrupt:
            print("caught", flush=True)
        for i in range(3):
            log.info("after %d", i)
        time.sleep(60)
    """))
    p = subprocess.Popen([sys.executable, str(script), ep], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    procs.append(p)
    assert p.stdout.readline() == b"caught\n"
    assert wait_for(lambda: len(lines(out)) == 4, 15)
    p.kill()


def test_close_from_a_signal_handler_during_close(tmp_path):
    """A SIGTERM handler that calls logging.shutdown() while the application is already closing
    the handler: the inner close returns at once, the outer is bounded by the linger, the counters
    are right and nothing is said."""
    r = app(tmp_path, """
        import logging, signal, sys, time
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", linger=1500)  # nobody listens
        log = logging.getLogger("cc")
        log.setLevel(logging.INFO)
        log.propagate = False
        log.addHandler(h)
        for i in range(100):
            log.info("r %d", i)
        signal.signal(signal.SIGALRM, lambda *_: h.close())
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t = time.monotonic()
        h.close()
        c = h.counters()
        print(round(time.monotonic() - t, 1), c["sent"], c["undelivered"], c["failed"])
    """, endpoint())
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    took, sent, undelivered, failed = r.stdout.split()
    assert float(took) <= 1.6 and (sent, undelivered, failed) == (b"100", b"100", b"0")


def test_the_counters_include_what_the_flusher_is_handing_over(procs, tmp_path):
    """`sent` counts every record logged so far, even one in a batch the flusher is writing."""
    ep = collector(procs, tmp_path / "out.log")
    r = app(tmp_path, """
        import logging, random, sys, time
        from message_passing.logging import ZeroMQHandler
        h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH", socket_hwm=0)
        log = logging.getLogger("n")
        log.setLevel(logging.INFO)
        log.addHandler(h)
        logged, wrong = 0, 0
        for round in range(300):
            for i in range(random.randrange(1, 130)):
                log.info("x")
                logged += 1
            time.sleep(random.random() * 0.002)
            wrong += h.sent != logged
        print(wrong)
    """, ep)
    assert r.returncode == 0 and r.stderr == b"" and r.stdout == b"0\n", r.stderr


def test_handlers_dropped_after_logging_free_their_threads_and_descriptors(procs, tmp_path):
    ep = collector(procs, tmp_path / "out.log")
    r = app(tmp_path, """
        import gc, logging, os, sys, time
        from message_passing.logging import ZeroMQHandler
        def threads_and_fds():
            return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))
        before = threads_and_fds()
        for i in range(30):
            h = ZeroMQHandler(connect=sys.argv[1], socket_type="PUSH" if i % 2 else "PUB")
            h.handle(logging.makeLogRecord({"msg": "x", "levelno": logging.INFO}))  # a flusher starts (a PUB's keeps waiting)
        del h
        gc.collect()
        deadline = time.monotonic() + 10
        while threads_and_fds() > before and time.monotonic() < deadline:
            time.sleep(0.05)
        print(*before, *threads_and_fds())
    """, ep)
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    threads, fds, threads_after, fds_after = map(int, r.stdout.split())
    assert (threads_after, fds_after) == (threads, fds)


def test_the_handler_is_reached_through_the_package_without_importing_its_module(tmp_path):
    r = app(tmp_path, """
        import message_passing
        print(message_passing.logging.ZeroMQHandler.__name__, message_passing.ZeroMQHandler.__name__)
    """)
    assert r.returncode == 0 and r.stdout.split() == [b"ZeroMQHandler", b"ZeroMQHandler"], r.stderr
