#!/usr/bin/env bash
# The Redis store against LMDB (issue 6): acknowledged /route/update rate of
# two replicas sharing one Redis vs one replica on LMDB, and /score rate for
# known users (Redis: cache hits) vs LMDB.
#
#   bench/redis_bench.sh BUILD_DIR [--rounds N] [--duration S] [--threads N]
#                        [--work DIR] [--users N] [--score-users N]
#
# K=10 heads, d=dc=3072, MLP router H=128 (as bench/update_bench.sh, whose
# bench/update.lua and bench/update_bodies.py it uses). Redis runs with
# `appendonly yes, appendfsync always` (what `strict` promises on LMDB); the
# LMDB replica with `durability strict`. Same client load everywhere: 64
# connections of direct-form updates (base64), users u-0 .. u-N-1 in turn:
#   lmdb            wrk -t1 -c64 on the one replica
#   redis, by user  wrk -t1 -c32 on each replica, disjoint users (what a load
#                   balancer hashing by user gives)
#   redis, shared   wrk -t1 -c32 on each replica, the same users (every user
#                   updated through both: version conflicts are re-run)
# then /score (4 responses) with known users (the first --score-users, 64 by
# default: each is scored far more often than redis_cache_ms, so a Redis
# replica answers from its cache; with more users than it scores per second
# every /score pays a Redis read), wrk -t1 -c16, on the LMDB replica and on
# one Redis replica. Medians over the rounds. Builds nothing.
# Needs redis-server, wrk, curl, python3. Stops everything it started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh" redis_bench
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,3\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
build=$(cd "$1" && pwd) || usage
shift
rounds=3 duration=10 threads=$(nproc) work="" users=1024 score_users=64
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds)   rounds=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --threads)  threads=$2; shift 2 ;;
        --work)     work=$2; shift 2 ;;
        --users)    users=$2; shift 2 ;;
        --score-users) score_users=$2; shift 2 ;;
        *) usage ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ && $duration =~ ^[1-9][0-9]*$ && $threads =~ ^[0-9]+$ && $users =~ ^[1-9][0-9]*$ && $score_users =~ ^[1-9][0-9]*$ ]] || usage
((score_users <= users)) || usage

microrm_bin=$build/microrm
[[ -x $microrm_bin ]] || { echo "redis_bench: $microrm_bin is missing (ninja -C $build)" >&2; exit 1; }
bench_require wrk curl python3 redis-server

bench_start microrm-redis-bench

# ---- inputs ----
echo "== inputs in $work (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 "$here/update_bodies.py" templates "$work" --d 3072 --dc 3072 --seed 1 >/dev/null
sed 's/"u-@I@"/"u-a@I@"/' "$work/update_direct.json" >"$work/update_a.json"
sed 's/"u-@I@"/"u-b@I@"/' "$work/update_direct.json" >"$work/update_b.json"
grep -q '"u-a' "$work/update_a.json" || { echo "redis_bench: unexpected template $work/update_direct.json" >&2; exit 1; }
"$microrm_bin" demo-model --heads 10 --d 3072 --dc 3072 --hidden 128 --out "$work/m.safetensors" >/dev/null

# ---- servers ----
redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
    --dir "$work/redis" >"$work/redis.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $redis_port), 1)" 2>/dev/null && break
    sleep 0.1
done

start_microrm() { # NAME STORE_ARGS... ; sets port_NAME
    local name=$1 port
    shift
    port=$(free_port)
    OPENBLAS_NUM_THREADS=1 "$microrm_bin" serve --model "$work/m.safetensors" --port "$port" --threads "$threads" \
        --log_level warn "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
    wait_ready "$name" "$port" "$!"
    printf -v "port_$name" '%s' "$port"
}
mkdir -p "$work/lmdb"
start_microrm lmdb --store lmdb --state_dir "$work/lmdb" --durability strict
start_microrm r1 --store "redis://127.0.0.1:$redis_port"
start_microrm r2 --store "redis://127.0.0.1:$redis_port"
# shellcheck disable=SC2154  # port_lmdb, port_r1, port_r2: set by start_microrm (printf -v)
echo "== redis on $redis_port (AOF, appendfsync always); microrm lmdb :$port_lmdb, redis replicas :$port_r1 :$port_r2; $threads threads each"

# wrk once; prints "acked/s non2xx_or_errors"
run_wrk() { # PORT CONNECTIONS PATH TEMPLATE [USERS]
    local out line
    out=$(TEMPLATE=$4 N=${5:-$users} wrk -t1 -c"$2" -d"${duration}s" -s "$here/update.lua" "http://127.0.0.1:$1$3")
    line=$(grep '^BENCH ' <<<"$out") || { echo "redis_bench: no figures from wrk: $out" >&2; exit 1; }
    awk '{for (i = 1; i < NF; i++) v[$i] = $(i + 1)} END {printf "%.1f %d\n", (v["requests"] - v["errors"]) / v["seconds"], v["errors"]}' <<<"$line"
}
# two wrk at once, one per Redis replica; prints the summed "acked/s errors"
run_pair() { # TEMPLATE_R1 TEMPLATE_R2
    run_wrk "$port_r1" 32 /route/update "$1" >"$work/pair1" &
    local p1=$!
    run_wrk "$port_r2" 32 /route/update "$2" >"$work/pair2"
    wait "$p1"
    cat "$work/pair1" "$work/pair2" | awk '{a += $1; e += $2} END {printf "%.1f %d\n", a, e}'
}

declare -a lm by sh sl sr
echo "== /route/update, 64 connections, ${duration}s, $rounds rounds"
for ((r = 1; r <= rounds; r++)); do
    read -r a ae <<<"$(run_wrk "$port_lmdb" 64 /route/update "$work/update_direct.json")"
    read -r b be <<<"$(run_pair "$work/update_a.json" "$work/update_b.json")"
    read -r c ce <<<"$(run_pair "$work/update_direct.json" "$work/update_direct.json")"
    lm+=("$a") by+=("$b") sh+=("$c")
    printf '   round %d: lmdb %8.1f/s (errors %d)   redis by user %8.1f/s (errors %d)   redis shared users %8.1f/s (errors %d)\n' \
        "$r" "$a" "$ae" "$b" "$be" "$c" "$ce"
done
echo "== /score, 4 responses, known users u-0 .. u-$((score_users - 1)), 16 connections, ${duration}s, $rounds rounds"
for ((r = 1; r <= rounds; r++)); do
    read -r a ae <<<"$(run_wrk "$port_lmdb" 16 /score "$work/score_user.json" "$score_users")"
    read -r b be <<<"$(run_wrk "$port_r1" 16 /score "$work/score_user.json" "$score_users")"
    sl+=("$a") sr+=("$b")
    printf '   round %d: lmdb %8.1f/s (errors %d)   redis %8.1f/s (errors %d)\n' "$r" "$a" "$ae" "$b" "$be"
done

stored=$(curl -sf "http://127.0.0.1:$port_r1/metrics" | awk '$1 == "microrm_users_stored" {print $2}')
echo
echo "================ Redis vs LMDB summary (medians) ================"
printf 'K=10 d=dc=3072 MLP H=128; %s users updated, %s scored; %d cores; load average %s\n' "$users" "$score_users" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-52s %10s\n' "acked updates/s, 1 replica, lmdb strict" "$(printf '%s\n' "${lm[@]}" | median)"
printf '%-52s %10s\n' "acked updates/s, 2 replicas, redis, users by replica" "$(printf '%s\n' "${by[@]}" | median)"
printf '%-52s %10s\n' "acked updates/s, 2 replicas, redis, shared users" "$(printf '%s\n' "${sh[@]}" | median)"
printf '%-52s %10s\n' "/score req/s, known users, lmdb" "$(printf '%s\n' "${sl[@]}" | median)"
printf '%-52s %10s\n' "/score req/s, known users, redis (cache hits)" "$(printf '%s\n' "${sr[@]}" | median)"
printf '%-52s %10s\n' "users in redis (microrm_users_stored)" "$stored"
echo "================================================================="
