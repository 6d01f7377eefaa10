# shellcheck shell=bash
# Process handling shared by the bench scripts (score_bench.sh,
# update_bench.sh, redis_bench.sh, soak.sh), sourced by each: the work
# directory, the tools they need, servers on free ports, waiting for /readyz,
# and stopping every process they started, by pid, on exit and on Ctrl-C.
#
#     . "$here/lib.sh" NAME     # NAME: the prefix of the messages
#
# and sets work ("" for a fresh temporary directory) before bench_start.

bench_name=${1:?usage: . bench/lib.sh NAME}

# bench_require TOOL...: stop with a message naming the first one missing.
bench_require() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$bench_name: $tool is not installed" >&2; exit 1; }
    done
}

# bench_start PREFIX: $work is created (or made as /tmp/PREFIX.XXXXXX and
# removed at the end); what is added to pids is stopped at exit.
bench_start() {
    if [[ -z $work ]]; then
        work=$(mktemp -d "/tmp/$1.XXXXXX")
        remove_work=1
    else
        mkdir -p "$work"
        remove_work=0
    fi
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Every pid is signalled first, then waited for, so they stop in parallel.
# shellcheck disable=SC2317  # called by the EXIT trap
bench_cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [[ $remove_work == 1 ]] && rm -rf "$work"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # NAME PORT PID; the log is $work/NAME.log
    local i
    for ((i = 0; i < 300; i++)); do
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/readyz" || true) == 200 ]]; then
            return 0
        fi
        kill -0 "$3" 2>/dev/null || { echo "$bench_name: $1 exited before it was ready (log: $work/$1.log)" >&2; tail -5 "$work/$1.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "$bench_name: $1 not ready after 30 s (log: $work/$1.log)" >&2
    exit 1
}

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
