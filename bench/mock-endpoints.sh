#!/usr/bin/env bash
# bench/mock-endpoints.sh: `tapwire mock` vs mountebank as recorded endpoints grow (issue 4, item 7).
#
# For 1, 100 and 10 000 recorded endpoints (distinct GET paths on api.bench.test, 1 KiB JSON
# bodies; bench/mock-snapshot.ts makes the snapshot and the equivalent mountebank imposter), the
# first, middle and last recorded endpoint and a miss are loaded with wrk (keep-alive HTTP/1.1)
# against, in one run on one machine, targets alternated, medians of ROUNDS:
#   tapwire      `tapwire mock SNAPSHOT --map PORT=api.bench.test:80` (a plain listener)
#   tapwire-1c   the same, pinned with `taskset -c 1` (wrk pinned to core 0): the one-core figure
#   mountebank   npm mountebank, one stub per endpoint (path equals predicate), default 404
# plus p99 at a fixed rate (hey -q), CPU s / 1000 requests, RSS, and the goals with verdicts.
#
# Usage: bench/mock-endpoints.sh [--write-results] [--strict]
#        bench/mock-endpoints.sh --results-from bench/out/mock-endpoints-<ts>.md
# Environment: DUR (10) ROUNDS (3) CONNS (50) SIZES ("1 100 10000") ...: see bench/README.md.
set -u -o pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH=mock-endpoints
USAGE_LINES=2,17       # the header comment, printed by --help
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh" # log, die, arguments, RESULTS.md, processes, numbers; sets TAPWIRE_CMD, OUT_DIR, ...

DUR=${DUR:-10}                       # seconds per wrk run
ROUNDS=${ROUNDS:-3}                  # alternating wrk rounds
CONNS=${CONNS:-50}                   # wrk connections
WARMUP=${WARMUP:-2}                  # seconds of wrk warm-up per target and size (0 = none)
WRK_TIMEOUT=${WRK_TIMEOUT:-30}       # wrk --timeout (s): mountebank with 10 000 stubs answers in seconds
LAT_DUR=${LAT_DUR:-5}                # seconds per hey run (fixed rate)
LAT_ROUNDS=${LAT_ROUNDS:-1}          # alternating hey rounds
LAT_RATE=${LAT_RATE:-1000}           # total req/s offered by hey
LAT_WORKERS=${LAT_WORKERS:-10}       # hey -c (each worker -q LAT_RATE / LAT_WORKERS)
SIZES=${SIZES:-1 100 10000}          # recorded endpoint counts
ONE_CORE=${ONE_CORE:-1}              # the core tapwire-1c is pinned to (wrk then runs on the others)
MB_DIR=${MB_DIR:-/tmp/mb-bench}      # scratch folder holding npm mountebank (installed there if missing)
MB_PORT=${MB_PORT:-2525}             # mountebank's REST API (a free port is used when taken)
READY_TIMEOUT=${READY_TIMEOUT:-30}   # seconds to wait for /readyz and for mountebank
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-60}   # seconds to wait for a target to go idle after a run
HOST=api.bench.test

GOAL_RPS=20000   # tapwire on one core, every hit case and size
GOAL_FLAT=0.8    # one-core req/s at the largest size >= 80 % of the smallest (per case): "flat"
GOAL_VS_MB=10    # tapwire req/s >= 10 x mountebank's, every case and size

parse_args "$@"

require_whole_numbers DUR ROUNDS CONNS WARMUP WRK_TIMEOUT LAT_DUR LAT_ROUNDS LAT_RATE LAT_WORKERS ONE_CORE MB_PORT READY_TIMEOUT DRAIN_TIMEOUT
for s in $SIZES; do [[ $s =~ ^[1-9][0-9]*$ ]] || { echo "$BENCH: SIZES must be whole numbers >= 1 (got '$s')" >&2; exit 2; }; done
[ "$DUR" -ge 1 ] && [ "$ROUNDS" -ge 1 ] && [ "$CONNS" -ge 1 ] && [ "$LAT_WORKERS" -ge 1 ] ||
  { echo "$BENCH: DUR, ROUNDS, CONNS and LAT_WORKERS must be >= 1" >&2; exit 2; }

# ---------------------------------------------------------------- tools
require_tools --hint "(apt-get install wrk hey util-linux curl)" wrk hey node curl taskset getconf awk setsid timeout pgrep npm cmp
NCPU=$(nproc)
[ "$ONE_CORE" -lt "$NCPU" ] || die "ONE_CORE=$ONE_CORE but this machine has $NCPU core(s)"
WRK_CORES=$(seq 0 $((NCPU - 1)) | grep -vx "$ONE_CORE" | paste -sd, -)
[ -n "$WRK_CORES" ] || WRK_CORES=$ONE_CORE
CLK_TCK=$(getconf CLK_TCK)

MB_BIN=$MB_DIR/node_modules/.bin/mb
if [ ! -x "$MB_BIN" ]; then
  log "installing mountebank into $MB_DIR (a scratch folder, not a project dependency)"
  mkdir -p "$MB_DIR" && (cd "$MB_DIR" && timeout 300 npm install --no-audit --no-fund --no-save mountebank >"$MB_DIR/install.log" 2>&1) ||
    log "npm install mountebank failed: $(tail -n 3 "$MB_DIR/install.log" 2>/dev/null)"
fi
HAVE_MB=0
[ -x "$MB_BIN" ] && HAVE_MB=1
[ "$HAVE_MB" = 1 ] || log "mountebank not available: its rows are skipped"
MB_V=$(node -p "require('$MB_DIR/node_modules/mountebank/package.json').version" 2>/dev/null || echo n/a)

# ---------------------------------------------------------------- processes and cleanup
init_run tapwire-mock-bench 15

port_free() { node -e 'const s=require("node:net").createServer();s.once("error",()=>process.exit(1));s.listen(Number(process.argv[1]),"127.0.0.1",()=>s.close())' "$1"; }
# wait_idle PID: after a run, waits (DRAIN_TIMEOUT at most) until the process uses < 5 % of a core
# over 0.5 s, so that a backlog (mountebank keeps working on requests wrk gave up on) does not
# spill into the next target's run. Prints the seconds waited.
wait_idle() {
  local p=$1 a b i=0 limit=$((DRAIN_TIMEOUT * 2))
  while [ $i -lt $limit ] && proc_alive "$p"; do
    a=$(cpu_ticks "$p"); sleep 0.5; b=$(cpu_ticks "$p")
    [ $(((b - a) * 100)) -le $((CLK_TCK * 5 / 2)) ] && break
    i=$((i + 1))
  done
  calc "$i / 2"
}

# ---------------------------------------------------------------- build
LOAD_BEFORE=$(load_avg)
log "work folder: $T"
mkdir -p "$T/res" "$OUT_DIR"
if [ -z "${TAPWIRE_CMD_SET:-}" ] && [ -f "$REPO/scripts/build.mjs" ]; then
  log "building dist/ (npm run build)"
  (cd "$REPO" && timeout -k 5 180 npm run -s build >"$T/build.log" 2>&1) || log "build failed: tapwire runs from sources ($(tail -n 3 "$T/build.log"))"
fi

if [ "$HAVE_MB" = 1 ] && ! port_free "$MB_PORT"; then
  MB_PORT=$(free_ports 1)
  log "port 2525 is taken: mountebank's API goes on $MB_PORT"
fi

# ---------------------------------------------------------------- checks
# probe URL EXPECTED-BODY-FILE|404: prints "<status> <bytes> <ok|BAD>[ tapwire-miss]"
probe() {
  local url=$1 want=$2 out hdr
  out=$(curl -sS --max-time 60 -D "$T/probe.head" -o "$T/probe.body" -w '%{http_code} %{size_download}' "$url" 2>"$T/probe.err") ||
    { echo "error: $(head -c 200 "$T/probe.err")"; return 1; }
  hdr=
  grep -qi '^x-tapwire-mock: *miss' "$T/probe.head" && hdr=" tapwire-miss"
  if [ "$want" = 404 ]; then
    case $out in 404\ *) echo "$out ok$hdr" ;; *) echo "$out BAD$hdr" ;; esac
  elif [ "${out%% *}" = 200 ] && cmp -s "$T/probe.body" "$want"; then
    echo "$out ok$hdr"
  else
    echo "$out BAD$hdr"
  fi
}

# ---------------------------------------------------------------- load
# parse_wrk FILE: "req/s p99-ms requests non2xx errors"
parse_wrk() {
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
       /Requests\/sec:/ {rps = $2}
       /^ *99%/ {p99 = ms($2)}
       / requests in / {n = $1}
       /Non-2xx or 3xx responses:/ {bad = $NF}
       /Socket errors:/ {gsub(/,/, ""); err = $4 + $6 + $8 + $10}
       END {print (rps == "" ? "-" : rps), (p99 == "" ? "-" : p99), n + 0, bad + 0, err + 0}' "$1"
}
# parse_hey FILE: "req/s p99-ms ok non-200 errors"
parse_hey() {
  awk '/Requests\/sec:/ {rps = $2}
       /^ *99% in/ {p99 = $3 * 1000}
       /Status code distribution:/ {s = 1; next} /Error distribution:/ {s = 2; next}
       s == 1 && /^[ \t]*\[[0-9]+\]/ { if ($1 == "[200]" || $1 == "[404]") ok += $2; else bad += $2 }
       s == 2 && /^[ \t]*\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); err += $1 }
       END {print (rps == "" ? "-" : rps), (p99 == "" ? "-" : p99), ok + 0, bad + 0, err + 0}' "$1"
}

CASES_ALL="first middle last miss"
cases_for() { if [ "$1" = 1 ]; then echo "first miss"; else echo "$CASES_ALL"; fi; }
path_for() { # size case
  case $2 in
    first) sed -n 1p "$T/in-$1/paths.txt" ;;
    middle) sed -n 2p "$T/in-$1/paths.txt" ;;
    last) sed -n 3p "$T/in-$1/paths.txt" ;;
    miss) echo "/api/v1/items/none" ;;
  esac
}
port_of() { case $1 in tapwire) echo "$TW_PORT" ;; tapwire-1c) echo "$TW1_PORT" ;; mountebank) echo "$MB_IMP_PORT" ;; esac; }
pid_of() { case $1 in tapwire) echo "$TW_PID" ;; tapwire-1c) echo "$TW1_PID" ;; mountebank) echo "$MB_PID" ;; esac; }
# wrk for the one-core target runs on the other core(s), so that the pinned core is tapwire's alone.
wrk_prefix() { [ "$1" = tapwire-1c ] && echo "taskset -c $WRK_CORES"; }

# run_wrk SIZE CASE TARGET ROUND
run_wrk() {
  local n=$1 c=$2 tgt=$3 r=$4 f pid c0 c1 rps p99 reqs bad err cpu_s waited
  f=$T/res/wrk-$n-$c-$tgt-$r.txt
  pid=$(pid_of "$tgt")
  proc_alive "$pid" || { log "$tgt (size $n) is not running: skipped"; return; }
  c0=$(cpu_ticks "$pid")
  timeout -k 5 $((DUR + WRK_TIMEOUT + 30)) $(wrk_prefix "$tgt") wrk -t1 -c"$CONNS" -d"${DUR}s" --timeout "${WRK_TIMEOUT}s" --latency \
    "http://127.0.0.1:$(port_of "$tgt")$(path_for "$n" "$c")" >"$f" 2>&1
  c1=$(cpu_ticks "$pid")
  waited=$(wait_idle "$pid")
  read -r rps p99 reqs bad err < <(parse_wrk "$f")
  # A miss is a 404 by design; a hit must be 200.
  [ "$c" = miss ] && bad=$(calc "$reqs - $bad")
  cpu_s=$(calc "($c1 - $c0) / $CLK_TCK")
  echo "$n $c $tgt $r $rps $p99 $reqs $bad $err $cpu_s $waited" >>"$T/res/wrk.txt"
  log "size $n $c round $r $tgt: $(fmt %.0f "${rps#-}") req/s, p99 $(fmt %.2f "${p99#-}") ms, $reqs requests, unexpected status $bad, errors $err, cpu ${cpu_s}s, idle after ${waited}s"
}

# run_hey SIZE CASE TARGET ROUND: fixed offered rate, p99
run_hey() {
  local n=$1 c=$2 tgt=$3 r=$4 f pid rps p99 ok bad err q
  f=$T/res/hey-$n-$c-$tgt-$r.txt
  pid=$(pid_of "$tgt")
  proc_alive "$pid" || return
  q=$((LAT_RATE / LAT_WORKERS))
  timeout -k 5 $((LAT_DUR + 120)) hey -z "${LAT_DUR}s" -c "$LAT_WORKERS" -q "$q" -t 60 "http://127.0.0.1:$(port_of "$tgt")$(path_for "$n" "$c")" >"$f" 2>&1
  wait_idle "$pid" >/dev/null
  read -r rps p99 ok bad err < <(parse_hey "$f")
  echo "$n $c $tgt $r $rps $p99 $ok $bad $err" >>"$T/res/hey.txt"
  log "size $n $c hey round $r $tgt: $(fmt %.0f "${rps#-}") req/s offered $LAT_RATE, p99 $(fmt %.2f "${p99#-}") ms, non-200/404 $bad, errors $err"
}

# ---------------------------------------------------------------- per size
TW_STATUS_ALL=
for n in $SIZES; do
  log "=== $n recorded endpoint(s)"
  mkdir -p "$T/in-$n"
  SNAP=$(cd "$REPO" && node --import tsx bench/mock-snapshot.ts --store "$T/store-$n" --endpoints "$n" --out "$T/in-$n" 2>"$T/in-$n/gen.err") ||
    die "bench/mock-snapshot.ts failed: $(tail -n 5 "$T/in-$n/gen.err")"
  read -r TW_PORT TW_ADMIN TW1_PORT TW1_ADMIN MB_IMP_PORT < <(free_ports 5)
  [ -n "${MB_IMP_PORT:-}" ] || die "could not find free ports"

  TW_CMD="$TAPWIRE_CMD mock $SNAP --map $TW_PORT=$HOST:80 --out-port 0 --admin-port $TW_ADMIN --ca $T/ca --log-level warn${TAPWIRE_EXTRA_ARGS:+ $TAPWIRE_EXTRA_ARGS}"
  TW1_CMD="taskset -c $ONE_CORE $TAPWIRE_CMD mock $SNAP --map $TW1_PORT=$HOST:80 --out-port 0 --admin-port $TW1_ADMIN --ca $T/ca --log-level warn${TAPWIRE_EXTRA_ARGS:+ $TAPWIRE_EXTRA_ARGS}"
  TARGETS=
  for name in TW TW1; do
    cmdv=${name}_CMD; adminv=${name}_ADMIN
    log "starting: ${!cmdv}"
    t0=$(date +%s.%N)
    start_bg "$T/$name-$n.log" bash -c "cd '$T' && exec ${!cmdv}"
    wrapper=$LAST_PID
    printf -v "${name}_GROUP" '%s' "$wrapper"
    wait_for "$READY_TIMEOUT" "$wrapper" curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:${!adminv}/readyz"
    rc=$?
    st=running
    case $rc in
      1) st="/readyz did not answer 200 within ${READY_TIMEOUT}s" ;;
      2) st="exited during start-up: $(tail -n 3 "$T/$name-$n.log" | tr '\n' ' ')" ;;
    esac
    printf -v "${name}_PID" '%s' "$(node_pid_of "$wrapper")"
    echo "$n $name ready_s $(calc "$(date +%s.%N) - $t0")" >>"$T/res/start.txt"
    printf -v "${name}_STATUS" '%s' "$st"
  done
  [ "$TW_STATUS" = running ] && TARGETS="$TARGETS tapwire"
  [ "$TW1_STATUS" = running ] && TARGETS="$TARGETS tapwire-1c"
  [ "$TW_STATUS" = running ] || log "tapwire (size $n): $TW_STATUS"
  [ "$TW1_STATUS" = running ] || log "tapwire-1c (size $n): $TW1_STATUS"
  [ "$TW1_STATUS" = running ] && echo "$n affinity $(taskset -pc "$TW1_PID" 2>/dev/null | awk -F': ' '{print $2}')" >>"$T/res/start.txt"

  MB_STATUS="not installed"
  MB_PID=
  if [ "$HAVE_MB" = 1 ]; then
    log "starting mountebank (API :$MB_PORT) and POSTing its imposter ($n stubs) on :$MB_IMP_PORT"
    start_bg "$T/mb-$n.log" node "$MB_BIN" start --port "$MB_PORT" --loglevel warn --nologfile --pidfile "$T/mb-$n.pid"
    MB_GROUP=$LAST_PID
    MB_PID=$(node_pid_of "$MB_GROUP")
    if wait_for "$READY_TIMEOUT" "$MB_GROUP" curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$MB_PORT/imposters"; then
      node -e 'const f=require("fs");const j=JSON.parse(f.readFileSync(process.argv[1]));j.port=Number(process.argv[2]);f.writeFileSync(process.argv[3],JSON.stringify(j))' \
        "$T/in-$n/imposter.json" "$MB_IMP_PORT" "$T/in-$n/imposter-port.json"
      t0=$(date +%s.%N)
      code=$(curl -sS --max-time 300 -o "$T/mb-post-$n.txt" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "@$T/in-$n/imposter-port.json" "http://127.0.0.1:$MB_PORT/imposters" 2>&1)
      echo "$n MB ready_s $(calc "$(date +%s.%N) - $t0")" >>"$T/res/start.txt"
      if [ "$code" = 201 ]; then MB_STATUS=running; else MB_STATUS="POST /imposters answered $code: $(head -c 200 "$T/mb-post-$n.txt")"; fi
    else
      MB_STATUS="its API did not answer within ${READY_TIMEOUT}s: $(tail -n 3 "$T/mb-$n.log" | tr '\n' ' ')"
    fi
    [ "$MB_STATUS" = running ] && TARGETS="$TARGETS mountebank" || log "mountebank (size $n): $MB_STATUS"
  fi
  TARGETS=${TARGETS# }

  # Every target answers every case correctly before anything is timed.
  for tgt in $TARGETS; do
    bad=
    for c in $(cases_for "$n"); do
      if [ "$c" = miss ]; then want=404; else want=$T/in-$n/$c.body; fi
      res=$(probe "http://127.0.0.1:$(port_of "$tgt")$(path_for "$n" "$c")" "$want")
      echo "$n $tgt $c $res" >>"$T/res/probes.txt"
      case $res in *" ok"*) ;; *) bad="$bad $c:'$res'" ;; esac
    done
    if [ -n "$bad" ]; then
      log "$tgt (size $n) answered wrongly:$bad: not measured"
      TARGETS=$(echo " $TARGETS " | sed "s/ $tgt / /; s/^ *//; s/ *$//")
      echo "$n $tgt wrong answers:$bad" >>"$T/res/status.txt"
    fi
  done
  echo "$n tapwire $TW_STATUS" >>"$T/res/status.txt"
  echo "$n tapwire-1c $TW1_STATUS" >>"$T/res/status.txt"
  echo "$n mountebank $MB_STATUS" >>"$T/res/status.txt"
  log "size $n targets: ${TARGETS:-none}"

  for tgt in $TARGETS; do
    p=$(pid_of "$tgt")
    echo "$n $tgt idle $(status_kb VmHWM "$p") $(status_kb VmRSS "$p")" >>"$T/res/rss.txt"
  done
  if [ "$WARMUP" -gt 0 ]; then
    for tgt in $TARGETS; do
      $(wrk_prefix "$tgt") wrk -t1 -c"$CONNS" -d"${WARMUP}s" --timeout "${WRK_TIMEOUT}s" "http://127.0.0.1:$(port_of "$tgt")$(path_for "$n" first)" >/dev/null 2>&1
      wait_idle "$(pid_of "$tgt")" >/dev/null
    done
  fi
  for r in $(seq 1 "$ROUNDS"); do
    for c in $(cases_for "$n"); do
      for tgt in $TARGETS; do run_wrk "$n" "$c" "$tgt" "$r"; done
    done
  done
  if [ "$LAT_ROUNDS" -gt 0 ] && [ "$LAT_DUR" -gt 0 ]; then
    for r in $(seq 1 "$LAT_ROUNDS"); do
      for c in $(cases_for "$n"); do
        for tgt in $TARGETS; do [ "$tgt" = tapwire-1c ] || run_hey "$n" "$c" "$tgt" "$r"; done
      done
    done
  fi
  for tgt in $TARGETS; do
    p=$(pid_of "$tgt")
    proc_alive "$p" || { echo "$n $tgt exited during the benchmark" >>"$T/res/status.txt"; continue; }
    echo "$n $tgt end $(status_kb VmHWM "$p") $(status_kb VmRSS "$p")" >>"$T/res/rss.txt"
  done
  # tapwire's own count of what it answered (matched / missed) as a cross-check.
  for name in TW TW1; do
    adminv=${name}_ADMIN
    curl -fsS --max-time 5 "http://127.0.0.1:${!adminv}/metrics" >"$T/res/metrics-$name-$n.txt" 2>/dev/null
  done
  stop_group "${TW_GROUP:-}" TERM 15
  stop_group "${TW1_GROUP:-}" TERM 15
  [ -n "${MB_GROUP:-}" ] && stop_group "$MB_GROUP" TERM 15
  grep -h 'match\|matched\|miss' "$T/TW-$n.log" 2>/dev/null | tail -n 3 | sed "s/^/$n /" >>"$T/res/summary.txt"
  MB_GROUP= TW_GROUP= TW1_GROUP=
done
LOAD_AFTER=$(load_avg)

# ---------------------------------------------------------------- report
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$OUT_DIR/$BENCH-$STAMP.md
CPU_MODEL=$(cpu_model)
WRK_V=$(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}')
HEY_V=$(dpkg-query -W -f '${Version}' hey 2>/dev/null || echo "?")
GIT_REV=$(git_rev)

med() { # file size case target column
  awk -v n="$2" -v c="$3" -v t="$4" -v k="$5" '$1 == n && $2 == c && $3 == t && $k != "-" {print $k}' "$1" 2>/dev/null | median
}
cpu1k() { # size case target: CPU s summed over the rounds / (requests / 1000)
  awk -v n="$1" -v c="$2" -v t="$3" '$1 == n && $2 == c && $3 == t {cpu += $10; req += $7} END {if (req > 0) printf "%.4f", cpu / (req / 1000)}' "$T/res/wrk.txt" 2>/dev/null
}
errs() { # size case target: unexpected statuses + socket errors over the rounds
  awk -v n="$1" -v c="$2" -v t="$3" '$1 == n && $2 == c && $3 == t {b += $8; e += $9; f = 1} END {if (f) print b "+" e; else print "n/a"}' "$T/res/wrk.txt" 2>/dev/null
}
implied() { # CPU s / 1000 req -> req/s one core would serve at that cost
  [ -n "$1" ] && awk -v c="$1" 'BEGIN {if (c > 0) printf "%.0f", 1000 / c}'
}
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1f", a / b}'; }
rss_cell() { # size target: "idle / peak" MB
  awk -v n="$1" -v t="$2" '$1 == n && $2 == t && $3 == "idle" {i = $5} $1 == n && $2 == t && $3 == "end" {h = $4}
    END {if (i == "" && h == "") printf "n/a"; else printf "%.0f / %.0f", i / 1024, h / 1024}' "$T/res/rss.txt" 2>/dev/null
}
start_cell() { awk -v n="$1" -v w="$2" '$1 == n && $2 == w {printf "%.1f", $4}' "$T/res/start.txt" 2>/dev/null; }

# Goals
ONE_MIN= ONE_MIN_AT= FLAT_MIN= FLAT_AT= VS_MIN= VS_MIN_AT=
SMALL=$(echo $SIZES | tr ' ' '\n' | sort -n | head -n1)
LARGE=$(echo $SIZES | tr ' ' '\n' | sort -n | tail -n1)
for n in $SIZES; do
  for c in $(cases_for "$n"); do
    one=$(med "$T/res/wrk.txt" "$n" "$c" tapwire-1c 5)
    if [ "$c" != miss ] && [ -n "$one" ]; then
      if [ -z "$ONE_MIN" ] || awk -v a="$one" -v b="$ONE_MIN" 'BEGIN {exit !(a < b)}'; then ONE_MIN=$one; ONE_MIN_AT="$n endpoints, $c"; fi
    fi
    tw=$(med "$T/res/wrk.txt" "$n" "$c" tapwire 5)
    mbv=$(med "$T/res/wrk.txt" "$n" "$c" mountebank 5)
    v=$(ratio "$tw" "$mbv")
    if [ -n "$v" ] && { [ -z "$VS_MIN" ] || awk -v a="$v" -v b="$VS_MIN" 'BEGIN {exit !(a < b)}'; }; then VS_MIN=$v; VS_MIN_AT="$n endpoints, $c"; fi
  done
done
IMPL_MIN= IMPL_MIN_AT= IMPL_FLAT=
for n in $SIZES; do
  for c in $(cases_for "$n"); do
    [ "$c" = miss ] && continue
    v=$(implied "$(cpu1k "$n" "$c" tapwire-1c)")
    if [ -n "$v" ] && { [ -z "$IMPL_MIN" ] || [ "$v" -lt "$IMPL_MIN" ]; }; then IMPL_MIN=$v; IMPL_MIN_AT="$n endpoints, $c"; fi
  done
done
if [ "$SMALL" != "$LARGE" ]; then
  for c in $CASES_ALL; do
    base_case=$c
    [ "$SMALL" = 1 ] && [ "$c" != miss ] && base_case=first
    a=$(implied "$(cpu1k "$SMALL" "$base_case" tapwire-1c)")
    b=$(implied "$(cpu1k "$LARGE" "$c" tapwire-1c)")
    v=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a > 0 && b != "") printf "%.2f", b / a}')
    if [ -n "$v" ] && { [ -z "$IMPL_FLAT" ] || awk -v a="$v" -v b="$IMPL_FLAT" 'BEGIN {exit !(a < b)}'; }; then IMPL_FLAT=$v; fi
  done
  for c in $CASES_ALL; do
    base_case=$c
    [ "$SMALL" = 1 ] && [ "$c" != miss ] && base_case=first # with 1 endpoint, first = middle = last
    a=$(med "$T/res/wrk.txt" "$SMALL" "$base_case" tapwire-1c 5)
    b=$(med "$T/res/wrk.txt" "$LARGE" "$c" tapwire-1c 5)
    v=$(awk -v a="$a" -v b="$b" 'BEGIN {if (a > 0 && b != "") printf "%.2f", b / a}')
    if [ -n "$v" ] && { [ -z "$FLAT_MIN" ] || awk -v a="$v" -v b="$FLAT_MIN" 'BEGIN {exit !(a < b)}'; }; then FLAT_MIN=$v; FLAT_AT="$c"; fi
  done
fi
# Not lib.sh's verdict: this report has always written a plain FAIL.
verdict_ge() { # value threshold
  [ -n "$1" ] || { echo "not measured"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN {exit !(a >= b)}' && echo PASS || echo FAIL
}
V_ONE=$(verdict_ge "$ONE_MIN" "$GOAL_RPS")
V_FLAT=$(verdict_ge "$FLAT_MIN" "$GOAL_FLAT")
V_VS=$(verdict_ge "$VS_MIN" "$GOAL_VS_MB")

{
  echo "# Mock: tapwire mock vs mountebank as recorded endpoints grow"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: nproc=$NCPU, $CPU_MODEL, kernel $(uname -r); load average before $LOAD_BEFORE, after $LOAD_AFTER. The machine is shared with other jobs: numbers are noisy, compare within one run"
  echo "- versions: node $(node --version), $WRK_V, hey $HEY_V, mountebank $MB_V; tapwire at $GIT_REV"
  echo "- endpoints: N distinct \`GET http://$HOST/api/v1/items/<i>\` (i = 0..N-1, recorded in that order), each answered 200 with its own 1 KiB JSON body (bench/mock-snapshot.ts writes the snapshot and the mountebank imposter); first = item 0, middle = item N/2, last = item N-1, miss = \`/api/v1/items/none\` (the same missed path every request). With 1 endpoint, first = middle = last, so only first and miss are run"
  echo "- tapwire: \`tapwire mock <snapshot> --map <port>=$HOST:80\` (plain HTTP/1.1 listener, default matching; a miss is tapwire's 404 with its JSON explanation, ~1.3 KiB); **tapwire-1c**: the same under \`taskset -c $ONE_CORE\` with wrk under \`taskset -c $WRK_CORES\`"
  echo "- mountebank: \`mb start\` (one fresh process per size), one imposter with one stub per endpoint in recorded order (\`equals: {method: GET, path}\`, \`is: 200\`, \`Connection: keep-alive\` because its default is \`close\`) and a \`defaultResponse\` 404 for the miss; both unpinned"
  echo "- load: \`wrk -t1 -c$CONNS -d${DUR}s --timeout ${WRK_TIMEOUT}s --latency\` (keep-alive HTTP/1.1), per size the cases and targets alternated for $ROUNDS round(s) (case by case: tapwire, tapwire-1c, mountebank), median req/s; ${WARMUP}s warm-up per target and size; after every run the script waits until the target is idle (mountebank keeps working on requests wrk abandoned)"
  echo "- p99 at a fixed rate: \`hey -z ${LAT_DUR}s -c $LAT_WORKERS -q $((LAT_RATE / LAT_WORKERS))\` (offered $LAT_RATE req/s; hey is closed-loop, so a target slower than that gets less, and the achieved rate is shown), $LAT_ROUNDS round(s), unpinned tapwire and mountebank"
  echo "- CPU: utime+stime of the server process (all threads) from /proc/<pid>/stat (CLK_TCK=$CLK_TCK) around each wrk run, summed over the rounds ÷ (wrk's completed requests / 1000); at a few req/s (mountebank, 10 000 stubs) it also holds work on requests wrk gave up on, so it is approximate there"
  echo "- every target was first checked with curl: first/middle/last answer 200 with exactly the recorded body, the miss 404 (tapwire's with \`X-Tapwire-Mock: miss\`)"
  echo
  echo "## Results"
  echo
  echo "req/s (wrk, median of $ROUNDS) and ratios:"
  echo
  echo "| endpoints | case | tapwire | tapwire-1c (one core) | mountebank | tapwire ÷ mountebank | tapwire-1c ÷ mountebank | tapwire-1c CPU-implied req/s per core |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|"
  for n in $SIZES; do
    for c in $(cases_for "$n"); do
      a=$(med "$T/res/wrk.txt" "$n" "$c" tapwire 5)
      b=$(med "$T/res/wrk.txt" "$n" "$c" tapwire-1c 5)
      m=$(med "$T/res/wrk.txt" "$n" "$c" mountebank 5)
      echo "| $n | $c | $(fmt %.0f "$a") | $(fmt %.0f "$b") | $(fmt %.1f "$m") | $(fmt %s× "$(ratio "$a" "$m")") | $(fmt %s× "$(ratio "$b" "$m")") | $(fmt %s "$(implied "$(cpu1k "$n" "$c" tapwire-1c)")") |"
    done
  done
  echo
  echo "Latency p99 (ms) and CPU:"
  echo
  echo "| endpoints | case | wrk p99 saturated: tapwire / 1c / mountebank | hey p99 @ $LAT_RATE req/s offered: tapwire / mountebank (achieved req/s) | CPU s / 1000 req: tapwire / 1c / mountebank | unexpected status + socket errors: tapwire / 1c / mountebank |"
  echo "|---:|---|---:|---:|---:|---:|"
  for n in $SIZES; do
    for c in $(cases_for "$n"); do
      wa=$(med "$T/res/wrk.txt" "$n" "$c" tapwire 6); wb=$(med "$T/res/wrk.txt" "$n" "$c" tapwire-1c 6); wm=$(med "$T/res/wrk.txt" "$n" "$c" mountebank 6)
      ha=$(med "$T/res/hey.txt" "$n" "$c" tapwire 6); hm=$(med "$T/res/hey.txt" "$n" "$c" mountebank 6)
      ra=$(med "$T/res/hey.txt" "$n" "$c" tapwire 5); rm_=$(med "$T/res/hey.txt" "$n" "$c" mountebank 5)
      echo "| $n | $c | $(fmt %.2f "$wa") / $(fmt %.2f "$wb") / $(fmt %.0f "$wm") | $(fmt %.2f "$ha") ($(fmt %.0f "$ra")) / $(fmt %.1f "$hm") ($(fmt %.1f "$rm_")) | $(fmt %.4f "$(cpu1k "$n" "$c" tapwire)") / $(fmt %.4f "$(cpu1k "$n" "$c" tapwire-1c)") / $(fmt %.2f "$(cpu1k "$n" "$c" mountebank)") | $(errs "$n" "$c" tapwire) / $(errs "$n" "$c" tapwire-1c) / $(errs "$n" "$c" mountebank) |"
    done
  done
  echo
  echo "Memory, MB (VmRSS idle after loading / VmHWM peak after all runs) and start-up (s until ready: tapwire /readyz; mountebank the POST of its imposter):"
  echo
  echo "| endpoints | tapwire | tapwire-1c | mountebank | start-up s: tapwire / 1c / mountebank POST |"
  echo "|---:|---:|---:|---:|---:|"
  for n in $SIZES; do
    echo "| $n | $(rss_cell "$n" tapwire) | $(rss_cell "$n" tapwire-1c) | $(rss_cell "$n" mountebank) | $(fmt %s "$(start_cell "$n" TW)") / $(fmt %s "$(start_cell "$n" TW1)") / $(fmt %s "$(start_cell "$n" MB)") |"
  done
  echo
  if grep -qv ' running$' "$T/res/status.txt" 2>/dev/null; then
    echo "Not measured or failing:"
    echo
    grep -v ' running$' "$T/res/status.txt" | sed 's/^/- size /'
    echo
  fi
  echo "The last column is 1000 ÷ (CPU s per 1000 requests) of tapwire-1c: what one core would serve at the measured cost per request if tapwire had it to itself (the machine is shared, so the measured req/s also reflects CPU taken by other jobs). hey prints no p99 when it got very few answers (n/a)."
  echo
  echo "## Goals"
  echo
  echo "| goal | measured | verdict |"
  echo "|---|---:|---|"
  echo "| tapwire ≥ $GOAL_RPS req/s on one core (HTTP/1.1 keep-alive; tapwire-1c, lowest hit median: $ONE_MIN_AT) | $(fmt %.0f "$ONE_MIN") | $V_ONE |"
  echo "| flat as endpoints grow: tapwire-1c at $LARGE endpoints ≥ $(calc "$GOAL_FLAT * 100") % of at $SMALL (lowest over the cases: $FLAT_AT) | $(fmt %s× "$FLAT_MIN") | $V_FLAT |"
  echo "| tapwire ≥ ${GOAL_VS_MB}× mountebank (both unpinned; lowest over sizes and cases: $VS_MIN_AT) | $(fmt %s× "$VS_MIN") | $V_VS |"
  echo
  echo "For information, from CPU cost rather than throughput (robust to other jobs on the machine): tapwire-1c's lowest CPU-implied req/s per core over the hit cases is $(fmt %s "$IMPL_MIN") ($IMPL_MIN_AT); its CPU-implied req/s at $LARGE endpoints is $(fmt %s× "$IMPL_FLAT") that at $SMALL (lowest over the cases; 1.00× = flat)."
  echo
  echo "## Checks"
  echo
  echo "Probes (size, target, case, status, bytes, body check):"
  echo
  echo '```'
  cat "$T/res/probes.txt" 2>/dev/null
  echo '```'
  echo
  echo "tapwire's /metrics after the runs (request counters), and its exit summary:"
  echo
  echo '```'
  for f in "$T"/res/metrics-*.txt; do
    [ -s "$f" ] || continue
    echo "# $(basename "$f" .txt)"
    grep -E '^tapwire_mock_' "$f" | grep -vE '_bucket|_sum\{|_count\{' | head -n 12
  done
  cat "$T/res/summary.txt" 2>/dev/null
  echo '```'
  echo
  echo "## Raw runs"
  echo
  echo "| endpoints | case | target | round | req/s | p99 ms | requests | unexpected status | socket errors | CPU s | idle after s |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  [ -f "$T/res/wrk.txt" ] && while read -r n c t r rps p99 reqs bad err cpu waited; do
    echo "| $n | $c | $t | $r | $(fmt %.1f "${rps#-}") | $(fmt %.2f "${p99#-}") | $reqs | $bad | $err | $cpu | $waited |"
  done <"$T/res/wrk.txt"
  echo
  echo "| endpoints | case | target | hey round | req/s | p99 ms | 200/404 | other | errors |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|"
  [ -f "$T/res/hey.txt" ] && while read -r n c t r rps p99 ok bad err; do
    echo "| $n | $c | $t | $r | $(fmt %.1f "${rps#-}") | $(fmt %.2f "${p99#-}") | $ok | $bad | $err |"
  done <"$T/res/hey.txt"
  echo
  echo "## Commands"
  echo
  echo '```sh'
  echo "DUR=$DUR ROUNDS=$ROUNDS CONNS=$CONNS WARMUP=$WARMUP LAT_DUR=$LAT_DUR LAT_ROUNDS=$LAT_ROUNDS LAT_RATE=$LAT_RATE SIZES=\"$SIZES\" bench/mock-endpoints.sh"
  echo "node --import tsx bench/mock-snapshot.ts --store <tmp>/store-N --endpoints N --out <tmp>/in-N"
  echo "$TAPWIRE_CMD mock <snapshot> --map <port>=$HOST:80 --out-port 0 --admin-port <a> --ca <tmp>/ca --log-level warn${TAPWIRE_EXTRA_ARGS:+ $TAPWIRE_EXTRA_ARGS}" | sed "s#$REPO#<repo>#g"
  echo "taskset -c $ONE_CORE $TAPWIRE_CMD mock <snapshot> --map <port1>=$HOST:80 ...    # tapwire-1c" | sed "s#$REPO#<repo>#g"
  echo "node $MB_BIN start --port $MB_PORT --loglevel warn --nologfile"
  echo "curl -X POST -H 'Content-Type: application/json' --data-binary @imposter.json http://127.0.0.1:$MB_PORT/imposters"
  echo "wrk -t1 -c$CONNS -d${DUR}s --timeout ${WRK_TIMEOUT}s --latency http://127.0.0.1:<port>/api/v1/items/<i|none>"
  echo "taskset -c $WRK_CORES wrk ...                                         # against tapwire-1c"
  echo "hey -z ${LAT_DUR}s -c $LAT_WORKERS -q $((LAT_RATE / LAT_WORKERS)) -t 60 http://127.0.0.1:<port>/api/v1/items/<i|none>"
  echo '```'
} >"$REPORT"

finish_report "$REPORT" "## Checks"

[ -s "$T/res/wrk.txt" ] || die "wrk produced no numbers (see $REPORT)"
if [ "$STRICT" = 1 ]; then
  if [ "$V_ONE" != PASS ] || [ "$V_FLAT" != PASS ] || [ "$V_VS" != PASS ]; then
    log "goals missed or not measured (--strict)"
    exit 3
  fi
fi
exit 0
