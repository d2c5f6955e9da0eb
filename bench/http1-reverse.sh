#!/usr/bin/env bash
# bench/http1-reverse.sh: HTTP/1.1 reverse-proxy benchmark.
#
# Compares, on one machine in one run, the same nginx backend (1 KiB file, keep-alive):
#   direct       wrk/hey -> backend nginx
#   nginx-proxy  wrk/hey -> nginx reverse proxy (1 worker, upstream keep-alive) -> backend
#   tapwire      wrk/hey -> `tapwire record --proxy-type reverse` (recording on) -> backend
# and reports: throughput (wrk, median of alternating rounds), p99 at a fixed 1000 req/s (hey),
# CPU seconds per 1000 requests and RSS of each proxy, and tapwire's capture counters.
#
# Usage: bench/http1-reverse.sh [--write-results] [--strict] [--no-tapwire]
#        bench/http1-reverse.sh --results-from bench/out/http1-reverse-<ts>.md
# See bench/README.md for the environment variables (DUR, ROUNDS, TAPWIRE_CMD, ...).
set -u -o pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH=http1-reverse
USAGE_LINES=2,15       # the header comment, printed by --help
RESULTS_FORMAT=raw     # RESULTS.md section as the report is (no prettier pass)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh" # log, die, arguments, RESULTS.md, processes, numbers; sets TAPWIRE_CMD, OUT_DIR, ...

DUR=${DUR:-10}                      # seconds per wrk run
ROUNDS=${ROUNDS:-3}                 # alternating rounds (direct, nginx-proxy, tapwire)
CONNS=${CONNS:-50}                  # wrk connections
WARMUP=${WARMUP:-2}                 # seconds of wrk warm-up per target before the rounds (0 = none)
LAT_DUR=${LAT_DUR:-$DUR}            # seconds per hey run
LAT_ROUNDS=${LAT_ROUNDS:-$ROUNDS}   # alternating hey rounds
LAT_RATE=${LAT_RATE:-1000}          # total req/s for the latency test
LAT_WORKERS=${LAT_WORKERS:-10}      # hey workers (-c); hey's -q is per worker
READY_TIMEOUT=${READY_TIMEOUT:-15}  # seconds to wait for tapwire's /readyz
WAIT_TOOLS=${WAIT_TOOLS:-120}       # seconds to wait for nginx/wrk/hey to appear

GOAL_RATIO=60      # tapwire req/s >= 60 % of nginx-proxy
GOAL_ADDED_P99=1   # ms, at LAT_RATE, vs direct
GOAL_RSS_MB=100    # VmHWM of the tapwire process

NO_TAPWIRE=0
bench_extra_arg() { # the flag only this benchmark takes
  case $1 in
    --no-tapwire) NO_TAPWIRE=1 ;;
    *) return 1 ;;
  esac
}
parse_args "$@"

require_whole_numbers DUR ROUNDS CONNS WARMUP LAT_DUR LAT_ROUNDS LAT_RATE LAT_WORKERS READY_TIMEOUT WAIT_TOOLS
[ "$DUR" -ge 1 ] && [ "$ROUNDS" -ge 1 ] && [ "$LAT_DUR" -ge 1 ] && [ "$LAT_WORKERS" -ge 1 ] ||
  { echo "$BENCH: DUR, ROUNDS, LAT_DUR and LAT_WORKERS must be >= 1" >&2; exit 2; }

# ---------------------------------------------------------------- tools
missing=$(wait_tools "$WAIT_TOOLS" nginx wrk hey)
if [ -n "$missing" ]; then
  echo "$BENCH: missing tools: $missing" >&2
  echo "  install them with: apt-get install nginx-light wrk hey" >&2
  exit 1
fi
require_tools node curl getconf awk setsid timeout pgrep
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- processes, probes and cleanup
init_run tapwire-bench 5

http_probe() { # url: prints "<status> <bytes>"; fails on transport errors
  curl -sS -o /dev/null --max-time 3 -w '%{http_code} %{size_download}' "$1" 2>/dev/null
}

wait_http() { # url seconds pid: waits for a 200 while pid lives
  local url=$1 limit=$(($2 * 10)) pid=$3 i=0
  while [ $i -lt "$limit" ]; do
    proc_alive "$pid" || return 2
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

to_ms() { # wrk latency such as 512.00us 2.10ms 1.02s 1.50m
  echo "$1" | awk '{v = $1 + 0; if ($1 ~ /us$/) v /= 1000; else if ($1 ~ /ms$/) v = v; else if ($1 ~ /m$/) v *= 60000; else if ($1 ~ /s$/) v *= 1000; print v}'
}

# ---------------------------------------------------------------- backend and nginx proxy
LOAD_BEFORE=$(load_avg)
log "work folder: $T"
mkdir -p "$T/www" "$T/res" "$T/store" "$T/nginx-backend" "$T/nginx-proxy" "$OUT_DIR"
head -c 1024 /dev/zero | tr '\0' 'x' >"$T/www/1k.bin"
read -r BACKEND_PORT PROXY_PORT TW_PORT TW_ADMIN < <(free_ports 4)
[ -n "${TW_ADMIN:-}" ] || die "could not find free ports"
log "ports: backend=$BACKEND_PORT nginx-proxy=$PROXY_PORT tapwire=$TW_PORT tapwire-admin=$TW_ADMIN"

nginx_common() { # prefix: directives shared by both nginx instances
  cat <<EOF
daemon off;
user root;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_http_common() {
  local p=$1
  cat <<EOF
  access_log off;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $p/client_body;
  proxy_temp_path $p/proxy;
  fastcgi_temp_path $p/fastcgi;
  uwsgi_temp_path $p/uwsgi;
  scgi_temp_path $p/scgi;
EOF
}
{
  nginx_common "$T/nginx-backend"
  echo "http {"
  nginx_http_common "$T/nginx-backend"
  cat <<EOF
  server {
    listen 127.0.0.1:$BACKEND_PORT;
    location / { root $T/www; }
  }
}
EOF
} >"$T/nginx-backend/nginx.conf"
{
  nginx_common "$T/nginx-proxy"
  echo "http {"
  nginx_http_common "$T/nginx-proxy"
  cat <<EOF
  upstream backend {
    server 127.0.0.1:$BACKEND_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
} >"$T/nginx-proxy/nginx.conf"

start_nginx() { # name
  local dir=$T/$1
  nginx -t -q -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/test.log" 2>&1 ||
    { cat "$dir/test.log" >&2; die "nginx config for $1 is invalid"; }
  start_bg "$dir/stdout.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
}

start_nginx nginx-backend
BACKEND_PID=$LAST_PID
wait_http "http://127.0.0.1:$BACKEND_PORT/1k.bin" 10 "$BACKEND_PID" ||
  { cat "$T/nginx-backend/error.log" >&2; die "backend nginx did not start"; }
start_nginx nginx-proxy
PROXY_PID=$LAST_PID
wait_http "http://127.0.0.1:$PROXY_PORT/1k.bin" 10 "$PROXY_PID" ||
  { cat "$T/nginx-proxy/error.log" >&2; die "nginx proxy did not start"; }
probe=$(http_probe "http://127.0.0.1:$PROXY_PORT/1k.bin")
[ "$probe" = "200 1024" ] || die "nginx proxy answered '$probe', expected '200 1024'"
BACKEND_PIDS="$BACKEND_PID $(descendants "$BACKEND_PID" | tr '\n' ' ')"
PROXY_PIDS="$PROXY_PID $(descendants "$PROXY_PID" | tr '\n' ' ')"
log "backend nginx pids: $BACKEND_PIDS; nginx proxy pids: $PROXY_PIDS (master + 1 worker each)"

# ---------------------------------------------------------------- tapwire
TW_STATUS=not-tried
TW_PID=
TW_NOTE=
TW_RECORD_CMD="$TAPWIRE_CMD record --proxy-type reverse --app 127.0.0.1:$BACKEND_PORT --in-port $TW_PORT --out-port 0 --admin-port $TW_ADMIN --store $T/store --log-level warn${TAPWIRE_EXTRA_ARGS:+ $TAPWIRE_EXTRA_ARGS}"
TW_LOG=$T/tapwire.log
: >"$TW_LOG"
# Measure what users run: the compiled dist/ (bin/tapwire.js falls back to the TypeScript
# sources through tsx when dist/ is older than src/, which costs memory and start-up time).
if [ -z "${TAPWIRE_CMD_SET:-}" ] && [ -f "$REPO/scripts/build.mjs" ]; then
  log "building dist/ (npm run build)"
  (cd "$REPO" && timeout -k 5 180 node scripts/build.mjs >/dev/null) || log "build failed: tapwire runs from sources"
fi

tapwire_log_tail() { tail -n "${1:-20}" "$TW_LOG" 2>/dev/null | sed 's/^/    /'; }

if [ "$NO_TAPWIRE" = 1 ]; then
  TW_STATUS=unavailable
  TW_NOTE="skipped (--no-tapwire)"
else
  log "starting tapwire: $TW_RECORD_CMD"
  # `exec` keeps the pid: the pid we hold is the command's own (node when TAPWIRE_CMD starts node).
  start_bg "$TW_LOG" bash -c "cd '$T' && exec $TW_RECORD_CMD"
  TW_WRAPPER_PID=$LAST_PID
  wait_http "http://127.0.0.1:$TW_ADMIN/readyz" "$READY_TIMEOUT" "$TW_WRAPPER_PID"
  case $? in
    0)
      TW_STATUS=running
      TW_PID=$(node_pid_of "$TW_WRAPPER_PID")
      [ "$(cat "/proc/$TW_PID/comm" 2>/dev/null)" = node ] ||
        TW_NOTE="warning: measured pid $TW_PID is '$(cat "/proc/$TW_PID/comm" 2>/dev/null)', not node"
      probe=$(http_probe "http://127.0.0.1:$TW_PORT/1k.bin")
      if [ "$probe" != "200 1024" ]; then
        TW_STATUS=unavailable
        TW_NOTE="ready, but GET /1k.bin through it answered '${probe:-no response}' (expected '200 1024')"
      fi
      ;;
    1) TW_STATUS=unavailable; TW_NOTE="/readyz did not answer 200 within ${READY_TIMEOUT}s" ;;
    *) TW_STATUS=unavailable; TW_NOTE="the process exited during start-up" ;;
  esac
  if [ "$TW_STATUS" = running ]; then
    log "tapwire is up: pid $TW_PID ($(tr '\0' ' ' <"/proc/$TW_PID/cmdline" | cut -c1-120))"
    TW_IDLE_RSS_KB=$(status_kb VmRSS "$TW_PID")
  else
    log "tapwire: not available ($TW_NOTE); continuing with direct and nginx-proxy"
    tapwire_log_tail 15 >&2
    stop_group "$TW_WRAPPER_PID" TERM 3
  fi
fi

TARGETS="direct nginx-proxy"
[ "$TW_STATUS" = running ] && TARGETS="$TARGETS tapwire"
url_of() {
  case $1 in
    direct) echo "http://127.0.0.1:$BACKEND_PORT/1k.bin" ;;
    nginx-proxy) echo "http://127.0.0.1:$PROXY_PORT/1k.bin" ;;
    tapwire) echo "http://127.0.0.1:$TW_PORT/1k.bin" ;;
  esac
}
pids_of() { # the processes whose CPU is charged to a target
  case $1 in
    direct) echo "$BACKEND_PIDS" ;;
    nginx-proxy) echo "$PROXY_PIDS" ;;
    tapwire) echo "$TW_PID $(descendants "$TW_PID" | tr '\n' ' ')" ;;
  esac
}
tapwire_alive_check() { # drops tapwire from TARGETS when it died
  if [ "$TW_STATUS" = running ] && ! proc_alive "$TW_PID"; then
    TW_STATUS=died
    TW_NOTE="the tapwire process exited during the benchmark"
    TARGETS="direct nginx-proxy"
    log "tapwire died; log tail:"
    tapwire_log_tail 15 >&2
  fi
}

# ---------------------------------------------------------------- throughput (wrk)
WRK_CMD="wrk -t1 -c$CONNS -d${DUR}s --latency"
if [ "$WARMUP" -gt 0 ]; then
  for tgt in $TARGETS; do
    log "warm-up $tgt (${WARMUP}s)"
    timeout -k 5 $((WARMUP + 30)) wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$(url_of "$tgt")" >"$T/res/warmup-$tgt.txt" 2>&1
  done
fi

for r in $(seq 1 "$ROUNDS"); do
  for tgt in $TARGETS; do
    tapwire_alive_check
    case " $TARGETS " in *" $tgt "*) ;; *) continue ;; esac
    f=$T/res/wrk-$tgt-$r.txt
    pids=$(pids_of "$tgt")
    c0=$(cpu_ticks $pids)
    timeout -k 5 $((DUR + 30)) $WRK_CMD "$(url_of "$tgt")" >"$f" 2>&1
    c1=$(cpu_ticks $pids)
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$f")
    reqs=$(awk '/ requests in / {print $1}' "$f")
    p99=$(awk '$1 == "99%" {print $2}' "$f")
    [ -n "$p99" ] && p99=$(to_ms "$p99")
    non2xx=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$f")
    sockerr=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$f")
    cpu_s=$(calc "($c1 - $c0) / $CLK_TCK")
    echo "$r $tgt ${rps:-} ${reqs:-} ${p99:-} ${non2xx:-0} ${sockerr:-0} $cpu_s" >>"$T/res/wrk.txt"
    log "round $r $tgt: $(fmt %.0f "$rps") req/s, p99 $(fmt %.2f "$p99") ms, cpu ${cpu_s}s, non-2xx ${non2xx:-0}, socket errors ${sockerr:-0}"
  done
done

# ---------------------------------------------------------------- latency at a fixed rate (hey)
QPS_PER_WORKER=$(calc "$LAT_RATE / $LAT_WORKERS")
HEY_CMD="hey -z ${LAT_DUR}s -c $LAT_WORKERS -q $QPS_PER_WORKER"
for r in $(seq 1 "$LAT_ROUNDS"); do
  for tgt in $TARGETS; do
    tapwire_alive_check
    case " $TARGETS " in *" $tgt "*) ;; *) continue ;; esac
    f=$T/res/hey-$tgt-$r.txt
    timeout -k 5 $((LAT_DUR + 30)) $HEY_CMD "$(url_of "$tgt")" >"$f" 2>&1
    p99=$(awk '$1 == "99%" && $2 == "in" {print $3 * 1000}' "$f")
    p50=$(awk '$1 == "50%" && $2 == "in" {print $3 * 1000}' "$f")
    rate=$(awk '/Requests\/sec:/ {print $2}' "$f")
    ok=$(awk '$1 == "[200]" {print $2}' "$f")
    bad=$(awk '/Status code distribution:/ {s = 1; next} /Error distribution:/ {s = 2; next}
               s == 1 && /^[ \t]*\[[0-9]+\]/ && $1 != "[200]" {n += $2}
               s == 2 && /^[ \t]*\[[0-9]+\]/ {gsub(/[\[\]]/, "", $1); n += $1}
               END {print n + 0}' "$f")
    echo "$r $tgt ${p50:-} ${p99:-} ${rate:-} ${ok:-0} $bad" >>"$T/res/hey.txt"
    log "latency round $r $tgt: p50 $(fmt %.2f "$p50") ms, p99 $(fmt %.2f "$p99") ms at $(fmt %.0f "$rate") req/s, errors $bad"
  done
done
tapwire_alive_check

# ---------------------------------------------------------------- memory, counters, snapshot
rss_of() { # target: "hwm_kb rss_kb"
  local pids
  pids=$(pids_of "$1")
  echo "$(status_kb VmHWM $pids) $(status_kb VmRSS $pids)"
}
read -r PROXY_HWM PROXY_RSS < <(rss_of nginx-proxy)
read -r BACKEND_HWM BACKEND_RSS < <(rss_of direct)
TW_HWM=; TW_RSS=; TW_CAPTURED=; TW_DROPPED=; TW_METRICS_LINES=; TW_SNAPSHOT_LS=
if [ "$TW_STATUS" = running ]; then
  TW_HWM=$(status_kb VmHWM "$TW_PID")
  TW_RSS=$(status_kb VmRSS "$TW_PID")
  if curl -fsS --max-time 5 "http://127.0.0.1:$TW_ADMIN/metrics" >"$T/metrics.txt" 2>/dev/null; then
    TW_METRICS_LINES=$(grep -E '^tapwire_exchanges_(captured|dropped)_total' "$T/metrics.txt")
    TW_CAPTURED=$(awk '/^tapwire_exchanges_captured_total/ {n += $NF; f = 1} END {if (f) print n}' "$T/metrics.txt")
    TW_DROPPED=$(awk '/^tapwire_exchanges_dropped_total/ {n += $NF; f = 1} END {if (f) print n}' "$T/metrics.txt")
  else
    TW_METRICS_LINES="(GET /metrics failed)"
  fi
  log "tapwire metrics: ${TW_METRICS_LINES:-no tapwire_exchanges_* series}"
  # Stop it like a user would (Ctrl-C) so it can close the snapshot, then list the store.
  log "stopping tapwire (SIGINT, up to 15 s) to close the snapshot"
  kill -INT "$TW_PID" 2>/dev/null
  i=0
  while proc_alive "$TW_PID" && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
  if proc_alive "$TW_PID"; then
    TW_NOTE="${TW_NOTE:+$TW_NOTE; }did not exit within 15 s of SIGINT"
    stop_group "$TW_WRAPPER_PID" TERM 3
  fi
  TW_SNAPSHOT_LS=$(timeout -k 5 60 bash -c "cd '$T' && exec $TAPWIRE_CMD snapshot ls --store $T/store" 2>&1 | head -n 40) ||
    TW_SNAPSHOT_LS="(snapshot ls failed) $TW_SNAPSHOT_LS"
  TW_STORE_DU=$(du -sh "$T/store" 2>/dev/null | cut -f1)
  TW_STORE_FILES=$(find "$T/store" -type f 2>/dev/null | wc -l)
fi

# ---------------------------------------------------------------- aggregate
wrk_median() { awk -v t="$1" -v c="$2" '$2 == t && $c != "" {print $c}' "$T/res/wrk.txt" 2>/dev/null | median; }
hey_median() { awk -v t="$1" -v c="$2" '$2 == t && $c != "" {print $c}' "$T/res/hey.txt" 2>/dev/null | median; }
wrk_sum() { awk -v t="$1" -v c="$2" '$2 == t {n += $c; f = 1} END {if (f) print n}' "$T/res/wrk.txt" 2>/dev/null; }
cpu_per_1k() { # target: total CPU seconds / (total requests / 1000) over the wrk rounds
  local cpu reqs
  cpu=$(wrk_sum "$1" 8)
  reqs=$(wrk_sum "$1" 4)
  [ -n "$cpu" ] && [ -n "$reqs" ] && [ "$reqs" != 0 ] && calc "$cpu / ($reqs / 1000)"
}
errors_of() {
  local w h
  w=$(awk -v t="$1" '$2 == t {n += $6 + $7} END {print n + 0}' "$T/res/wrk.txt" 2>/dev/null)
  h=$(awk -v t="$1" '$2 == t {n += $7} END {print n + 0}' "$T/res/hey.txt" 2>/dev/null)
  echo "$(( ${w:-0} + ${h:-0} ))"
}

declare -A RPS P99W P99H CPU1K ERRS
for tgt in direct nginx-proxy tapwire; do
  RPS[$tgt]=$(wrk_median "$tgt" 3)
  P99W[$tgt]=$(wrk_median "$tgt" 5)
  P99H[$tgt]=$(hey_median "$tgt" 4)
  CPU1K[$tgt]=$(cpu_per_1k "$tgt")
  ERRS[$tgt]=$(errors_of "$tgt")
done
pct_of_nginx() { [ -n "${RPS[$1]}" ] && [ -n "${RPS[nginx-proxy]}" ] && calc "100 * ${RPS[$1]} / ${RPS[nginx-proxy]}"; }
added_p99() { [ -n "${P99H[$1]}" ] && [ -n "${P99H[direct]}" ] && calc "${P99H[$1]} - ${P99H[direct]}"; }

TW_RATIO=$(pct_of_nginx tapwire)
TW_ADDED=$(added_p99 tapwire)
TW_HWM_MB=$(mb "$TW_HWM")
V_RATIO=$(verdict "$TW_RATIO" '>=' "$GOAL_RATIO")
V_ADDED=$(verdict "$TW_ADDED" '<=' "$GOAL_ADDED_P99")
V_RSS=$(verdict "$TW_HWM_MB" '<=' "$GOAL_RSS_MB")

# ---------------------------------------------------------------- report
LOAD_AFTER=$(load_avg)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT=$OUT_DIR/$BENCH-$STAMP.md
NODE_V=$(node --version)
NGINX_V=$(nginx -v 2>&1 | sed 's/^nginx version: //')
WRK_V=$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')
HEY_V=$(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo unknown)
CPU_MODEL=$(cpu_model)
GIT_REV=$(git_rev)

row() { # target label
  local t=$1 rss_cell pct added
  case $t in
    direct) rss_cell="$(fmt %.1f "$(mb "$BACKEND_HWM")") / $(fmt %.1f "$(mb "$BACKEND_RSS")") (backend)" ;;
    nginx-proxy) rss_cell="$(fmt %.1f "$(mb "$PROXY_HWM")") / $(fmt %.1f "$(mb "$PROXY_RSS")")" ;;
    tapwire) rss_cell="$(fmt %.1f "$(mb "$TW_HWM")") / $(fmt %.1f "$(mb "$TW_RSS")")" ;;
  esac
  pct=$(pct_of_nginx "$t")
  added=
  [ "$t" != direct ] && added=$(added_p99 "$t")
  [ "$t" = direct ] && added=0
  echo "| $2 | $(fmt %.0f "${RPS[$t]}") | $(fmt %.0f%% "$pct") | $(fmt %.2f "${P99W[$t]}") | $(fmt %.2f "${P99H[$t]}") | $(fmt %+.2f "$added") | $(fmt %.4f "${CPU1K[$t]}") | $rss_cell | ${ERRS[$t]} |"
}

{
  echo "# HTTP/1.1 reverse proxy: direct vs nginx-proxy vs tapwire record"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: nproc=$(nproc), $CPU_MODEL, kernel $(uname -r); load average before $LOAD_BEFORE, after $LOAD_AFTER (shared machines are noisy: compare within one run)"
  echo "- versions: node $NODE_V, $NGINX_V, $WRK_V, hey $HEY_V; tapwire at $GIT_REV"
  echo "- backend: nginx serving a 1 KiB file with keep-alive (1 worker); all traffic on 127.0.0.1"
  echo "- nginx-proxy: nginx reverse proxy with **1 worker** (worker_processes 1, fair against single-threaded Node), proxy_http_version 1.1, upstream keepalive 64"
  echo "- throughput: \`$WRK_CMD\`, targets alternated (${TARGETS// / → }) for $ROUNDS round(s), median req/s; ${WARMUP}s warm-up per target"
  echo "- latency: \`$HEY_CMD\` (= $LAT_RATE req/s: -q is per worker), $LAT_ROUNDS alternating round(s), median of the per-run p99; hey prints latencies to 0.1 ms"
  echo "- CPU: utime+stime from /proc/<pid>/stat (CLK_TCK=$CLK_TCK) across the wrk rounds ÷ (requests/1000); nginx sums master + worker; direct row = backend's own cost"
  echo "- RSS: VmHWM / VmRSS from /proc/<pid>/status after all runs"
  echo
  echo "## Results"
  echo
  echo "| target | req/s (median) | % of nginx-proxy | wrk p99 ms (saturated) | p99 ms @ $LAT_RATE req/s | added p99 ms vs direct | CPU s / 1000 req | RSS MB peak / now | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  row direct direct
  row nginx-proxy "nginx-proxy (1 worker)"
  if [ "$TW_STATUS" = running ] || [ -n "${RPS[tapwire]}" ]; then
    row tapwire "tapwire record"
  else
    echo "| tapwire record | not available | | | | | | | |"
  fi
  echo
  if [ "$TW_STATUS" != running ]; then
    echo "tapwire: not available: $TW_NOTE."
    if [ -s "$TW_LOG" ]; then
      echo
      echo "Last lines of its output:"
      echo
      echo '```'
      tail -n 15 "$TW_LOG"
      echo '```'
    fi
    echo
  elif [ -n "$TW_NOTE" ]; then
    echo "tapwire note: $TW_NOTE."
    echo
  fi
  echo "## Goals (tapwire)"
  echo
  echo "| goal | measured | verdict |"
  echo "|---|---:|---|"
  echo "| req/s >= $GOAL_RATIO % of nginx-proxy | $(fmt %.1f%% "$TW_RATIO") | $V_RATIO |"
  echo "| added p99 <= $GOAL_ADDED_P99 ms at $LAT_RATE req/s (vs direct) | $(fmt '%.2f ms' "$TW_ADDED") | $V_ADDED |"
  echo "| RSS (VmHWM) <= $GOAL_RSS_MB MB | $(fmt '%.1f MB' "$TW_HWM_MB") | $V_RSS |"
  echo
  if [ -n "$TW_PID" ]; then
    echo "## Recording"
    echo
    echo "- tapwire pid $TW_PID (node), idle RSS after start $(fmt %.1f "$(mb "${TW_IDLE_RSS_KB:-}")") MB"
    echo "- requests sent through tapwire: wrk $(fmt %.0f "$(wrk_sum tapwire 4)") (+ $(awk '/ requests in / {print $1}' "$T/res/warmup-tapwire.txt" 2>/dev/null || echo 0) in warm-up), hey $(awk '$2 == "tapwire" {n += $6} END {print n + 0}' "$T/res/hey.txt" 2>/dev/null) (200s)"
    echo "- tapwire_exchanges_captured_total: $(fmt %.0f "$TW_CAPTURED"); tapwire_exchanges_dropped_total: $(fmt %.0f "$TW_DROPPED")"
    echo "- store after stop: ${TW_STORE_DU:-?} in ${TW_STORE_FILES:-?} file(s)"
    echo
    echo '```'
    echo "${TW_METRICS_LINES:-(no tapwire_exchanges_* series in /metrics)}"
    echo "\$ tapwire snapshot ls --store <tmp>/store"
    echo "${TW_SNAPSHOT_LS:-(no output)}"
    echo '```'
    echo
  fi
  echo "## Raw runs"
  echo
  echo "| round | target | req/s | requests | p99 ms | non-2xx | socket errors | CPU s |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  [ -f "$T/res/wrk.txt" ] && while read -r r t rps reqs p99 n2 se cpu; do
    echo "| $r | $t | $(fmt %.0f "$rps") | $reqs | $(fmt %.2f "$p99") | $n2 | $se | $(fmt %.2f "$cpu") |"
  done <"$T/res/wrk.txt"
  echo
  echo "| round | target | p50 ms | p99 ms | achieved req/s | 200s | errors |"
  echo "|---:|---|---:|---:|---:|---:|---:|"
  [ -f "$T/res/hey.txt" ] && while read -r r t p50 p99 rate ok bad; do
    echo "| $r | $t | $(fmt %.2f "$p50") | $(fmt %.2f "$p99") | $(fmt %.0f "$rate") | $ok | $bad |"
  done <"$T/res/hey.txt"
  echo
  echo "## Commands"
  echo
  echo '```sh'
  echo "DUR=$DUR ROUNDS=$ROUNDS CONNS=$CONNS WARMUP=$WARMUP LAT_DUR=$LAT_DUR LAT_ROUNDS=$LAT_ROUNDS LAT_RATE=$LAT_RATE LAT_WORKERS=$LAT_WORKERS bench/http1-reverse.sh"
  echo "nginx -p <tmp>/nginx-backend -c <tmp>/nginx-backend/nginx.conf   # backend :$BACKEND_PORT"
  echo "nginx -p <tmp>/nginx-proxy -c <tmp>/nginx-proxy/nginx.conf       # proxy :$PROXY_PORT"
  echo "${TW_RECORD_CMD//$T/<tmp>}"
  echo "$WRK_CMD http://127.0.0.1:<port>/1k.bin"
  echo "$HEY_CMD http://127.0.0.1:<port>/1k.bin"
  echo '```'
  echo
  echo "<details><summary>nginx configurations</summary>"
  echo
  echo '```nginx'
  echo "# backend"
  sed "s#$T#<tmp>#g" "$T/nginx-backend/nginx.conf"
  echo "# proxy"
  sed "s#$T#<tmp>#g" "$T/nginx-proxy/nginx.conf"
  echo '```'
  echo
  echo "</details>"
} >"$REPORT"

finish_report "$REPORT" "## Raw runs"

[ -n "${RPS[direct]}" ] && [ -n "${RPS[nginx-proxy]}" ] || die "wrk produced no numbers for direct or nginx-proxy (see $REPORT)"
if [ "$STRICT" = 1 ]; then
  if [ "$TW_STATUS" != running ] || [ "$V_RATIO" != PASS ] || [ "$V_ADDED" != PASS ] || [ "$V_RSS" != PASS ]; then
    log "goals missed or tapwire not measured (--strict)"
    exit 3
  fi
fi
exit 0
