"""Replays the fuzz corpora through the harness (fuzz_framing.check for framing inputs,
fuzz_framing.check_document for json_frame documents), in one process, round after round, and
watches the process's resident memory: after the first rounds (allocators and caches warm), it must
stay flat. run.sh runs it for the leak checks (plainly, and once under valgrind or LeakSanitizer).

    python tests/fuzz/replay.py [--rounds N] [--seconds S] [--rss-growth-mb M] [DIR...]

DIRs default to tests/fuzz/corpus/framing and tests/fuzz/corpus/json_frame (a directory whose
name contains "json_frame" holds documents). Exit status: 0, 1 (an invariant failed), 2 (memory
grew by more than M MiB between the end of the warm-up round and the end).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import fuzz_framing  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1, help="at least this many rounds")
    ap.add_argument("--seconds", type=float, default=0, help="and go on for this long (bounded by --max-rounds)")
    ap.add_argument("--max-rounds", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=2, help="rounds before the memory baseline")
    ap.add_argument("--rss-growth-mb", type=float, default=0, help="fail if memory grows more (0: do not check)")
    ap.add_argument("dirs", nargs="*")
    args = ap.parse_args()
    dirs = [Path(d) for d in args.dirs] or [HERE / "corpus" / "framing", HERE / "corpus" / "json_frame"]
    inputs = []
    for d in dirs:
        fn = fuzz_framing.check_document if "json_frame" in d.name else fuzz_framing.check
        inputs += [(p, p.read_bytes(), fn) for p in sorted(d.iterdir()) if p.is_file()]
    print(f"replay: {len(inputs)} inputs from {', '.join(map(str, dirs))}", flush=True)

    start = time.monotonic()
    base = None
    rounds = 0
    while True:
        for path, data, fn in inputs:
            try:
                fn(data)
            except AssertionError as e:
                print(f"replay: INVARIANT VIOLATED by {path}: {e}", flush=True)
                return 1
        rounds += 1
        gc.collect()
        now = rss_mb()
        if rounds == args.warmup:
            base = now
        if rounds == 1 or rounds % 10 == 0:
            print(f"replay: round {rounds}: rss {now:.1f} MiB", flush=True)
        if rounds >= args.max_rounds or (rounds >= args.rounds and time.monotonic() - start >= args.seconds):
            break
    end = rss_mb()
    print(f"replay: {rounds} rounds, {rounds * len(inputs)} checks in {time.monotonic() - start:.1f} s",
          flush=True)
    if base is not None:
        print(f"replay: rss after round {args.warmup}: {base:.1f} MiB, at the end: {end:.1f} MiB "
              f"(growth {end - base:+.1f} MiB)", flush=True)
        if args.rss_growth_mb and end - base > args.rss_growth_mb:
            print(f"replay: MEMORY GREW by {end - base:.1f} MiB (limit {args.rss_growth_mb} MiB)", flush=True)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
