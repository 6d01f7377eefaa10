#!/bin/sh
# Short fuzz smoke run for CI: build the libFuzzer targets with clang and run
# each for a few seconds from its seed corpus (new inputs go to a temporary
# directory, the repository corpus is only read). Exit status non-zero when a
# target crashes, leaks or trips a sanitizer; the reproducer is left in $OUT.
# With FUZZ_TESTLOG=FILE, one JSON line per target is written to FILE in the
# format of meson's testlog.json (name, result OK/FAIL, stdout), which
# scripts/count-tests reads.
#
#     tests/fuzz/run-short.sh [BUILD_DIR=build-fuzz] [SECONDS_PER_TARGET=20]
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build-fuzz}
secs=${2:-20}
case $build in /*) ;; *) build=$src/$build ;; esac

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$src" -Dfuzz=true -Dbench=false -De2e=false
fi
targets="fuzz_score_body fuzz_float_parse fuzz_json_reader fuzz_update_body fuzz_model_load fuzz_user_state fuzz_config"
ninja -C "$build" $(for t in $targets; do printf 'tests/fuzz/%s ' "$t"; done)

OUT=${OUT:-$(mktemp -d)}
status=0
for t in $targets; do
    mkdir -p "$OUT/$t"
    dict=
    case $t in fuzz_score_body|fuzz_json_reader|fuzz_update_body) dict=-dict=$src/tests/fuzz/json.dict ;; esac
    echo "== $t: ${secs}s"
    if ! (cd "$OUT" && "$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 $dict "$OUT/$t" "$src/tests/fuzz/corpus/$t" >"$OUT/$t.log" 2>&1); then
        echo "!! $t failed; log and reproducer in $OUT" >&2
        tail -n 40 "$OUT/$t.log" >&2
        status=1
        result=FAIL
    else
        grep -E '^stat::number_of_executed_units|^Done' "$OUT/$t.log" || true
        result=OK
    fi
    if [ -n "${FUZZ_TESTLOG:-}" ]; then
        python3 -c 'import json, sys
log = open(sys.argv[3], errors="replace").read()
print(json.dumps({"name": sys.argv[1], "result": sys.argv[2], "stdout": log[-4000:], "stderr": ""}))' \
            "$t" "$result" "$OUT/$t.log" >>"$FUZZ_TESTLOG"
    fi
done
exit $status
