#!/usr/bin/env bash
# Soak (issue 5 item 4): mixed /score + /route/update traffic at a fraction of
# the measured peak for a long run, with the server's RSS sampled every second.
#
#   bench/soak.sh BUILD_DIR [--duration S] [--warmup S] [--fraction F] [--rate R]
#                 [--peak-seconds S] [--model big|demo] [--threads N] [--event-ttl S]
#                 [--event-memory SIZE] [--work DIR]
#
# Defaults: --duration 600, --warmup 10% of the duration (at least event-ttl + 15 s),
# --fraction 0.8, --peak-seconds 20, --model big (K=10, d=dc=3072, MLP router
# H=128; demo = models/demo.safetensors, K=4 d=64), --event-ttl 30,
# --event-memory 32MiB (the kept events stay at their bound whatever the rate
# does, so RSS measures leaks, not the high-water mark of a throughput swing).
# `microrm serve --store lmdb --durability strict` on a fresh state directory;
# the load is bench/soak_load.py (2 processes x 16 keep-alive connections,
# 40% /score without user, 30% /score with a user and an event, 15% event-form
# and 15% direct /route/update over 1000 users). First a closed-loop run
# measures the peak rate (skipped with --rate R), then the soak runs open-loop
# at fraction x peak while bench/rss_sampler.py records VmRSS each second.
# Pass (exit 0) when RSS grows < 5% from the end of the warm-up to the end,
# every answer was 2xx (the client's count and the server's /metrics agree),
# no connection was closed by the server (the client reconnects and resends,
# but a busy keep-alive connection has no reason to be closed),
# the achieved rate is >= 90% of the target and the server is still up.
# Builds nothing. Stops everything it started, by pid, also on Ctrl-C.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh" soak
usage() { sed -n '5,7p' "$0" | sed 's/^# \{0,3\}//' >&2; exit 2; }

[[ $# -ge 1 ]] || usage
build=$(cd "$1" && pwd) || usage
shift
duration=600 warmup="" fraction=0.8 rate="" peak_seconds=20 model=big threads=0 event_ttl=30 event_memory=32MiB work=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration)     duration=$2; shift 2 ;;
        --warmup)       warmup=$2; shift 2 ;;
        --fraction)     fraction=$2; shift 2 ;;
        --rate)         rate=$2; shift 2 ;;
        --peak-seconds) peak_seconds=$2; shift 2 ;;
        --model)        model=$2; shift 2 ;;
        --threads)      threads=$2; shift 2 ;;
        --event-ttl)    event_ttl=$2; shift 2 ;;
        --event-memory) event_memory=$2; shift 2 ;;
        --work)         work=$2; shift 2 ;;
        *) usage ;;
    esac
done
num='^[0-9]+([.][0-9]+)?$'
[[ $duration =~ ^[1-9][0-9]*$ && $peak_seconds =~ ^[1-9][0-9]*$ && $threads =~ ^[0-9]+$ &&
   $event_ttl =~ ^[1-9][0-9]*$ && $event_memory =~ ^[0-9]+([KMG]i?B?)?$ && $fraction =~ $num && ($model == big || $model == demo) ]] || usage
[[ -z $rate || $rate =~ $num ]] || usage
# the kept events reach their steady size only after event_ttl: the warm-up must cover it
[[ -z $warmup ]] && warmup=$(( duration / 10 > event_ttl + 15 ? duration / 10 : event_ttl + 15 ))
[[ $warmup =~ ^[0-9]+$ && $warmup -lt $duration ]] || { echo "soak: --warmup must be below --duration" >&2; exit 2; }

microrm_bin=$build/microrm
[[ -x $microrm_bin ]] || { echo "soak: $microrm_bin is missing (ninja -C $build)" >&2; exit 1; }
bench_require curl python3

bench_start microrm-soak
kv() { awk -v k="$2" '$1 == k {print $2; exit}' "$1"; }   # FILE KEY -> value of a `key value` line

# ---- model and server ----
echo "== work directory $work (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ $model == big ]]; then
    "$microrm_bin" demo-model --heads 10 --d 3072 --dc 3072 --hidden 128 --out "$work/m.safetensors" >/dev/null
    model_path=$work/m.safetensors d=3072
    echo "== model: K=10 d=dc=3072 MLP router H=128"
else
    model_path=$here/../models/demo.safetensors d=64
    echo "== model: demo (K=4 d=dc=64)"
fi
rm -rf "$work/state"
mkdir -p "$work/state"
port=$(free_port)
OPENBLAS_NUM_THREADS=1 "$microrm_bin" serve --model "$model_path" --port "$port" --threads "$threads" \
    --store lmdb --state_dir "$work/state" --durability strict --event_ttl "$event_ttl" \
    --event_memory "$event_memory" --log_level warn \
    >"$work/microrm.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
for ((i = 0; ; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true) == 200 ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null || ((i > 300)); then
        echo "soak: microrm did not become ready (log: $work/microrm.log)" >&2
        tail -5 "$work/microrm.log" >&2
        exit 1
    fi
    sleep 0.1
done
echo "== microrm pid $server_pid on port $port, lmdb store in $work/state, strict durability, events ${event_ttl}s within $event_memory"
load=(python3 "$here/soak_load.py")
"${load[@]}" check --port "$port" --d "$d" --dc "$d" >/dev/null

# ---- peak ----
if [[ -z $rate ]]; then
    echo "== peak: closed loop for ${peak_seconds}s"
    "${load[@]}" peak --port "$port" --d "$d" --dc "$d" --seconds "$peak_seconds" >"$work/peak.txt" || {
        echo "soak: the peak run had errors:" >&2; cat "$work/peak.txt" >&2; exit 1; }
    peak=$(kv "$work/peak.txt" peak_rps)
    rate=$(awk -v p="$peak" -v f="$fraction" 'BEGIN {printf "%.1f", p * f}')
    echo "   peak $peak req/s (p50 $(kv "$work/peak.txt" p50_ms) ms, p99 $(kv "$work/peak.txt" p99_ms) ms); soak rate $fraction x peak = $rate req/s"
else
    peak=""
    echo "== soak rate given: $rate req/s"
fi

# ---- soak ----
scrape() { curl -sf "http://127.0.0.1:$port/metrics" >"$1" || { echo "soak: GET /metrics failed" >&2; exit 1; }; }
# answers other than 2xx on /score and /route/update between two scrapes
server_non2xx() {
    awk '
        index($1, "microrm_http_requests_total{") == 1 && ($1 ~ /endpoint="\/score"/ || $1 ~ /endpoint="\/route\/update"/) {
            match($1, /status="[^"]*"/); s = substr($1, RSTART + 8, RLENGTH - 9)
            if (s ~ /^2/) next
            if (FILENAME == ARGV[1]) b[$1] = $2; else a[$1] = $2
        }
        END { n = 0; for (k in a) n += a[k] - b[k]; print n }
    ' "$1" "$2"
}
scrape "$work/metrics.before"
: >"$work/rss.txt"
python3 "$here/rss_sampler.py" sample --pid "$server_pid" --out "$work/rss.txt" &
sampler_pid=$!
pids+=("$sampler_pid")
echo "== soak: ${duration}s at $rate req/s, warm-up ${warmup}s; RSS every second"
"${load[@]}" run --port "$port" --d "$d" --dc "$d" --rate "$rate" --seconds "$duration" >"$work/run.txt" &
load_pid=$!
pids+=("$load_pid")
# a line a minute: RSS (anonymous + file), what the server holds, machine load
t0=$SECONDS next=60
while kill -0 "$load_pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS - t0 >= next )) && kill -0 "$server_pid" 2>/dev/null; then
        next=$((next + 60))
        curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics.now" || : >"$work/metrics.now"
        read -r _ rss anon file < <(tail -1 "$work/rss.txt")
        printf '   %4ds  RSS %s kB (anon %s, file %s)  events %s (%s B)  users cached %s  in flight %s  load average %s\n' \
            $((SECONDS - t0)) "$rss" "$anon" "$file" "$(kv "$work/metrics.now" microrm_events_kept)" \
            "$(kv "$work/metrics.now" microrm_events_bytes)" "$(kv "$work/metrics.now" microrm_users_cached)" \
            "$(kv "$work/metrics.now" microrm_http_requests_in_flight)" "$(cut -d' ' -f1 /proc/loadavg)"
    fi
done
load_rc=0
wait "$load_pid" || load_rc=$?
server_up=no
if kill -0 "$server_pid" 2>/dev/null && [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" || true) == 200 ]]; then
    server_up=yes
    scrape "$work/metrics.after"
    srv_bad=$(server_non2xx "$work/metrics.before" "$work/metrics.after")
else
    srv_bad=unknown
fi
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
python3 "$here/rss_sampler.py" report "$work/rss.txt" --warmup "$warmup" >"$work/rss_report.txt" || true

# ---- summary ----
achieved=$(kv "$work/run.txt" achieved_rps)
rate_ok=$(awk -v a="$achieved" -v r="$rate" 'BEGIN {print (a >= 0.9 * r) ? "yes" : "no"}')
non2xx=$(kv "$work/run.txt" non2xx)
echo
echo "== summary (tree at $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown), microrm built $(date -u -r "$microrm_bin" '+%F %T') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
[[ -n $peak ]] && echo "peak_rps            $peak"
echo "target_rps          $rate"
echo "achieved_rps        $achieved"
echo "requests            $(kv "$work/run.txt" requests)"
grep '^kind ' "$work/run.txt" | awk '{printf "  %-17s %s%s\n", $2, $4, ($6 > 0 ? "  non-2xx " $6 " " $8 " " $9 : "")}'
echo "non2xx (client)     $non2xx"
echo "non2xx (server)     $srv_bad"
echo "latency_ms          p50 $(kv "$work/run.txt" p50_ms)  p99 $(kv "$work/run.txt" p99_ms)  p999 $(kv "$work/run.txt" p999_ms)  max $(kv "$work/run.txt" max_ms)  (from each request's due time)"
echo "late_over_100ms     $(kv "$work/run.txt" late_over_100ms)"
echo "unsent              $(kv "$work/run.txt" unsent)  (slots the server was too slow to reach before the end)"
echo "reconnects          $(kv "$work/run.txt" reconnects)  (keep-alive connections the server closed; busy ones never idle that long)"
echo "loadgen_cpu_s       $(kv "$work/run.txt" loadgen_cpu_s)"
grep '^error ' "$work/run.txt" | head -5 | sed 's/^/  /' || true
echo "rss_warmup_end_kb   $(kv "$work/rss_report.txt" rss_warmup_end_kb)  (at ${warmup}s)"
echo "rss_end_kb          $(kv "$work/rss_report.txt" rss_end_kb)"
echo "rss_max_after_kb    $(kv "$work/rss_report.txt" rss_max_after_warmup_kb)"
echo "rss_growth_pct      $(kv "$work/rss_report.txt" rss_growth_pct)"
echo "rss_slope_kb_min    $(kv "$work/rss_report.txt" rss_slope_kb_per_min)"
echo "server_up           $server_up"
verdict=pass
reasons=()
[[ $(kv "$work/rss_report.txt" rss_verdict) == pass ]] || reasons+=("RSS grew >= 5% (or too few samples)")
[[ $load_rc == 0 && $non2xx == 0 ]] || reasons+=("non-2xx answers")
[[ $srv_bad == 0 ]] || reasons+=("the server counted non-2xx answers: $srv_bad")
[[ $(kv "$work/run.txt" reconnects) == 0 ]] || reasons+=("the server closed busy connections")
[[ $rate_ok == yes ]] || reasons+=("achieved rate below 90% of the target")
[[ $server_up == yes ]] || reasons+=("the server is not serving")
((${#reasons[@]} == 0)) || verdict=fail
echo "verdict             $verdict${reasons:+  (${reasons[*]})}"
[[ $remove_work == 0 ]] && echo "(files in $work: rss.txt, run.txt, peak.txt, microrm.log)"
[[ $verdict == pass ]]
