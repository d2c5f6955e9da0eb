# bench/lib.sh: shell helpers shared by the benchmark scripts in bench/ (sourced, not run).
#
# Each script sets SCRIPT_DIR, REPO and BENCH (its name: the RESULTS.md marks, messages and the
# report file use it) and then sources this file. What differs between the scripts is passed in
# as arguments or set as variables before the call, e.g. USAGE_LINES, RESULTS_FORMAT.
# shellcheck shell=bash

# The script that sourced this file: --help prints its header comment.
BENCH_SCRIPT=${BASH_SOURCE[1]}

# Settings every benchmark takes (see bench/README.md).
TAPWIRE_CMD_SET=${TAPWIRE_CMD:+1} # set: measure that command as given, without building dist/
TAPWIRE_CMD=${TAPWIRE_CMD:-node $REPO/bin/tapwire.js}
TAPWIRE_EXTRA_ARGS=${TAPWIRE_EXTRA_ARGS:-}
OUT_DIR=${OUT_DIR:-$SCRIPT_DIR/out}
RESULTS_FILE=${RESULTS_FILE:-$SCRIPT_DIR/RESULTS.md}
KEEP_TMP=${KEEP_TMP:-0}

# nginx and friends live in sbin, which is not on every user's PATH.
PATH=$PATH:/usr/sbin:/sbin

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- arguments
# usage: prints lines $USAGE_LINES (sed range, e.g. 2,15) of the script, the comment markers
# removed. The range is given per script so that --help stays exactly what it was.
usage() { sed -n "${USAGE_LINES}p" "$BENCH_SCRIPT" | sed 's/^# \{0,1\}//'; }

# parse_args ARGS...: the flags every benchmark takes; sets WRITE_RESULTS, STRICT, RESULTS_FROM.
# A script with flags of its own defines bench_extra_arg ARG (returning 1 for an unknown ARG)
# first. With --results-from it only updates RESULTS.md from that report and exits.
parse_args() {
  WRITE_RESULTS=0
  STRICT=0
  RESULTS_FROM=
  while [ $# -gt 0 ]; do
    case $1 in
      --write-results) WRITE_RESULTS=1 ;;
      --strict) STRICT=1 ;;
      --results-from) shift; RESULTS_FROM=${1:-} ;;
      --results-from=*) RESULTS_FROM=${1#*=} ;;
      -h | --help) usage; exit 0 ;;
      *)
        if ! { declare -F bench_extra_arg >/dev/null && bench_extra_arg "$1"; }; then
          echo "$BENCH: unknown argument: $1 (try --help)" >&2
          exit 2
        fi
        ;;
    esac
    shift
  done
  if [ -n "$RESULTS_FROM" ]; then
    update_results "$RESULTS_FROM"
    exit 0
  fi
}

require_whole_numbers() { # VAR...: exits 2 unless each variable holds a whole number
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$BENCH: $v must be a whole number (got '${!v}')" >&2; exit 2; }
  done
}

# ---------------------------------------------------------------- RESULTS.md section update
# update_results REPORT.md: replaces (or appends) only this benchmark's section in $RESULTS_FILE,
# the part between <!-- $BENCH:begin --> and <!-- $BENCH:end -->.
# RESULTS_FORMAT=prettier (the default) puts blank lines inside the marks and formats the section
# with the repo's prettier when installed, since RESULTS.md is checked by prettier (npm run lint);
# RESULTS_FORMAT=raw writes the report as it is.
update_results() {
  local report=$1 section tmp begin="<!-- $BENCH:begin -->" end="<!-- $BENCH:end -->"
  local pretty=1
  [ "${RESULTS_FORMAT:-prettier}" = raw ] && pretty=0
  [ -s "$report" ] || die "no report at $report"
  section=$(mktemp)
  {
    echo "$begin"
    [ "$pretty" = 1 ] && echo
    # Demote headings one level so the report nests under RESULTS.md's title.
    sed -e 's/^#/##/' "$report"
    [ "$pretty" = 1 ] && echo
    echo "$end"
  } >"$section"
  if [ "$pretty" = 1 ] && [ -x "$REPO/node_modules/.bin/prettier" ]; then
    tmp=$(mktemp)
    if "$REPO/node_modules/.bin/prettier" --stdin-filepath "$RESULTS_FILE" <"$section" >"$tmp" 2>/dev/null; then
      cat "$tmp" >"$section"
    fi
    rm -f "$tmp"
  fi
  if [ ! -f "$RESULTS_FILE" ]; then
    printf '# Benchmark results\n\nEach section is written by its script in `bench/` (see bench/README.md).\n\n' >"$RESULTS_FILE"
  fi
  tmp=$(mktemp)
  if grep -qF "$begin" "$RESULTS_FILE" && grep -qF "$end" "$RESULTS_FILE"; then
    awk -v b="$begin" -v e="$end" -v f="$section" '
      $0 == b { while ((getline l < f) > 0) print l; skip = 1; next }
      $0 == e { skip = 0; next }
      !skip { print }' "$RESULTS_FILE" >"$tmp"
  else
    { cat "$RESULTS_FILE"; echo; cat "$section"; } >"$tmp"
  fi
  cat "$tmp" >"$RESULTS_FILE"
  rm -f "$tmp" "$section"
  log "updated section '$BENCH' in $RESULTS_FILE"
}

# finish_report REPORT NEXT_HEADING: prints the report from "## Results" up to (not including)
# NEXT_HEADING, its path, and writes it into RESULTS.md with --write-results.
finish_report() {
  echo
  sed -n "/^## Results/,/^$2/p" "$1" | sed '$d'
  echo "report: $1"
  if [ "$WRITE_RESULTS" = 1 ]; then update_results "$1"; fi
}

# ---------------------------------------------------------------- tools
missing_tools() { # TOOL...: prints those not on PATH, space separated
  local t m=
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || m="$m $t"; done
  echo "${m# }"
}

# wait_tools SECONDS TOOL...: prints the tools still missing after waiting up to SECONDS for
# them (a fresh machine may still be installing them).
wait_tools() {
  local limit=$1 missing deadline
  shift
  missing=$(missing_tools "$@")
  if [ -n "$missing" ]; then
    log "waiting up to ${limit}s for: $missing"
    deadline=$((SECONDS + limit))
    while [ -n "$missing" ] && [ $SECONDS -lt $deadline ]; do
      sleep 5
      missing=$(missing_tools "$@")
    done
  fi
  echo "$missing"
}

require_tools() { # [--hint TEXT] TOOL...: dies at the first missing tool (TEXT after its name)
  local hint= t
  if [ "${1:-}" = --hint ]; then hint=" $2"; shift 2; fi
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t$hint"
  done
}

# ---------------------------------------------------------------- processes and cleanup
# init_run TMP_PREFIX STOP_SECONDS: makes the work folder $T and installs the traps that, on any
# exit, stop every process group started with start_bg (SIGTERM, SIGKILL after STOP_SECONDS)
# and remove $T (kept with KEEP_TMP=1).
init_run() {
  T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || die "mktemp -d failed"
  STOP_SECONDS=$2
  GROUPS_STARTED=() # process-group ids of everything we started (each via setsid)
  trap cleanup EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM
}

cleanup() {
  local rc=$? g
  trap - EXIT INT TERM
  # SIGTERM, never SIGINT: tapwire closes its snapshot on either, and SIGTERM is what a
  # supervisor sends.
  for g in "${GROUPS_STARTED[@]}"; do stop_group "$g" TERM "$STOP_SECONDS"; done
  if [ "$KEEP_TMP" = 1 ]; then log "kept work folder $T"; else rm -rf "$T"; fi
  exit $rc
}

proc_alive() { # pid: running and not a zombie
  local st
  [ -r "/proc/$1/stat" ] || return 1
  st=$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

group_alive() { # pgid: any live process in the group
  local p
  for p in $(pgrep -g "$1" 2>/dev/null); do proc_alive "$p" && return 0; done
  proc_alive "$1"
}

stop_group() { # pgid signal timeout-seconds: signal the group, wait (bounded), then SIGKILL
  local g=$1 sig=$2 limit=$(($3 * 10)) i=0
  [ -n "$g" ] || return 0
  group_alive "$g" || return 0
  kill -"$sig" -- -"$g" 2>/dev/null || kill -"$sig" "$g" 2>/dev/null
  while group_alive "$g" && [ $i -lt $limit ]; do sleep 0.1; i=$((i + 1)); done
  if group_alive "$g"; then
    kill -KILL -- -"$g" 2>/dev/null
    kill -KILL "$g" 2>/dev/null
  fi
  return 0
}

# start_bg LOG CMD...: runs CMD in its own session (so the group can be stopped as one), in the
# background, owned by this script; sets LAST_PID (= the pid of CMD itself: setsid execs).
start_bg() {
  local logf=$1
  shift
  setsid "$@" >"$logf" 2>&1 </dev/null &
  LAST_PID=$!
  GROUPS_STARTED+=("$LAST_PID")
}

descendants() { # pid: all descendants, breadth first (bounded depth)
  local level=$1 next c depth=0
  while [ -n "$level" ] && [ $depth -lt 8 ]; do
    next=
    for c in $level; do next="$next $(pgrep -P "$c" 2>/dev/null | tr '\n' ' ')"; done
    next=$(echo $next)
    [ -n "$next" ] && echo "$next"
    level=$next
    depth=$((depth + 1))
  done | tr ' ' '\n' | grep -v '^$'
}

# node_pid_of PID: the pid to measure must be node itself, not a wrapper (npx, sh): PID when it
# is node, else its deepest node descendant (else PID).
node_pid_of() {
  local p=$1 d
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = node ] && { echo "$p"; return; }
  for d in $(descendants "$1"); do [ "$(cat "/proc/$d/comm" 2>/dev/null)" = node ] && p=$d; done
  echo "$p"
}

cpu_ticks() { # pid...: utime+stime summed (whole thread groups, worker threads included)
  local p sum=0 v
  for p in "$@"; do
    v=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || continue
    [ -n "$v" ] && sum=$((sum + v))
  done
  echo "$sum"
}

status_kb() { # field pid...: sum of a /proc/<pid>/status field (kB), e.g. VmRSS, VmHWM
  local f=$1 p sum=0 v
  shift
  for p in "$@"; do
    v=$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null)
    [ -n "$v" ] && sum=$((sum + v))
  done
  echo "$sum"
}

free_ports() { # n: n distinct free TCP ports on 127.0.0.1
  node -e '
    const net = require("node:net");
    const n = Number(process.argv[1]);
    const servers = [];
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => {
        servers.push(s);
        if (servers.length === n) {
          console.log(servers.map((x) => x.address().port).join(" "));
          for (const x of servers) x.close();
        }
      });
    }' "$1"
}

wait_for() { # seconds pid CMD...: runs CMD every 0.2 s until it succeeds, while pid lives
  local limit=$(($1 * 5)) pid=$2 i=0
  shift 2
  while [ $i -lt "$limit" ]; do
    proc_alive "$pid" || return 2
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}

# ---------------------------------------------------------------- numbers and report lines
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
fmt() { # printf-format value: "n/a" when empty
  if [ -z "$2" ]; then echo "n/a"; else LC_ALL=C printf "$1" "$2"; fi
}
calc() { LC_ALL=C awk "BEGIN {print $1}"; }
mb() { [ -n "${1:-}" ] && [ "$1" != 0 ] && calc "$1 / 1024"; } # kB -> MB; nothing for 0 or ""

verdict() { # value op goal: PASS, **FAIL** or "not measured"
  [ -z "$1" ] && { echo "not measured"; return; }
  if LC_ALL=C awk "BEGIN {exit !($1 $2 $3)}"; then echo PASS; else echo "**FAIL**"; fi
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
cpu_model() { awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo; }
git_rev() { # the commit measured, flagged when the working tree differs from it
  local rev
  rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo "no commit")
  [ -n "$(git -C "$REPO" status --porcelain 2>/dev/null | head -n1)" ] && rev="$rev (working tree modified)"
  echo "$rev"
}
