#!/usr/bin/env bash
# Online routing figures of issue 3: /route/update under strict durability,
# event-form vs direct-form feedback, and /score with a known user vs none.
#
#   bench/update_bench.sh BUILD_DIR [--rounds N] [--duration S] [--threads N]
#                         [--work DIR] [--users N]
#
# K=10 heads, d=dc=3072, MLP router H=128; `microrm serve --store lmdb
# --durability strict --event_ttl 3600` on a fresh state directory.
# 1. direct form (base64 context/chosen/rejected, users u-0 .. u-N-1 in turn),
#    `wrk -t1 -c64`: acknowledged (2xx) updates/s, target >= 5,000; syncs/s and
#    updates per sync from GET /metrics before and after each run.
# 2. event form: one /score per user with "event": "ev-<i>" first, then
#    `{"event": "ev-<i>", "chosen": 0, "rejected": 1}` in turn, `wrk -t1 -c64`;
#    rounds alternate with the direct form, both rates printed side by side.
# 3. /score (4 responses, base64) for known user u-7 vs without one, `wrk -t1
#    -c16`, alternating: the known-user rate must be within 10% (>= 0.90).
# Medians over the rounds. Builds nothing: run `ninja -C BUILD_DIR` first.
# Stops everything it started. Exit 0 when every target is met, 1 otherwise.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh" update_bench
usage() { sed -n '4,5p' "$0" | sed 's/^# \{0,3\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
build=$(cd "$1" && pwd) || usage
shift
rounds=3 duration=10 threads=$(nproc) work="" users=1024
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds)   rounds=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --threads)  threads=$2; shift 2 ;;
        --work)     work=$2; shift 2 ;;
        --users)    users=$2; shift 2 ;;
        *) usage ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ && $duration =~ ^[1-9][0-9]*$ && $threads =~ ^[0-9]+$ && $users =~ ^[1-9][0-9]*$ ]] || usage

microrm_bin=$build/microrm
[[ -x $microrm_bin ]] || { echo "update_bench: $microrm_bin is missing (ninja -C $build)" >&2; exit 1; }
bench_require wrk curl python3

bench_start microrm-update-bench

# ---- inputs ----
echo "== inputs in $work (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 "$here/update_bodies.py" templates "$work" --d 3072 --dc 3072 --seed 1
echo "== model: K=10 d=dc=3072 MLP router H=128"
"$microrm_bin" demo-model --heads 10 --d 3072 --dc 3072 --hidden 128 --out "$work/m.safetensors"

# ---- server: a fresh LMDB store, strict durability ----
rm -rf "$work/state"
mkdir -p "$work/state"
port=$(free_port)
OPENBLAS_NUM_THREADS=1 "$microrm_bin" serve --model "$work/m.safetensors" --port "$port" --threads "$threads" \
    --store lmdb --state_dir "$work/state" --durability strict --event_ttl 3600 --log_level warn \
    >"$work/microrm.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
wait_ready microrm "$port" "$server_pid"
echo "== microrm pid $server_pid on port $port, $threads threads, state in $work/state"
url=http://127.0.0.1:$port

# A fast error is not throughput: one of each request must be answered 200.
check_200() { # PATH BODY_TEXT WHAT
    local code
    code=$(curl -s -o "$work/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
           --data-binary @- "$url$1" <<<"$2" || true)
    if [[ $code != 200 ]]; then
        echo "update_bench: $3 answered $code: $(head -c 300 "$work/answer.json")" >&2
        exit 1
    fi
}
check_200 /route/update "$(sed 's/@I@/0/g' "$work/update_direct.json")" "direct /route/update"
check_200 /score "$(sed 's/@I@/0/g' "$work/score_user.json")" "/score with a user"
check_200 /score "$(cat "$work/score_nouser.json")" "/score without a user"
echo "== seeding $users events: one /score per user with \"event\": \"ev-<i>\", 2 responses"
python3 "$here/update_bodies.py" seed --port "$port" --users "$users" --body "$work/seed_score.json"
check_200 /route/update "$(sed 's/@I@/0/g' "$work/update_event.json")" "event-form /route/update"

scrape() { # FILE
    curl -sf "$url/metrics" >"$1" || { echo "update_bench: GET /metrics failed" >&2; exit 1; }
}
metric() { # FILE NAME_WITH_LABELS -> value (0 when absent)
    awk -v k="$2" '$1 == k {v = $2} END {print v + 0}' "$1"
}
# "status:count ..." of the answers other than 2xx on ENDPOINT between two scrapes
non2xx() { # BEFORE AFTER ENDPOINT
    awk -v ep="$3" '
        index($1, "microrm_http_requests_total{") == 1 && index($1, "endpoint=\"" ep "\"") {
            match($1, /status="[^"]*"/); s = substr($1, RSTART + 8, RLENGTH - 9)
            if (s ~ /^2/) next
            if (FILENAME == ARGV[1]) b[s] = $2; else { a[s] = $2 }
        }
        END { out = ""; for (s in a) if (a[s] - b[s] > 0) out = out s ":" (a[s] - b[s]) " "; print (out == "" ? "none" : out) }
    ' "$1" "$2"
}

# CPU ticks: "busy steal server children" (machine-wide busy and stolen
# ticks from /proc/stat, microrm's ticks, and this shell's waited-for
# children, which include wrk: pass $BASHPID, a $(...) has its own).
ticks() { # SHELL_PID
    local busy steal srv kids
    read -r busy steal < <(awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $9}' /proc/stat)
    srv=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$server_pid/stat")
    kids=$(awk '{sub(/^.*\) /, ""); print $14 + $15}' "/proc/$1/stat")
    echo "$busy $steal $srv $kids"
}
hz=$(getconf CLK_TCK)

# Runs wrk once; sets w_requests w_status_errors w_socket_errors w_seconds w_p50 w_p99
# and w_cpu ("server_cores wrk_cores other_cores steal_cores" over the run).
run_wrk() { # CONNECTIONS PATH TEMPLATE N
    local out line t0 t1 me=$BASHPID
    t0=$(ticks "$me")
    out=$(TEMPLATE=$3 N=$4 wrk -t1 -c"$1" -d"${duration}s" -s "$here/update.lua" "$url$2")
    t1=$(ticks "$me")
    line=$(grep '^BENCH ' <<<"$out") || { echo "update_bench: no figures from wrk: $out" >&2; exit 1; }
    read -r _ _ w_requests _ _ _ w_status_errors _ _ _ w_p50 _ w_p99 _ w_seconds _ w_socket_errors <<<"$line"
    w_cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$w_seconds" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        busy = (y[1] - x[1]) / hz / s; steal = (y[2] - x[2]) / hz / s
        srv = (y[3] - x[3]) / hz / s; wrk = (y[4] - x[4]) / hz / s
        other = busy - steal - srv - wrk; if (other < 0) other = 0
        printf "%.2f %.2f %.2f %.2f", srv, wrk, other, steal }')
    kill -0 "$server_pid" 2>/dev/null || { echo "update_bench: microrm died (log: $work/microrm.log)" >&2; tail -5 "$work/microrm.log" >&2; exit 1; }
}

# One /route/update run; prints "acked/s syncs/s updates_per_sync non2xx_count socket_errors p50 p99 | server non-2xx".
update_run() { # TEMPLATE
    local m0=$work/metrics0.txt m1=$work/metrics1.txt
    scrape "$m0"
    run_wrk 64 /route/update "$1" "$users"
    scrape "$m1"
    local syncs writes commits
    syncs=$(( $(metric "$m1" 'microrm_store_syncs_total{result="ok"}') - $(metric "$m0" 'microrm_store_syncs_total{result="ok"}') ))
    writes=$(awk -v a="$(metric "$m1" microrm_store_writes_per_commit_sum)" -v b="$(metric "$m0" microrm_store_writes_per_commit_sum)" 'BEGIN {print a - b}')
    commits=$(( $(metric "$m1" microrm_store_writes_per_commit_count) - $(metric "$m0" microrm_store_writes_per_commit_count) ))
    local commit_s
    commit_s=$(awk -v a="$(metric "$m1" microrm_store_commit_duration_seconds_sum)" \
                   -v b="$(metric "$m0" microrm_store_commit_duration_seconds_sum)" 'BEGIN {print a - b}')
    awk -v r="$w_requests" -v e="$w_status_errors" -v s="$w_seconds" -v y="$syncs" -v w="$writes" -v c="$commits" \
        -v se="$w_socket_errors" -v p50="$w_p50" -v p99="$w_p99" -v cs="$commit_s" \
        'BEGIN {printf "%.1f %.1f %.2f %d %d %s %s %.2f %.0f", (r - e) / s, y / s, (c > 0) ? w / c : 0, e, se, p50, p99,
                (c > 0) ? cs / c * 1e3 : 0, cs / s * 100}'
    echo " $w_cpu | $(non2xx "$m0" "$m1" /route/update)"
}

# What one sync costs on this disk right now: an LMDB commit under strict
# durability is two fdatasyncs (the data pages, then the meta page).
fsync_probe() {
    python3 - "$work/state/fsync-probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
t = []
for i in range(200):
    os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
    t0 = time.perf_counter(); os.fdatasync(fd); t.append(time.perf_counter() - t0)
os.close(fd); os.unlink(sys.argv[1]); t.sort()
print("p50 %.2f ms, p90 %.2f ms, max %.2f ms" % (t[100] * 1e3, t[180] * 1e3, t[-1] * 1e3))
PY
}
fsync_before=$(fsync_probe)
echo "== fdatasync of 4 KiB in the state directory (200 times): $fsync_before"

# ---- 1 + 2: /route/update, direct and event forms, alternating ----
echo "== /route/update: wrk -t1 -c64 -d${duration}s, $users users, $rounds rounds, direct and event forms alternating"
d_acked=() d_syncs=() d_ups=() e_acked=() e_syncs=() e_ups=()
d_non2xx=0 e_non2xx=0 d_sockerr=0 e_sockerr=0
report_update() { # KIND RESULT ROUND
    local acked syncs ups non socket p50 p99 commit_ms busy c_srv c_wrk c_other c_steal server
    read -r acked syncs ups non socket p50 p99 commit_ms busy c_srv c_wrk c_other c_steal _ server <<<"$2"
    printf '   round %d %-6s: %8.1f acked/s %6.1f syncs/s %6.2f upd/sync  non-2xx %d  sock.err %d  p50 %s p99 %s ms\n' \
        "$3" "$1" "$acked" "$syncs" "$ups" "$non" "$socket" "$p50" "$p99"
    printf '                   mean commit %s ms, writer busy %s%% of the run\n' "$commit_ms" "$busy"
    printf '                   cores used: microrm %s wrk %s others %s (stolen %s); microrm CPU per ack %.0f us; server-side non-2xx: %s\n' \
        "$c_srv" "$c_wrk" "$c_other" "$c_steal" "$(awk -v c="$c_srv" -v a="$acked" 'BEGIN {print (a > 0) ? c / a * 1e6 : 0}')" "$server"
    if [[ $1 == direct ]]; then
        d_acked+=("$acked") d_syncs+=("$syncs") d_ups+=("$ups"); d_non2xx=$((d_non2xx + non)); d_sockerr=$((d_sockerr + socket))
    else
        e_acked+=("$acked") e_syncs+=("$syncs") e_ups+=("$ups"); e_non2xx=$((e_non2xx + non)); e_sockerr=$((e_sockerr + socket))
    fi
}
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then order=(direct event); else order=(event direct); fi
    for kind in "${order[@]}"; do
        res=$(update_run "$work/update_$kind.json")
        report_update "$kind" "$res" "$r"
    done
done

# ---- 3: /score with a known user vs without ----
# One body on each side: cycling 1,024 bodies of 82 KB costs wrk (and the
# kernel's copy out of its memory) ~17 us more per request than one hot body,
# CPU taken from the same 2 cores, which would bias the known-user side.
sed 's/@I@/7/g' "$work/score_user.json" >"$work/score_known.json"
echo "== /score: wrk -t1 -c16 -d${duration}s, 4 responses (base64), known user u-7 (hedge) vs no user, $rounds rounds"
s_user=() s_nouser=()
score_run() { # TEMPLATE N -> req/s; any error stops the bench
    run_wrk 16 /score "$1" "$2"
    if [[ $w_status_errors != 0 || $w_socket_errors != 0 ]]; then
        echo "update_bench: /score: $w_status_errors status and $w_socket_errors socket errors out of $w_requests requests" >&2
        exit 1
    fi
    awk -v r="$w_requests" -v s="$w_seconds" 'BEGIN {printf "%.1f", r / s}'
    echo " $w_cpu"
}
for ((r = 1; r <= rounds; r++)); do
    if ((r % 2)); then
        ures=$(score_run "$work/score_known.json" 1); nres=$(score_run "$work/score_nouser.json" 1)
    else
        nres=$(score_run "$work/score_nouser.json" 1); ures=$(score_run "$work/score_known.json" 1)
    fi
    read -r u uc_srv uc_wrk uc_other _ <<<"$ures"
    read -r n nc_srv nc_wrk nc_other _ <<<"$nres"
    s_user+=("$u") s_nouser+=("$n")
    printf '   round %d: known user %8.1f req/s (cores: microrm %s wrk %s others %s)   no user %8.1f req/s (cores: microrm %s wrk %s others %s)\n' \
        "$r" "$u" "$uc_srv" "$uc_wrk" "$uc_other" "$n" "$nc_srv" "$nc_wrk" "$nc_other"
done
scrape "$work/metrics_end.txt"
events_evicted=$(awk 'index($1, "microrm_events_evicted_total{") == 1 {s += $2} END {print s + 0}' "$work/metrics_end.txt")

# ---- summary ----
med() { printf '%s\n' "$@" | median; }
direct=$(med "${d_acked[@]}") event=$(med "${e_acked[@]}")
su=$(med "${s_user[@]}") sn=$(med "${s_nouser[@]}")
status=0
verdict() { # VALUE TARGET
    if awk -v v="$1" -v t="$2" 'BEGIN {exit !(v >= t)}'; then echo PASS; else echo FAIL; fi
}
v_direct=$(verdict "$direct" 5000); [[ $v_direct == PASS ]] || status=1
score_ratio=$(awk -v u="$su" -v n="$sn" 'BEGIN {printf "%.3f", (n > 0) ? u / n : 0}')
v_score=$(verdict "$score_ratio" 0.90); [[ $v_score == PASS ]] || status=1

echo
echo "================ online routing benchmark summary ================"
printf 'K=10 d=dc=3072 MLP H=128; lmdb, durability strict; %s server threads; %s cores; %d rounds x %ss (medians)\n' \
    "$threads" "$(nproc)" "$rounds" "$duration"
printf '%-34s %12s %12s %10s %8s\n' figure direct event target verdict
printf '%-34s %12.1f %12.1f %10s %8s\n' "acked updates/s (wrk -c64)" "$direct" "$event" ">=5000" "$v_direct"
printf '%-34s %12.1f %12.1f %10s %8s\n' "syncs/s" "$(med "${d_syncs[@]}")" "$(med "${e_syncs[@]}")" "" ""
printf '%-34s %12.2f %12.2f %10s %8s\n' "updates per sync" "$(med "${d_ups[@]}")" "$(med "${e_ups[@]}")" "" ""
printf '%-34s %12d %12d %10s %8s\n' "non-2xx answers (all rounds)" "$d_non2xx" "$e_non2xx" "" ""
printf '%-34s %12d %12d %10s %8s\n' "socket errors (all rounds)" "$d_sockerr" "$e_sockerr" "" ""
printf 'event / direct rate: %s\n' "$(awk -v e="$event" -v d="$direct" 'BEGIN {printf "%.2f", (d > 0) ? e / d : 0}')"
echo
printf '%-34s %12s %12s %10s %8s\n' figure known_user no_user target verdict
printf '%-34s %12.1f %12.1f %10s %8s\n' "/score req/s (wrk -c16)" "$su" "$sn" "" ""
printf '%-34s %25s %10s %8s\n' "known / no user" "$score_ratio" ">=0.90" "$v_score"
echo "(every /score keeps an event in both cases; events evicted during the bench: $events_evicted)"
echo "fdatasync of 4 KiB in the state dir: before the update runs $fsync_before; after the bench $(fsync_probe)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "==================================================================="
exit $status
