#!/usr/bin/env bash
# Fuzzes the native framing/JSON path and the JSON codecs for a bounded time, then checks the
# Python-driven part for leaks. Usage:
#
#     tests/fuzz/run.sh [SECONDS]        # each fuzzer runs SECONDS (default 60); both at once
#
# 1. json_frame_fuzz (libFuzzer, clang -fsanitize=fuzzer,address,undefined: LeakSanitizer on)
#    over src/mp_core/json_frame.cpp and simdjson, on tests/fuzz/corpus/json_frame/;
# 2. fuzz_framing.py (atheris) over the Cython core and the codecs, on tests/fuzz/corpus/framing/,
#    with a copy of the core built with -fsanitize=address,undefined,fuzzer-no-link (native
#    coverage feedback; ASan and UBSan in the core), under atheris' asan_with_fuzzer.so;
# 3. the corpus directories are minimized with the new inputs (libFuzzer -merge=1 of corpus + new
#    inputs into an empty directory): the found inputs (named by their hash) become that minimal set,
#    so the corpus grows only with coverage; seed-*, bug-* and crash-* files are always kept; a
#    crashing input is copied there (crash-*), to be kept as a regression test;
# 4. leak checks of the Python-driven part: the corpora replayed round after round in one process
#    with the installed core (resident memory must stay flat); once under LeakSanitizer with the
#    instrumented core; once under valgrind --leak-check=full with the installed core. A leak
#    counts if its stack has a frame in the core (_core, json_frame, simdjson, zmq_api); so does a
#    memory error valgrind sees there (uninitialised bytes included).
#
# Exit status 0 when nothing crashed, broke an invariant or leaked; 1 otherwise.
# Installs what it lacks: clang and libclang-rt-14-dev (and valgrind) with apt-get, atheris (and
# cython) with pip into the Python used. Builds into a temporary directory (MP_FUZZ_BUILD=DIR to
# choose one and keep it); nothing is built in the source tree.
#
# Environment: PYTHON (default: $VIRTUAL_ENV/bin/python, ./.venv/bin/python, /work/venv/bin/python
# or python3, whichever exists first and imports message_passing), MP_FUZZ_BUILD,
# MP_FUZZ_MAX_LEN (default 16384), MP_FUZZ_NO_VALGRIND=1.
set -uo pipefail

SECS=${1:-60}
case $SECS in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
MAX_LEN=${MP_FUZZ_MAX_LEN:-16384}
CORPUS_J=$HERE/corpus/json_frame
CORPUS_F=$HERE/corpus/framing
FAILED=0

say() { printf '\n=== %s\n' "$*"; }
fail() { printf '\n=== FAILED: %s\n' "$*"; FAILED=1; }

# ---- the Python with message_passing installed
if [ -z "${PYTHON:-}" ]; then
    for p in "${VIRTUAL_ENV:-/nonexistent}/bin/python" "$ROOT/.venv/bin/python" /work/venv/bin/python python3; do
        if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import message_passing._core' 2>/dev/null; then
            PYTHON=$p
            break
        fi
    done
fi
if [ -z "${PYTHON:-}" ] || ! "$PYTHON" -c 'import message_passing._core' 2>/dev/null; then
    echo "run.sh: no Python with message_passing installed (set PYTHON)" >&2
    exit 2
fi
PYTHON=$(command -v "$PYTHON")
say "Python: $PYTHON"

# ---- tools
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }
apt_install() {
    say "installing $* with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
fuzzer_lib() { [ -e "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; }
if ! command -v clang++ >/dev/null || ! fuzzer_lib; then
    apt_install clang libclang-rt-14-dev || { echo "run.sh: cannot install clang" >&2; exit 2; }
fi
fuzzer_lib || { echo "run.sh: clang has no libFuzzer (libclang-rt-14-dev)" >&2; exit 2; }
if [ -z "${MP_FUZZ_NO_VALGRIND:-}" ] && ! command -v valgrind >/dev/null; then
    apt_install valgrind || echo "run.sh: no valgrind; its leak check is skipped"
fi
if ! "$PYTHON" -c 'import atheris' 2>/dev/null; then
    say "installing atheris with pip"
    timeout 600 "$PYTHON" -m pip install -q atheris || { echo "run.sh: cannot install atheris" >&2; exit 2; }
fi
if ! "$PYTHON" -c 'import Cython' 2>/dev/null; then
    timeout 600 "$PYTHON" -m pip install -q cython || { echo "run.sh: cannot install cython" >&2; exit 2; }
fi
ASAN_FUZZER=$("$PYTHON" -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so
SIMDJSON=$("$PYTHON" -c "import importlib.util as u; print(u.find_spec('simdjson').submodule_search_locations[0])")
[ -e "$SIMDJSON/simdjson.cpp" ] || { echo "run.sh: simdjson.cpp not found (pysimdjson)" >&2; exit 2; }

# ---- build (never in the source tree)
if [ -n "${MP_FUZZ_BUILD:-}" ]; then
    BUILD=$MP_FUZZ_BUILD
    mkdir -p "$BUILD"
else
    BUILD=$(mktemp -d "${TMPDIR:-/tmp}/mp-fuzz.XXXXXX")
    trap 'rm -rf "$BUILD"' EXIT
fi
BUILD=$(cd "$BUILD" && pwd)
mkdir -p "$BUILD/artifacts" "$BUILD/logs"
say "building in $BUILD"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
build_fuzzer() {
    [ "$BUILD/simdjson.o" -nt "$SIMDJSON/simdjson.cpp" ] ||
        clang++ -std=c++17 -O1 -g -w $SAN -fsanitize=fuzzer-no-link -I "$SIMDJSON" \
            -c "$SIMDJSON/simdjson.cpp" -o "$BUILD/simdjson.o" || return 1
    clang++ -std=c++17 -O1 -g -Wall $SAN -fsanitize=fuzzer -I "$ROOT/src/mp_core" -I "$SIMDJSON" \
        "$HERE/json_frame_fuzz.cpp" "$BUILD/simdjson.o" -o "$BUILD/json_frame_fuzz"
}
build_core() {  # the Cython core with coverage (for atheris), ASan and UBSan
    local c=$BUILD/core inc ext f
    rm -rf "$c" && mkdir -p "$c/pkg" || return 1
    inc=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
    ext=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
    "$PYTHON" -m cython --cplus -3 -I "$ROOT/src/mp_core" "$ROOT/src/mp_core/_core.pyx" -o "$c/_core.cpp" || return 1
    # vptr and function checks need runtime parts asan_with_fuzzer.so lacks
    f="-O1 -g -fPIC -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize=vptr,function -fno-sanitize-recover=all"
    clang++ -std=c++17 $f -w -I "$inc" -I "$ROOT/src/mp_core" -I "$SIMDJSON" -c "$c/_core.cpp" -o "$c/_core.o" &&
        clang++ -std=c++17 $f -I "$ROOT/src/mp_core" -I "$SIMDJSON" -c "$ROOT/src/mp_core/json_frame.cpp" -o "$c/json_frame.o" &&
        clang $f -I "$ROOT/src/mp_core" -c "$ROOT/src/mp_core/zmq_api.c" -o "$c/zmq_api.o" &&
        clang++ -std=c++17 $f -w -I "$SIMDJSON" -c "$SIMDJSON/simdjson.cpp" -o "$c/simdjson.o" || return 1
    cp -r "$ROOT/python/message_passing" "$c/pkg/" && rm -rf "$c/pkg/message_passing/__pycache__" &&
        rm -f "$c/pkg/message_passing/"_core*.so &&
        clang++ -shared "$c"/*.o -ldl -o "$c/pkg/message_passing/_core$ext"  # sanitizers: preloaded
}
( build_fuzzer ) >"$BUILD/logs/build_fuzzer.log" 2>&1 &
P1=$!
( build_core ) >"$BUILD/logs/build_core.log" 2>&1 &
P2=$!
wait $P1 || { cat "$BUILD/logs/build_fuzzer.log"; echo "run.sh: building json_frame_fuzz failed" >&2; exit 1; }
INSTRUMENTED=1
if ! wait $P2 || [ ! -e "$ASAN_FUZZER" ]; then
    cat "$BUILD/logs/build_core.log"
    echo "run.sh: no instrumented core (or no asan_with_fuzzer.so in atheris): atheris runs the" \
        "installed core, with Python coverage only, without ASan"
    INSTRUMENTED=0
fi

# The atheris target, as an executable: libFuzzer's -merge runs argv[0] again.
WRAP=$BUILD/fuzz_framing
{
    echo '#!/bin/sh'
    if [ $INSTRUMENTED = 1 ]; then
        echo "export LD_PRELOAD='$ASAN_FUZZER' PYTHONMALLOC=malloc PYTHONPATH='$BUILD/core/pkg'"
        echo "export ASAN_OPTIONS='detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:malloc_context_size=20'"
        echo "export UBSAN_OPTIONS='halt_on_error=1:print_stacktrace=1'"
    fi
    echo "export MP_FUZZ_ARGV0='$WRAP'"
    echo "exec '$PYTHON' '$HERE/fuzz_framing.py' \"\$@\""
} >"$WRAP"
chmod +x "$WRAP"

# ---- fuzz, both at once (a core each)
say "fuzzing for $SECS s: json_frame_fuzz and fuzz_framing.py (logs in $BUILD/logs)"
mkdir -p "$BUILD/new_json_frame" "$BUILD/new_framing"
N_J0=$(ls "$CORPUS_J" | wc -l)
N_F0=$(ls "$CORPUS_F" | wc -l)
timeout -k 30 $((SECS + 300)) "$BUILD/json_frame_fuzz" -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout=20 \
    -rss_limit_mb=4096 -dict="$HERE/json.dict" -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/json_frame-" "$BUILD/new_json_frame" "$CORPUS_J" \
    >"$BUILD/logs/json_frame_fuzz.log" 2>&1 &
PJ=$!
timeout -k 30 $((SECS + 600)) "$WRAP" -max_total_time="$SECS" -max_len="$MAX_LEN" -timeout=120 \
    -rss_limit_mb=8192 -print_final_stats=1 \
    -artifact_prefix="$BUILD/artifacts/framing-" "$BUILD/new_framing" "$CORPUS_F" \
    >"$BUILD/logs/fuzz_framing.log" 2>&1 &
PF=$!
wait $PJ
RC_J=$?
wait $PF
RC_F=$?

report() {  # name log rc
    local name=$1 log=$2 rc=$3
    say "$name: exit status $rc"
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|Loaded [0-9]+ modules' "$log" | sed 's/^/    /'
    if [ "$rc" != 0 ]; then
        grep -E -A12 'invariant violated|Uncaught Python exception|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log" | head -60 | sed 's/^/    /'
        fail "$name crashed, leaked or broke an invariant (full log: $log)"
    fi
}
report json_frame_fuzz "$BUILD/logs/json_frame_fuzz.log" $RC_J
report fuzz_framing "$BUILD/logs/fuzz_framing.log" $RC_F

# crashing inputs are kept in the corpus, as regression tests
for a in "$BUILD"/artifacts/*; do
    [ -e "$a" ] || continue
    case $(basename "$a") in
        json_frame-*) dest=$CORPUS_J/$(basename "$a" | sed 's/^json_frame-//') ;;
        *) dest=$CORPUS_F/$(basename "$a" | sed 's/^framing-//') ;;
    esac
    cp "$a" "$dest" && say "kept $dest (base64 $(base64 -w0 <"$a" | cut -c1-200))"
done

# ---- merge into the corpora what a minimal set covering the corpus and the new inputs has and the
# corpus lacks (libFuzzer -merge=1 into an empty directory; the corpus keeps all its files)
merge_into() {  # name corpus new fuzzer timeout
    local name=$1 corpus=$2 new=$3 fuzzer=$4 min=$BUILD/min_$1 f h added=0 removed=0
    rm -rf "$min" && mkdir -p "$min"
    # -use_counters=0: a set covering every edge, not every hit-count bucket of every edge (3x smaller)
    timeout -k 30 "$5" "$fuzzer" -merge=1 -use_counters=0 -max_len="$MAX_LEN" -timeout=120 -rss_limit_mb=8192 \
        "$min" "$corpus" "$new" >"$BUILD/logs/merge_$name.log" 2>&1 ||
        { fail "merging $name (log: $BUILD/logs/merge_$name.log)"; return; }
    for f in "$min"/*; do [ -e "$f" ] && sha1sum <"$f" | cut -c1-40; done >"$BUILD/min_hashes_$name"
    : >"$BUILD/named_hashes_$name"
    for f in "$corpus"/*; do
        case $(basename "$f") in
            seed-* | bug-* | crash-*) sha1sum <"$f" | cut -c1-40 >>"$BUILD/named_hashes_$name" ;;
            *) grep -qx "$(sha1sum <"$f" | cut -c1-40)" "$BUILD/min_hashes_$name" ||
                { rm -f "$f" && removed=$((removed + 1)); } ;;  # a found input the minimal set does without
        esac
    done
    for f in "$min"/*; do
        [ -e "$f" ] || continue
        h=$(sha1sum <"$f" | cut -c1-40)
        [ -e "$corpus/$h" ] || grep -qx "$h" "$BUILD/named_hashes_$name" || { cp "$f" "$corpus/$h" && added=$((added + 1)); }
    done
    echo "    $name: $(ls "$min" | wc -l) inputs cover corpus + new ones; $added added, $removed removed"
}
say "merging new inputs into the corpora"
merge_into json_frame "$CORPUS_J" "$BUILD/new_json_frame" "$BUILD/json_frame_fuzz" 900
merge_into framing "$CORPUS_F" "$BUILD/new_framing" "$WRAP" 1800
echo "    corpus json_frame: $N_J0 -> $(ls "$CORPUS_J" | wc -l) files; framing: $N_F0 -> $(ls "$CORPUS_F" | wc -l) files"

# ---- leak checks of the Python-driven part
core_faults() {  # a sanitizer or valgrind log: leak records and memory errors with a frame in the core
    "$PYTHON" - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1], errors="replace").read()
core = re.compile(r"_core\.cpp|_core\.cpython|json_frame|simdjson|zmq_api|__pyx_")
start = (r"(?:==\d+== )?(?:(?:Direct|Indirect) leak of|\S.* (?:definitely|indirectly) lost in loss record"
         r"|Invalid (?:read|write|free)|Conditional jump|Use of uninitialised|Source and destination overlap)")
blocks = re.split(rf"\n(?={start})", text)
bad = [b for b in blocks if re.match(start, b) and core.search(b)]
for b in bad[:5]:
    print("\n".join(b.splitlines()[:30]))
print(f"core leak or error records: {len(bad)}")
sys.exit(1 if bad else 0)
EOF
}
RSS_SECS=$((SECS < 120 ? SECS : 120))
say "leak check 1: corpora replayed for ${RSS_SECS}+ s in one process, installed core (memory must stay flat)"
timeout -k 30 $((RSS_SECS + 600)) "$PYTHON" "$HERE/replay.py" --rounds 20 --seconds "$RSS_SECS" --max-rounds 500 \
    --warmup 3 --rss-growth-mb 16 2>&1 | tee "$BUILD/logs/replay_rss.log" | grep -v '^replay: round [0-9]*0:' | sed 's/^/    /'
[ "${PIPESTATUS[0]}" = 0 ] || fail "replay with the installed core (log: $BUILD/logs/replay_rss.log)"

if [ $INSTRUMENTED = 1 ]; then
    say "leak check 2: corpora replayed under LeakSanitizer, instrumented core"
    env LD_PRELOAD="$ASAN_FUZZER" PYTHONMALLOC=malloc PYTHONPATH="$BUILD/core/pkg" \
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=0:malloc_context_size=30:log_path=$BUILD/logs/lsan" \
        LSAN_OPTIONS="exitcode=0:report_objects=0" \
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
        timeout -k 30 1800 "$PYTHON" "$HERE/replay.py" --rounds 2 >"$BUILD/logs/replay_lsan.log" 2>&1
    rc=$?
    sed 's/^/    /' "$BUILD/logs/replay_lsan.log" | grep -v 'round [0-9]*:'
    [ $rc = 0 ] || fail "replay under ASan (log: $BUILD/logs/replay_lsan.log; $BUILD/logs/lsan.*)"
    cat "$BUILD"/logs/lsan.* >"$BUILD/logs/lsan.all" 2>/dev/null || : >"$BUILD/logs/lsan.all"
    grep -hE '^SUMMARY: (Address|Leak)Sanitizer' "$BUILD/logs/lsan.all" | sed 's/^/    all leaks, Python included: /'
    if grep -q 'ERROR: AddressSanitizer' "$BUILD/logs/lsan.all"; then
        grep -A30 'ERROR: AddressSanitizer' "$BUILD/logs/lsan.all" | head -40 | sed 's/^/    /'
        fail "AddressSanitizer error in the replay ($BUILD/logs/lsan.all)"
    fi
    core_faults "$BUILD/logs/lsan.all" | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" = 0 ] || fail "LeakSanitizer: leaks in the core ($BUILD/logs/lsan.all)"
fi

if [ -z "${MP_FUZZ_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null; then
    say "leak check 3: the framing corpus replayed once under valgrind --leak-check=full, installed core"
    PYTHONMALLOC=malloc timeout -k 30 1800 valgrind --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite --num-callers=40 --log-file="$BUILD/logs/valgrind.log" \
        "$PYTHON" "$HERE/replay.py" --rounds 1 "$CORPUS_F" >"$BUILD/logs/replay_valgrind.log" 2>&1
    rc=$?
    sed 's/^/    /' "$BUILD/logs/replay_valgrind.log"
    [ $rc = 0 ] || fail "replay under valgrind, exit status $rc (log: $BUILD/logs/valgrind.log)"
    grep -E 'definitely lost:|indirectly lost:|ERROR SUMMARY' "$BUILD/logs/valgrind.log" | sed 's/^==[0-9]*==/    all, Python included:/'
    core_faults "$BUILD/logs/valgrind.log" | sed 's/^/    /'
    [ "${PIPESTATUS[0]}" = 0 ] || fail "valgrind: leaks or memory errors in the core ($BUILD/logs/valgrind.log)"
fi

if [ $FAILED = 0 ]; then
    say "OK: no crash, no invariant broken, no leak in the core"
else
    say "FAILED (see above; keep MP_FUZZ_BUILD=DIR to look at the logs)"
fi
exit $FAILED
