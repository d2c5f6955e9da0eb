#!/usr/bin/env bash
# bench/tls-intercept.sh: TLS interception benchmark (issue 3).
#
# One TLS origin (nginx, 1 KiB file, http/1.1 + h2 on one port, cert for `localhost` from a
# throwaway origin CA) measured on one machine in one run, targets alternated, medians reported:
#   keep-alive   hey -c CONNS -z DUR over TLS: direct vs `tapwire record --proxy-type forward`
#                (CONNECT, TLS intercepted with tapwire's CA) vs mitmdump (its own CA)
#   handshakes   the same three with hey -disable-keepalive: each request a new CONNECT + TLS
#   http/2       h2load -n H2_N -c 10 -m 10: direct vs `tapwire record --proxy-type reverse
#                --app https://localhost:<nginx> --tls-in-cert/--tls-in-key` (h2 by ALPN)
# plus CPU s / 1000 requests and RSS of tapwire and mitmproxy, tapwire's capture counters,
# the leaf issuance time (bench/tls-leaf.ts when it exists) and the goals with verdicts.
#
# Usage: bench/tls-intercept.sh [--write-results] [--strict]
#        bench/tls-intercept.sh --results-from bench/out/tls-intercept-<ts>.md
# Environment: DUR (10) ROUNDS (3) CONNS (50) H2_N (20000) ...: see bench/README.md.
set -u -o pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
BENCH=tls-intercept
USAGE_LINES=2,16       # the header comment, printed by --help
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh" # log, die, arguments, RESULTS.md, processes, numbers; sets TAPWIRE_CMD, OUT_DIR, ...

DUR=${DUR:-10}                        # seconds per hey run
ROUNDS=${ROUNDS:-3}                   # alternating rounds per phase
CONNS=${CONNS:-50}                    # hey workers (= connections with keep-alive)
WARMUP=${WARMUP:-2}                   # seconds of keep-alive warm-up per target (0 = none)
H2_N=${H2_N:-20000}                   # h2load requests (streams) per run
H2_CONNS=${H2_CONNS:-10}              # h2load -c
H2_STREAMS=${H2_STREAMS:-10}          # h2load -m (concurrent streams per connection)
H2_TIMEOUT=${H2_TIMEOUT:-300}         # seconds before an h2load run is given up
READY_TIMEOUT=${READY_TIMEOUT:-20}    # seconds to wait for tapwire's /readyz and mitmdump
WAIT_TOOLS=${WAIT_TOOLS:-300}         # seconds to wait for tools (mitmproxy may still be installing)

GOAL_VS_MITM=20     # tapwire keep-alive TLS req/s >= 20 x mitmproxy's
GOAL_LEAF_MS=2      # a leaf for a new host <= 2 ms once the first one was issued

parse_args "$@"

require_whole_numbers DUR ROUNDS CONNS WARMUP H2_N H2_CONNS H2_STREAMS H2_TIMEOUT READY_TIMEOUT WAIT_TOOLS
[ "$DUR" -ge 1 ] && [ "$ROUNDS" -ge 1 ] && [ "$CONNS" -ge 1 ] && [ "$H2_N" -ge 1 ] ||
  { echo "$BENCH: DUR, ROUNDS, CONNS and H2_N must be >= 1" >&2; exit 2; }

# ---------------------------------------------------------------- tools
missing=$(wait_tools "$WAIT_TOOLS" nginx hey h2load openssl curl mitmdump)
# mitmproxy is a comparison peer: without it the tapwire rows are still measured.
HAVE_MITM=1
case " $missing " in *" mitmdump "*) HAVE_MITM=0; missing=$(echo " $missing " | sed 's/ mitmdump / /; s/^ *//; s/ *$//') ;; esac
if [ -n "$missing" ]; then
  echo "$BENCH: missing tools: $missing" >&2
  echo "  install them with: apt-get install nginx-light hey nghttp2-client openssl curl mitmproxy" >&2
  exit 1
fi
[ "$HAVE_MITM" = 1 ] || log "mitmdump not found: the mitmproxy rows are skipped (apt-get install mitmproxy)"
require_tools node getconf awk setsid timeout pgrep sha256sum
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- processes and cleanup
init_run tapwire-tls-bench 15

# ---------------------------------------------------------------- certificates
LOAD_BEFORE=$(load_avg)
log "work folder: $T"
mkdir -p "$T/www" "$T/res" "$T/pki" "$T/nginx" "$T/mitm" "$T/mitm-home" "$OUT_DIR"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$T/www/1k.bin" # 1 KiB, printable, not constant
BODY_SHA=$(sha256sum <"$T/www/1k.bin" | cut -d' ' -f1)

# A throwaway origin CA and a leaf for `localhost` (and 127.0.0.1), both ECDSA P-256 like
# tapwire's own CA, so that every TLS leg in the comparison costs about the same.
make_origin_pki() {
  local d=$T/pki
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=tapwire bench origin CA" -keyout "$d/origin-ca.key" -out "$d/origin-ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$d/localhost.key" -out "$d/localhost.csr" &&
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
      'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' >"$d/leaf.ext" &&
    openssl x509 -req -in "$d/localhost.csr" -CA "$d/origin-ca.pem" -CAkey "$d/origin-ca.key" \
      -CAcreateserial -days 2 -extfile "$d/leaf.ext" -out "$d/localhost.pem" &&
    openssl verify -CAfile "$d/origin-ca.pem" "$d/localhost.pem"
}
make_origin_pki >"$T/pki/openssl.log" 2>&1 || { cat "$T/pki/openssl.log" >&2; die "openssl could not make the origin CA"; }
ORIGIN_CA=$T/pki/origin-ca.pem
LEAF_CERT=$T/pki/localhost.pem
LEAF_KEY=$T/pki/localhost.key

read -r NGINX_PORT TWF_PORT TWF_ADMIN TWR_PORT TWR_ADMIN MITM_PORT < <(free_ports 6)
[ -n "${MITM_PORT:-}" ] || die "could not find free ports"
log "ports: nginx=$NGINX_PORT tapwire-forward=$TWF_PORT (admin $TWF_ADMIN) tapwire-reverse=$TWR_PORT (admin $TWR_ADMIN) mitmproxy=$MITM_PORT"
URL=https://localhost:$NGINX_PORT/1k.bin

# ---------------------------------------------------------------- TLS origin (nginx)
# worker_connections is high because connections a proxy fails to close (seen with tapwire's
# intercepted tunnels) stay open against the origin and would otherwise starve every target.
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log warn;
events { worker_connections 16000; }
http {
  access_log off;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path $T/nginx/client_body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2;
    ssl_certificate $LEAF_CERT;
    ssl_certificate_key $LEAF_KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    location / { root $T/www; }
  }
}
EOF

# tls_probe URL CAFILE [curl args...]: prints "<status> <bytes> <http version> <body ok|BAD>".
tls_probe() {
  local url=$1 ca=$2 out
  shift 2
  out=$(curl -sS --max-time 10 --cacert "$ca" -o "$T/probe.body" -w '%{http_code} %{size_download} %{http_version}' "$@" "$url" 2>"$T/probe.err") ||
    { echo "error: $(head -c 300 "$T/probe.err")"; return 1; }
  if [ "$(sha256sum <"$T/probe.body" | cut -d' ' -f1)" = "$BODY_SHA" ]; then echo "$out body-ok"; else echo "$out body-BAD"; fi
}

nginx -t -q -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" >"$T/nginx/test.log" 2>&1 ||
  { cat "$T/nginx/test.log" >&2; die "nginx config is invalid"; }
start_bg "$T/nginx/stdout.log" nginx -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf"
NGINX_PID=$LAST_PID
wait_for 10 "$NGINX_PID" curl -fsS -o /dev/null --max-time 1 --cacert "$ORIGIN_CA" "$URL" ||
  { cat "$T/nginx/error.log" >&2; die "nginx did not start"; }
PROBE_DIRECT=$(tls_probe "$URL" "$ORIGIN_CA")
PROBE_DIRECT_H2=$(tls_probe "$URL" "$ORIGIN_CA" --http2)
case $PROBE_DIRECT in "200 1024 "*body-ok) ;; *) die "nginx answered '$PROBE_DIRECT'" ;; esac
NGINX_PIDS="$NGINX_PID $(descendants "$NGINX_PID" | tr '\n' ' ')"
log "nginx (TLS origin) pids: $NGINX_PIDS; probe: $PROBE_DIRECT / $PROBE_DIRECT_H2"

# ---------------------------------------------------------------- tapwire (forward + reverse)
# Measure what users run: the compiled dist/ (bin/tapwire.js falls back to the TypeScript
# sources through tsx when dist/ is older than src/, which costs memory and start-up time).
if [ -z "${TAPWIRE_CMD_SET:-}" ] && [ -f "$REPO/scripts/build.mjs" ]; then
  log "building dist/ (npm run build)"
  (cd "$REPO" && timeout -k 5 180 node scripts/build.mjs >/dev/null) || log "build failed: tapwire runs from sources"
fi

TW_CA=$T/tapwire-ca
(cd "$T" && timeout -k 5 60 $TAPWIRE_CMD certs init --ca "$TW_CA") >"$T/certs-init.log" 2>&1 ||
  log "tapwire certs init failed: $(tail -n 3 "$T/certs-init.log")"
TW_CA_PEM=$TW_CA/ca.pem

TWF_CMD="$TAPWIRE_CMD record --proxy-type forward --ca $TW_CA --upstream-ca $ORIGIN_CA --in-port 0 --out-port $TWF_PORT --admin-port $TWF_ADMIN --store $T/store-forward --log-level warn${TAPWIRE_EXTRA_ARGS:+ $TAPWIRE_EXTRA_ARGS}"
TWR_CMD="$TAPWIRE_CMD record --proxy-type reverse --app https://localhost:$NGINX_PORT --tls-in-cert $LEAF_CERT --tls-in-key $LEAF_KEY --upstream-ca $ORIGIN_CA --ca $TW_CA --in-port $TWR_PORT --out-port 0 --admin-port $TWR_ADMIN --store $T/store-reverse --log-level warn${TAPWIRE_EXTRA_ARGS:+ $TAPWIRE_EXTRA_ARGS}"

# start_tapwire NAME CMD ADMIN_PORT: sets <NAME>_PID (node) and <NAME>_STATUS (running or a reason).
start_tapwire() {
  local name=$1 cmd=$2 admin=$3 wrapper rc
  log "starting $name: $cmd"
  # `exec` keeps the pid: the pid we hold is node's own when TAPWIRE_CMD starts node.
  start_bg "$T/$name.log" bash -c "cd '$T' && exec $cmd"
  wrapper=$LAST_PID
  printf -v "${name}_GROUP" '%s' "$wrapper"
  wait_for "$READY_TIMEOUT" "$wrapper" curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$admin/readyz"
  rc=$?
  case $rc in
    0) printf -v "${name}_PID" '%s' "$(node_pid_of "$wrapper")"; printf -v "${name}_STATUS" running ;;
    1) printf -v "${name}_STATUS" '%s' "/readyz did not answer 200 within ${READY_TIMEOUT}s" ;;
    *) printf -v "${name}_STATUS" '%s' "the process exited during start-up" ;;
  esac
}
TWF_PID= TWR_PID= TWF_GROUP= TWR_GROUP=
start_tapwire TWF "$TWF_CMD" "$TWF_ADMIN"
start_tapwire TWR "$TWR_CMD" "$TWR_ADMIN"

# ---------------------------------------------------------------- mitmproxy
MITM_STATUS="not installed"
MITM_PID=
MITM_CA=$T/mitm/mitmproxy-ca-cert.pem
MITM_CMD="mitmdump -q --listen-host 127.0.0.1 --listen-port $MITM_PORT --set confdir=$T/mitm --set ssl_verify_upstream_trusted_ca=$ORIGIN_CA"
if [ "$HAVE_MITM" = 1 ]; then
  log "starting mitmproxy: $MITM_CMD"
  # A private HOME and confdir: mitmproxy makes its CA there, never in the real ~/.mitmproxy.
  start_bg "$T/mitm.log" env HOME="$T/mitm-home" $MITM_CMD
  MITM_PID=$LAST_PID
  if wait_for "$READY_TIMEOUT" "$MITM_PID" test -s "$MITM_CA" &&
    wait_for "$READY_TIMEOUT" "$MITM_PID" curl -fsS -o /dev/null --max-time 2 -x "http://127.0.0.1:$MITM_PORT" --cacert "$MITM_CA" "$URL"; then
    MITM_STATUS=running
  else
    MITM_STATUS="did not answer within ${READY_TIMEOUT}s"
  fi
fi

# ---------------------------------------------------------------- correctness checks
# Every target must answer 200 with the right body, verified against the CA a client would use,
# before anything is timed.
PROBES=0 # requests sent through the forward tapwire outside hey (counted against its captures)
if [ "$TWF_STATUS" = running ]; then
  PROBE_TWF=$(tls_probe "$URL" "$TW_CA_PEM" -x "http://127.0.0.1:$TWF_PORT")
  PROBE_TWF_H2=$(tls_probe "$URL" "$TW_CA_PEM" -x "http://127.0.0.1:$TWF_PORT" --http2)
  PROBES=2
  case $PROBE_TWF in "200 1024 "*body-ok) ;; *) TWF_STATUS="probe through it answered '$PROBE_TWF'" ;; esac
fi
if [ "$TWR_STATUS" = running ]; then
  PROBE_TWR=$(tls_probe "https://localhost:$TWR_PORT/1k.bin" "$ORIGIN_CA" --http2)
  case $PROBE_TWR in "200 1024 2 body-ok") ;; *) TWR_STATUS="h2 probe answered '$PROBE_TWR' (expected '200 1024 2 body-ok')" ;; esac
fi
if [ "$MITM_STATUS" = running ]; then
  PROBE_MITM=$(tls_probe "$URL" "$MITM_CA" -x "http://127.0.0.1:$MITM_PORT")
  case $PROBE_MITM in "200 1024 "*body-ok) ;; *) MITM_STATUS="probe through it answered '$PROBE_MITM'" ;; esac
fi
log "probes: direct '$PROBE_DIRECT', tapwire-forward '${PROBE_TWF:-}' / h2 '${PROBE_TWF_H2:-}', tapwire-reverse h2 '${PROBE_TWR:-}', mitmproxy '${PROBE_MITM:-}'"
for n in TWF TWR; do
  s=${n}_STATUS
  if [ "${!s}" != running ]; then
    log "$n: not available (${!s}); its log:"
    tail -n 15 "$T/$n.log" 2>/dev/null | sed 's/^/    /' >&2
  fi
done
[ "$MITM_STATUS" = running ] || [ "$HAVE_MITM" = 0 ] || { log "mitmproxy: $MITM_STATUS"; tail -n 15 "$T/mitm.log" >&2; }

TARGETS=direct
[ "$TWF_STATUS" = running ] && TARGETS="$TARGETS tapwire"
[ "$MITM_STATUS" = running ] && TARGETS="$TARGETS mitmproxy"
H2_TARGETS=direct
[ "$TWR_STATUS" = running ] && H2_TARGETS="$H2_TARGETS tapwire"

# Each target's process whose CPU and memory are charged to it (direct: nginx's own cost).
pids_of() {
  case $1 in
    direct) echo "$NGINX_PIDS" ;;
    tapwire) echo "$TWF_PID" ;;
    mitmproxy) echo "$MITM_PID" ;;
    tapwire-reverse) echo "$TWR_PID" ;;
  esac
}
CA_OF_direct=$ORIGIN_CA; CA_OF_tapwire=$TW_CA_PEM; CA_OF_mitmproxy=$MITM_CA
proxy_args() { # target: hey's proxy flag
  case $1 in
    tapwire) echo "-x http://127.0.0.1:$TWF_PORT" ;;
    mitmproxy) echo "-x http://127.0.0.1:$MITM_PORT" ;;
  esac
}

# RSS along the way (kB), to see growth: "label name hwm rss" lines.
snap_rss() {
  local label=$1 n p
  for n in tapwire mitmproxy tapwire-reverse; do
    p=$(pids_of "$n")
    [ -n "$p" ] && proc_alive "$p" && echo "$label $n $(status_kb VmHWM $p) $(status_kb VmRSS $p)" >>"$T/res/rss.txt"
  done
}
snap_rss idle

# ---------------------------------------------------------------- hey (keep-alive and handshakes)
# hey's quirks, both handled here:
#  - it never verifies certificates (its transport sets InsecureSkipVerify), so the CA each
#    target needs is checked by the curl probes above; SSL_CERT_FILE is set anyway;
#  - without -host it puts "host:port" in the TLS server name (SNI); -host localhost makes
#    the SNI plain `localhost` for all three targets (see the "SNI with a port" check below).
HEY_BASE="hey -host localhost -c $CONNS -z ${DUR}s"

# parse_hey FILE: "req/s ok non200 errors"
parse_hey() {
  awk '/Requests\/sec:/ {rps = $2}
       /Status code distribution:/ {s = 1; next} /Error distribution:/ {s = 2; next}
       s == 1 && /^[ \t]*\[[0-9]+\]/ { if ($1 == "[200]") ok += $2; else bad += $2 }
       s == 2 && /^[ \t]*\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); err += $1 }
       END {print (rps == "" ? "-" : rps), ok + 0, bad + 0, err + 0}' "$1"
}

# tapwire_counters: "connections http_captured client_rejected" of the forward tapwire so far
# (its /metrics); "-" for each when it does not answer.
tapwire_counters() {
  curl -fsS --max-time 5 "http://127.0.0.1:$TWF_ADMIN/metrics" 2>/dev/null |
    awk '/^tapwire_connections_total\{listener="outbound"\}/ {c = $NF; f = 1}
         /^tapwire_exchanges_captured_total\{.*protocol="http"/ {h += $NF}
         /^tapwire_errors_total\{kind="tls_client_rejected"\}/ {j += $NF}
         END {if (f) print c, h + 0, j + 0; else print "- - -"}'
}

# A client that drops a connection during the TLS handshake (hey does when -z runs out, Go
# when it cancels a spare dial) counts for tapwire as a client refusing its certificate, and
# the host then passes through untouched (no decryption, no http exchanges) for the rest of
# the process's life. A pass-through run would measure a TCP splice, not interception, so
# before each tapwire run a forward tapwire that has learned a pass-through host is replaced
# by a fresh one (same ports, same CA), and each run's http captures are checked afterwards.
TWF_RESTARTS=0
TWF_PREV_HWM=0 # the highest VmHWM of the replaced instances (kB)
ensure_intercepting() {
  local c h j
  read -r c h j < <(tapwire_counters)
  [ "$j" = - ] || [ "$j" = 0 ] && return 0
  log "tapwire (forward) switched a host to pass-through (tls_client_rejected=$j): restarting it"
  TWF_RESTARTS=$((TWF_RESTARTS + 1))
  local hwm
  hwm=$(status_kb VmHWM "$TWF_PID")
  [ "${hwm:-0}" -gt "$TWF_PREV_HWM" ] && TWF_PREV_HWM=$hwm
  grep -h 'refused\|pass' "$T/TWF.log" 2>/dev/null | tail -n 2 >>"$T/res/passthrough-notes.txt"
  stop_group "$TWF_GROUP" TERM 15
  mv "$T/TWF.log" "$T/TWF-$TWF_RESTARTS.log" 2>/dev/null
  start_tapwire TWF "$TWF_CMD" "$TWF_ADMIN"
  if [ "$TWF_STATUS" = running ]; then
    PROBE_TWF_AGAIN=$(tls_probe "$URL" "$TW_CA_PEM" -x "http://127.0.0.1:$TWF_PORT")
    PROBES=$((PROBES + 1))
  fi
}

# run_hey PHASE ROUND TARGET [hey flags...]: one timed run, CPU of the target's process around
# it and, for tapwire, how many connections hey opened (Go dials an extra connection for a
# request that finds no idle one, so slow handshakes mean more connections than workers).
# hey.txt columns: phase round target req/s 200s non-200 errors cpu-s, then for tapwire:
# connections, http exchanges captured, hosts refused (all deltas over the run) and whether the
# run was intercepted throughout (1: captures >= 98 % of answers and no refusal; 0: not); "-"
# for the other targets.
run_hey() {
  local phase=$1 r=$2 tgt=$3 f pids c0 c1 ca rps ok bad err cpu_s
  local k0=- h0=- j0=- k1=- h1=- j1=- conns=- captured=- rejected=- valid=- note=
  shift 3
  f=$T/res/hey-$phase-$tgt-$r.txt
  if [ "$tgt" = tapwire ]; then
    ensure_intercepting
    [ "$TWF_STATUS" = running ] || { log "tapwire (forward) is gone: $TWF_STATUS"; return; }
    read -r k0 h0 j0 < <(tapwire_counters)
  fi
  pids=$(pids_of "$tgt")
  ca=CA_OF_$tgt
  c0=$(cpu_ticks $pids)
  SSL_CERT_FILE=${!ca} timeout -k 5 $((DUR + 60)) $HEY_BASE "$@" $(proxy_args "$tgt") "$URL" >"$f" 2>&1
  c1=$(cpu_ticks $pids)
  read -r rps ok bad err < <(parse_hey "$f")
  if [ "$tgt" = tapwire ]; then
    # Exchanges are counted when written, a little after the answer: wait (3 s at most) for
    # the count to reach the answers hey got.
    local i=0
    read -r k1 h1 j1 < <(tapwire_counters)
    while [ "$h1" != - ] && [ "$h0" != - ] && [ $((h1 - h0)) -lt $((ok + bad)) ] && [ $i -lt 15 ]; do
      sleep 0.2
      i=$((i + 1))
      read -r k1 h1 j1 < <(tapwire_counters)
    done
    if [ "$k0" != - ] && [ "$k1" != - ]; then
      conns=$((k1 - k0)); captured=$((h1 - h0)); rejected=$((j1 - j0))
      valid=0
      [ $((captured * 100)) -ge $(((ok + bad) * 98)) ] && [ "$rejected" = 0 ] && valid=1
      note=", $conns connections, $captured captured, $rejected refused$([ "$valid" = 0 ] && echo ' [NOT INTERCEPTED THROUGHOUT: excluded]')"
    fi
  fi
  cpu_s=$(calc "($c1 - $c0) / $CLK_TCK")
  echo "$phase $r $tgt $rps $ok $bad $err $cpu_s $conns $captured $rejected $valid" >>"$T/res/hey.txt"
  log "$phase round $r $tgt: $(fmt %.1f "${rps#-}") req/s, 200s $ok, non-200 $bad, errors $err, cpu ${cpu_s}s$note"
}

alive_check() { # drops a proxy from the targets when it died
  if [ "$TWF_STATUS" = running ] && ! proc_alive "$TWF_PID"; then
    TWF_STATUS="exited during the benchmark"; TARGETS=${TARGETS/ tapwire/}; log "tapwire (forward) died"
  fi
  if [ "$MITM_STATUS" = running ] && ! proc_alive "$MITM_PID"; then
    MITM_STATUS="exited during the benchmark"; TARGETS=${TARGETS/ mitmproxy/}; log "mitmproxy died"
  fi
  if [ "$TWR_STATUS" = running ] && ! proc_alive "$TWR_PID"; then
    TWR_STATUS="exited during the benchmark"; H2_TARGETS=direct; log "tapwire (reverse) died"
  fi
}

if [ "$WARMUP" -gt 0 ]; then
  for tgt in $TARGETS; do
    log "warm-up $tgt (${WARMUP}s keep-alive)"
    ca=CA_OF_$tgt
    SSL_CERT_FILE=${!ca} timeout -k 5 $((WARMUP + 60)) hey -host localhost -c "$CONNS" -z "${WARMUP}s" $(proxy_args "$tgt") "$URL" >"$T/res/warmup-$tgt.txt" 2>&1
  done
fi

for r in $(seq 1 "$ROUNDS"); do
  for tgt in $TARGETS; do alive_check; case " $TARGETS " in *" $tgt "*) run_hey keepalive "$r" "$tgt" ;; esac; done
done
snap_rss after-keepalive
for r in $(seq 1 "$ROUNDS"); do
  for tgt in $TARGETS; do alive_check; case " $TARGETS " in *" $tgt "*) run_hey handshake "$r" "$tgt" -disable-keepalive ;; esac; done
done
snap_rss after-handshakes

# ---------------------------------------------------------------- HTTP/2 (h2load)
H2_CMD="h2load -n $H2_N -c $H2_CONNS -m $H2_STREAMS"
h2_url() { case $1 in direct) echo "$URL" ;; tapwire) echo "https://localhost:$TWR_PORT/1k.bin" ;; esac; }
h2_pids() { case $1 in direct) echo "$NGINX_PIDS" ;; tapwire) echo "$TWR_PID" ;; esac; }
for r in $(seq 1 "$ROUNDS"); do
  for tgt in $H2_TARGETS; do
    alive_check
    case " $H2_TARGETS " in *" $tgt "*) ;; *) continue ;; esac
    f=$T/res/h2-$tgt-$r.txt
    pids=$(h2_pids "$tgt")
    c0=$(cpu_ticks $pids)
    # h2load does not verify certificates either; the curl --http2 probe above did.
    timeout -k 5 "$H2_TIMEOUT" $H2_CMD "$(h2_url "$tgt")" >"$f" 2>&1
    c1=$(cpu_ticks $pids)
    read -r rps ok failed errored s2xx proto < <(awk '
      /^finished in/ {rps = $4}
      /^requests:/ {ok = $8; failed = $10; errored = $12}
      /^status codes:/ {s2xx = $3}
      /^Application protocol:/ {proto = $3}
      END {print (rps == "" ? "-" : rps), ok + 0, failed + 0, errored + 0, s2xx + 0, (proto == "" ? "-" : proto)}' "$f")
    cpu_s=$(calc "($c1 - $c0) / $CLK_TCK")
    echo "$r $tgt $rps $ok $failed $errored $s2xx $proto $cpu_s" >>"$T/res/h2.txt"
    log "h2 round $r $tgt: $(fmt %.0f "${rps#-}") streams/s, succeeded $ok, failed $failed, 2xx $s2xx, ALPN $proto, cpu ${cpu_s}s"
  done
done
snap_rss after-h2
alive_check

# ---------------------------------------------------------------- tapwire counters
metrics_of() { # admin-port file: saves /metrics, prints the capture/error series
  if curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" >"$2" 2>/dev/null; then
    grep -E '^tapwire_(exchanges_(captured|dropped)_total|errors_total|(connections_total|open_connections)\{listener="(outbound|inbound)"\})' "$2"
  else
    echo "(GET /metrics failed)"
  fi
}
series_sum() { # file regex: sum of the matching series
  awk -v re="$2" '$0 ~ re {n += $NF; f = 1} END {if (f) print n}' "$1" 2>/dev/null
}
TWF_METRICS=; TWR_METRICS=
# Every client has gone by now: connections tapwire still holds open (its gauge, its file
# descriptors, and its TCP connections to the origin) are leaks. 3 s for closes to settle.
sleep 3
fd_count() { [ -n "$1" ] && ls "/proc/$1/fd" 2>/dev/null | wc -l; }
origin_conns() { # pid: established TCP connections from that process to the origin
  ss -tanp "( dport = :$NGINX_PORT )" 2>/dev/null | grep -c "pid=$1,"
}
TWF_FDS=$(fd_count "$TWF_PID"); TWR_FDS=$(fd_count "$TWR_PID")
TWF_ORIGIN_CONNS=$( [ -n "$TWF_PID" ] && origin_conns "$TWF_PID")
TWR_ORIGIN_CONNS=$( [ -n "$TWR_PID" ] && origin_conns "$TWR_PID")
[ -n "$TWF_PID" ] && proc_alive "$TWF_PID" && TWF_METRICS=$(metrics_of "$TWF_ADMIN" "$T/metrics-forward.txt")
[ -n "$TWR_PID" ] && proc_alive "$TWR_PID" && TWR_METRICS=$(metrics_of "$TWR_ADMIN" "$T/metrics-reverse.txt")
TWF_CAPTURED_HTTP=$(series_sum "$T/metrics-forward.txt" '^tapwire_exchanges_captured_total.*protocol="http')
TWR_CAPTURED_HTTP=$(series_sum "$T/metrics-reverse.txt" '^tapwire_exchanges_captured_total.*protocol="http')
TWF_OPEN=$(series_sum "$T/metrics-forward.txt" '^tapwire_open_connections.*listener="outbound"')
TWR_OPEN=$(series_sum "$T/metrics-reverse.txt" '^tapwire_open_connections.*listener="inbound"')
TWF_DROPPED=$(series_sum "$T/metrics-forward.txt" '^tapwire_exchanges_dropped_total')
TWR_DROPPED=$(series_sum "$T/metrics-reverse.txt" '^tapwire_exchanges_dropped_total')
# Requests sent through each tapwire: every answer hey got (warm-up included) plus the probes.
hey_answers() { # target: 200s + non-200s over every hey run against it
  { [ -f "$T/res/warmup-$1.txt" ] && parse_hey "$T/res/warmup-$1.txt" | awk '{print $2 + $3}'
    awk -v t="$1" '$3 == t {n += $5 + $6} END {print n + 0}' "$T/res/hey.txt" 2>/dev/null; } | awk '{n += $1} END {print n + 0}'
}
TWF_SENT=$(( $(hey_answers tapwire) + PROBES ))
TWR_SENT=$(( $(awk '$2 == "tapwire" {n += $4 + $5} END {print n + 0}' "$T/res/h2.txt" 2>/dev/null) + 1 ))

# ---------------------------------------------------------------- known issue check: SNI with a port
# hey without -host sends SNI "localhost:<port>"; mitmproxy still verifies the origin, tapwire
# (at the time of writing) checks the origin's certificate against that name and answers 502.
SNI_PORT_CHECK="not run"
if [ "$TWF_STATUS" = running ]; then
  SSL_CERT_FILE=$TW_CA_PEM timeout -k 5 60 hey -n 3 -c 1 -x "http://127.0.0.1:$TWF_PORT" "$URL" >"$T/res/sni-port.txt" 2>&1
  SNI_PORT_CHECK="tapwire: $(awk '/^[ \t]*\[[0-9]+\][ \t]+[0-9]+ responses/ {printf "%s%s %s", (n++ ? ", " : ""), $1, $2}' "$T/res/sni-port.txt")"
fi
if [ "$MITM_STATUS" = running ]; then
  SSL_CERT_FILE=$MITM_CA timeout -k 5 60 hey -n 3 -c 1 -x "http://127.0.0.1:$MITM_PORT" "$URL" >"$T/res/sni-port-mitm.txt" 2>&1
  SNI_PORT_CHECK="$SNI_PORT_CHECK; mitmproxy: $(awk '/^[ \t]*\[[0-9]+\][ \t]+[0-9]+ responses/ {printf "%s%s %s", (n++ ? ", " : ""), $1, $2}' "$T/res/sni-port-mitm.txt")"
fi
# What tapwire says in its 502 (an SNI with a port, as hey sends it, through openssl).
SNI_PORT_502=
if [ "$TWF_STATUS" = running ]; then
  SNI_PORT_502=$( (printf 'GET /1k.bin HTTP/1.1\r\nHost: localhost:%s\r\nConnection: close\r\n\r\n' "$NGINX_PORT"; sleep 2) |
    timeout 15 openssl s_client -quiet -proxy "127.0.0.1:$TWF_PORT" -connect "localhost:$NGINX_PORT" \
      -servername "localhost:$NGINX_PORT" -CAfile "$TW_CA_PEM" 2>/dev/null | tr -d '\r' | grep -E '^(HTTP/|X-Tapwire-Error|tapwire:)' | head -n 3)
fi

# ---------------------------------------------------------------- memory, then stop (SIGTERM)
final_mem() { # pid: "hwm_kb rss_kb"
  [ -n "$1" ] && proc_alive "$1" && echo "$(status_kb VmHWM "$1") $(status_kb VmRSS "$1")"
}
read -r TWF_HWM TWF_RSS < <(final_mem "$TWF_PID"; echo)
read -r TWR_HWM TWR_RSS < <(final_mem "$TWR_PID"; echo)
read -r MITM_HWM MITM_RSS < <(final_mem "$MITM_PID"; echo)
read -r NGINX_HWM NGINX_RSS < <(echo "$(status_kb VmHWM $NGINX_PIDS) $(status_kb VmRSS $NGINX_PIDS)")

stop_tapwire() { # NAME: SIGTERM (tapwire closes its snapshot), prints its summary line
  local g=${1}_GROUP
  [ -n "${!g}" ] || return 0
  stop_group "${!g}" TERM 15
  grep -E '^tapwire: recorded' "$T/$1.log" | tail -n 1
}
log "stopping tapwire (SIGTERM, up to 15 s each)"
TWF_SUMMARY=$(stop_tapwire TWF)
TWR_SUMMARY=$(stop_tapwire TWR)
[ -n "$MITM_PID" ] && stop_group "$MITM_PID" TERM 10

# ---------------------------------------------------------------- leaf issuance (bench/tls-leaf.ts)
LEAF_STATUS="bench/tls-leaf.ts does not exist (yet)"
LEAF_OUT=
LEAF_MS=
LEAF_LINE=
if [ -f "$SCRIPT_DIR/tls-leaf.ts" ]; then
  log "running bench/tls-leaf.ts (leaf issuance)"
  LEAF_OUT=$(cd "$REPO" && timeout -k 5 300 node --import tsx bench/tls-leaf.ts 2>&1)
  rc=$?
  LEAF_STATUS="exit code $rc"
  # The figure to judge: a leaf for a NEW host once the first one was issued. Taken from a
  # line that names it ("new host", "next", "after the first", "warm" or "subsequent") and ms.
  leaf_line=$(echo "$LEAF_OUT" | grep -iE 'new host|next|after the first|subsequent|warm' | grep -iE '[0-9] ?ms' | grep -i median | head -n1)
  [ -n "$leaf_line" ] || leaf_line=$(echo "$LEAF_OUT" | grep -iE 'new host|next|after the first|subsequent|warm' | grep -iE '[0-9] ?ms' | head -n1)
  LEAF_MS=$(echo "$leaf_line" | grep -oE 'median [0-9]+(\.[0-9]+)?' | head -n1 | grep -oE '[0-9]+(\.[0-9]+)?')
  [ -n "$LEAF_MS" ] || LEAF_MS=$(echo "$leaf_line" | grep -oE '[0-9]+(\.[0-9]+)? ?ms' | tail -n1 | grep -oE '[0-9]+(\.[0-9]+)?')
  LEAF_LINE=$leaf_line
fi

# ---------------------------------------------------------------- aggregate
# Only runs that count: every run of direct and mitmproxy, tapwire's intercepted runs (col 12 = 1).
hey_col() { awk -v p="$1" -v t="$2" -v c="$3" '$1 == p && $3 == t && $12 != "0" && $c != "-" {print $c}' "$T/res/hey.txt" 2>/dev/null; }
hey_sum() { awk -v p="$1" -v t="$2" -v c="$3" '$1 == p && $3 == t && $12 != "0" {n += $c; f = 1} END {if (f) print n}' "$T/res/hey.txt" 2>/dev/null; }
hey_runs() { awk -v p="$1" -v t="$2" '$1 == p && $3 == t {n++; if ($12 != "0") k++} END {printf "%d/%d", k, n}' "$T/res/hey.txt" 2>/dev/null; }
h2_col() { awk -v t="$1" -v c="$2" '$2 == t && $c != "-" {print $c}' "$T/res/h2.txt" 2>/dev/null; }
h2_sum() { awk -v t="$1" -v c="$2" '$2 == t {n += $c; f = 1} END {if (f) print n}' "$T/res/h2.txt" 2>/dev/null; }
per_1k() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && calc "$1 / ($2 / 1000)"; }
ratio() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" != 0 ] && calc "$1 / $2"; }

declare -A RPS CPU1K NON200 ERRS
for p in keepalive handshake; do
  for t in direct tapwire mitmproxy; do
    RPS[$p,$t]=$(hey_col "$p" "$t" 4 | median)
    CPU1K[$p,$t]=$(per_1k "$(hey_sum "$p" "$t" 8)" "$(hey_sum "$p" "$t" 5)")
    NON200[$p,$t]=$(hey_sum "$p" "$t" 6)
    ERRS[$p,$t]=$(hey_sum "$p" "$t" 7)
  done
done
declare -A H2RPS H2CPU1K H2FAIL H2PROTO
for t in direct tapwire; do
  H2RPS[$t]=$(h2_col "$t" 3 | median)
  H2CPU1K[$t]=$(per_1k "$(h2_sum "$t" 9)" "$(h2_sum "$t" 4)")
  H2FAIL[$t]=$(awk -v t="$t" '$2 == t {n += $5 + $6 + ($4 - $7)} END {if (NR) print n + 0}' "$T/res/h2.txt" 2>/dev/null)
  H2PROTO[$t]=$(h2_col "$t" 8 | sort -u | tr '\n' ' ' | sed 's/ $//')
done

VS_MITM=$(ratio "${RPS[keepalive,tapwire]}" "${RPS[keepalive,mitmproxy]}")
V_VS_MITM=$(verdict "$VS_MITM" '>=' "$GOAL_VS_MITM")
V_LEAF=$(verdict "$LEAF_MS" '<=' "$GOAL_LEAF_MS")
HS_VS_MITM=$(ratio "${RPS[handshake,tapwire]}" "${RPS[handshake,mitmproxy]}")
H2_PCT=$(ratio "${H2RPS[tapwire]}" "${H2RPS[direct]}")
[ -n "$H2_PCT" ] && H2_PCT=$(calc "100 * $H2_PCT")

# ---------------------------------------------------------------- report
LOAD_AFTER=$(load_avg)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
REPORT=$OUT_DIR/$BENCH-$STAMP.md
CPU_MODEL=$(cpu_model)
NGINX_V=$(nginx -v 2>&1 | sed 's/^nginx version: //')
HEY_V=$(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo unknown)
H2LOAD_V=$(h2load --version 2>&1 | head -n1)
MITM_V=$( [ "$HAVE_MITM" = 1 ] && mitmdump --version 2>/dev/null | awk -F': *' '/^Mitmproxy/ {print $2}')
OPENSSL_V=$(openssl version | awk '{print $2}')
GIT_REV=$(git_rev)

hey_row() { # phase target label
  local p=$1 t=$2 vs_direct vs_mitm
  vs_direct=$(ratio "${RPS[$p,$t]}" "${RPS[$p,direct]}")
  vs_mitm=$(ratio "${RPS[$p,$t]}" "${RPS[$p,mitmproxy]}")
  [ -n "$vs_direct" ] && vs_direct=$(calc "100 * $vs_direct")
  if [ -z "${RPS[$p,$t]}" ]; then
    echo "| $3 | not measured | | | | | $(hey_runs "$p" "$t") |"
  else
    echo "| $3 | $(fmt %.1f "${RPS[$p,$t]}") | $(fmt %.1f%% "$vs_direct") | $(fmt %.2f× "$vs_mitm") | $(fmt %.3f "${CPU1K[$p,$t]}") | ${NON200[$p,$t]:-0} / ${ERRS[$p,$t]:-0} | $(hey_runs "$p" "$t") |"
  fi
}
rss_cell() { # label target: "hwm / rss" MB at that point
  awk -v l="$1" -v t="$2" '$1 == l && $2 == t {printf "%.1f / %.1f", $3 / 1024, $4 / 1024; f = 1} END {if (!f) printf "n/a"}' "$T/res/rss.txt" 2>/dev/null
}
status_line() { # name status
  [ "$2" = running ] && return
  echo "- $1: not measured: $2"
}

{
  echo "# TLS interception: direct vs tapwire record vs mitmproxy"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); machine: nproc=$(nproc), $CPU_MODEL, kernel $(uname -r); load average before $LOAD_BEFORE, after $LOAD_AFTER (shared machines are noisy: compare within one run)"
  echo "- versions: node $(node --version), $NGINX_V, OpenSSL $OPENSSL_V, hey $HEY_V, $H2LOAD_V, mitmproxy ${MITM_V:-n/a}; tapwire at $GIT_REV"
  echo "- origin: nginx (1 worker) serving a 1 KiB file over TLS 1.2/1.3, http/1.1 and h2 on one port, ECDSA P-256 certificate for \`localhost\` from a throwaway origin CA; all traffic on 127.0.0.1"
  echo "- tapwire (forward): \`record --proxy-type forward\` with its own CA (\`certs init --ca <tmp>\`) and \`--upstream-ca <origin CA>\`: each CONNECT is intercepted (leaf per host) and the origin verified; recording on"
  echo "- mitmproxy: \`mitmdump -q\` with its own CA in a private confdir, verifying the origin with \`ssl_verify_upstream_trusted_ca\`"
  echo "- hey: \`$HEY_BASE [-disable-keepalive] [-x http://127.0.0.1:<proxy>] $URL\`, targets alternated (${TARGETS// / → }) for $ROUNDS round(s) per phase, median req/s; ${WARMUP}s keep-alive warm-up per target. hey does not verify certificates (InsecureSkipVerify): every target was first checked with \`curl --cacert <its CA>\` for 200 and the exact body"
  echo "- h2: \`$H2_CMD\`, direct vs tapwire reverse (\`--tls-in-cert\` = the origin's leaf), alternated, median streams/s"
  echo "- CPU: utime+stime of the proxy process (all threads) from /proc/<pid>/stat (CLK_TCK=$CLK_TCK) around each run, summed ÷ (200 answers / 1000); the direct rows show nginx's own cost"
  echo
  echo "## Results"
  echo
  echo "TLS keep-alive (\`hey -c $CONNS\`, one TLS session per connection, many requests each):"
  echo
  echo "| target | req/s (median) | % of direct | × mitmproxy | CPU s / 1000 req | non-200 / errors | runs counted |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  hey_row keepalive direct direct
  hey_row keepalive tapwire "tapwire record (forward, CONNECT)"
  hey_row keepalive mitmproxy "mitmproxy (mitmdump)"
  echo
  echo "New TLS handshakes (\`hey -c $CONNS -disable-keepalive\`: every request a new connection; through a proxy a new CONNECT and two handshakes):"
  echo
  echo "| target | handshakes/s (median) | % of direct | × mitmproxy | CPU s / 1000 req | non-200 / errors | runs counted |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  hey_row handshake direct direct
  hey_row handshake tapwire "tapwire record (forward, CONNECT)"
  hey_row handshake mitmproxy "mitmproxy (mitmdump)"
  echo
  echo "HTTP/2 (\`$H2_CMD\`):"
  echo
  echo "| target | streams/s (median) | % of direct | CPU s / 1000 streams | failed | ALPN |"
  echo "|---|---:|---:|---:|---:|---|"
  echo "| direct | $(fmt %.0f "${H2RPS[direct]}") | 100% | $(fmt %.3f "${H2CPU1K[direct]}") | ${H2FAIL[direct]:-n/a} | ${H2PROTO[direct]:-n/a} |"
  if [ -n "${H2RPS[tapwire]}" ]; then
    echo "| tapwire record (reverse, TLS in and out) | $(fmt %.0f "${H2RPS[tapwire]}") | $(fmt %.1f%% "$H2_PCT") | $(fmt %.3f "${H2CPU1K[tapwire]}") | ${H2FAIL[tapwire]:-n/a} | ${H2PROTO[tapwire]:-n/a} |"
  else
    echo "| tapwire record (reverse) | not measured | | | | |"
  fi
  echo
  echo "Memory, MB (VmHWM peak / VmRSS now) after each phase:"
  echo
  echo "| process | idle | after keep-alive | after handshakes | after h2 |"
  echo "|---|---:|---:|---:|---:|"
  echo "| tapwire (forward) | $(rss_cell idle tapwire) | $(rss_cell after-keepalive tapwire) | $(rss_cell after-handshakes tapwire) | $(rss_cell after-h2 tapwire) |"
  echo "| tapwire (reverse) | $(rss_cell idle tapwire-reverse) | $(rss_cell after-keepalive tapwire-reverse) | $(rss_cell after-handshakes tapwire-reverse) | $(rss_cell after-h2 tapwire-reverse) |"
  echo "| mitmproxy | $(rss_cell idle mitmproxy) | $(rss_cell after-keepalive mitmproxy) | $(rss_cell after-handshakes mitmproxy) | $(rss_cell after-h2 mitmproxy) |"
  echo "| nginx (origin, master + worker) | | | | $(fmt %.1f "$(mb "$NGINX_HWM")") / $(fmt %.1f "$(mb "$NGINX_RSS")") |"
  echo
  if [ "$TWF_RESTARTS" -gt 0 ]; then
    echo "tapwire (forward) was restarted $TWF_RESTARTS time(s) between runs because it had switched \`localhost\` to pass-through (see Recording); its memory row shows the last instance, whose peak, with the replaced instances' highest peak ($(fmt %.1f "$(mb "$TWF_PREV_HWM")") MB), is the tapwire RSS to compare."
    echo
  fi
  status_line "tapwire (forward)" "$TWF_STATUS"
  status_line "tapwire (reverse)" "$TWR_STATUS"
  status_line "mitmproxy" "$MITM_STATUS"
  echo
  echo "## Goals"
  echo
  echo "| goal | measured | verdict |"
  echo "|---|---:|---|"
  echo "| tapwire keep-alive TLS req/s >= ${GOAL_VS_MITM}× mitmproxy's | $(fmt %.2f× "$VS_MITM") | $V_VS_MITM |"
  echo "| a leaf for a new host <= $GOAL_LEAF_MS ms after the first (bench/tls-leaf.ts: \`$(echo "$LEAF_LINE" | tr -s ' ' | sed 's/^ //')\`) | $(fmt '%.3f ms' "$LEAF_MS") | $V_LEAF |"
  echo
  echo "For information: new handshakes/s, tapwire ÷ mitmproxy $(fmt %.2f× "$HS_VS_MITM"); h2 streams/s through tapwire $(fmt %.1f%% "$H2_PCT") of direct."
  echo
  echo "## Recording (tapwire's /metrics, read after all runs)"
  echo
  echo "- forward, timed runs: $(awk '$3 == "tapwire" {n += $5 + $6} END {print n + 0}' "$T/res/hey.txt" 2>/dev/null) answers, $(awk '$3 == "tapwire" && $10 != "-" {n += $10} END {print n + 0}' "$T/res/hey.txt" 2>/dev/null) http exchanges captured (per-run deltas of /metrics); runs intercepted throughout (captured >= 98 % of answers, no host refused): keep-alive $(hey_runs keepalive tapwire), handshakes $(hey_runs handshake tapwire); restarts after a switch to pass-through: $TWF_RESTARTS"
  if [ -s "$T/res/passthrough-notes.txt" ]; then
    echo "- what tapwire logged when it switched: \`$(tail -n 1 "$T/res/passthrough-notes.txt" | cut -c1-400)\`"
  fi
  if [ "$TWF_RESTARTS" = 0 ]; then
    echo "- forward: requests sent through it $TWF_SENT (every hey answer, warm-up included, + $PROBES curl probes); http exchanges captured $(fmt %.0f "$TWF_CAPTURED_HTTP"); dropped $(fmt %.0f "$TWF_DROPPED")"
  else
    echo "- forward, last instance only (restarted): http exchanges captured $(fmt %.0f "$TWF_CAPTURED_HTTP"); dropped $(fmt %.0f "$TWF_DROPPED")"
  fi
  echo "- reverse: h2 streams sent $TWR_SENT (h2load succeeded + failed, + 1 probe); http exchanges captured $(fmt %.0f "$TWR_CAPTURED_HTTP"); dropped $(fmt %.0f "$TWR_DROPPED")"
  echo "- after all clients had left (+3 s): forward holds $(fmt %.0f "$TWF_OPEN") open client connection(s) (tapwire_open_connections), ${TWF_ORIGIN_CONNS:-?} TCP connection(s) to the origin, ${TWF_FDS:-?} file descriptors; reverse $(fmt %.0f "$TWR_OPEN"), ${TWR_ORIGIN_CONNS:-?}, ${TWR_FDS:-?} (all should be about 0, 0 and ~40)"
  echo "- on SIGTERM: forward \`${TWF_SUMMARY:-(no summary line)}\`; reverse \`${TWR_SUMMARY:-(no summary line)}\`"
  echo
  echo '```'
  echo "# forward"
  echo "${TWF_METRICS:-(not read)}"
  echo "# reverse"
  echo "${TWR_METRICS:-(not read)}"
  echo '```'
  echo
  echo "## Leaf issuance (bench/tls-leaf.ts)"
  echo
  if [ -n "$LEAF_OUT" ]; then
    echo "\`node --import tsx bench/tls-leaf.ts\` ($LEAF_STATUS):"
    echo
    echo '```'
    echo "$LEAF_OUT" | tail -n 30
    echo '```'
  else
    echo "$LEAF_STATUS."
  fi
  echo
  echo "## Checks"
  echo
  echo "- curl probes (status, bytes, HTTP version, body): direct \`$PROBE_DIRECT\` (h2 \`$PROBE_DIRECT_H2\`); tapwire forward \`${PROBE_TWF:-n/a}\` (h2 \`${PROBE_TWF_H2:-n/a}\`); tapwire reverse h2 \`${PROBE_TWR:-n/a}\`; mitmproxy \`${PROBE_MITM:-n/a}\`"
  echo "- SNI with a port (hey without \`-host\` sends the server name \`localhost:$NGINX_PORT\`): $SNI_PORT_CHECK"
  if [ -n "$SNI_PORT_502" ]; then
    echo
    echo '```'
    echo "$SNI_PORT_502"
    echo '```'
  fi
  echo
  echo "## Raw runs"
  echo
  echo "| phase | round | target | req/s | 200s | non-200 | errors | CPU s | connections | captured | hosts refused | intercepted |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  [ -f "$T/res/hey.txt" ] && while read -r p r t rps ok bad err cpu conns cap rej valid; do
    case $valid in 1) valid=yes ;; 0) valid="**no** (excluded)" ;; *) valid= ;; esac
    echo "| $p | $r | $t | $(fmt %.1f "${rps#-}") | $ok | $bad | $err | $(fmt %.2f "$cpu") | ${conns/-/} | ${cap/-/} | ${rej/-/} | $valid |"
  done <"$T/res/hey.txt"
  echo
  echo "| h2 round | target | streams/s | succeeded | failed | errored | 2xx | ALPN | CPU s |"
  echo "|---:|---|---:|---:|---:|---:|---:|---|---:|"
  [ -f "$T/res/h2.txt" ] && while read -r r t rps ok failed errored s2xx proto cpu; do
    echo "| $r | $t | $(fmt %.0f "${rps#-}") | $ok | $failed | $errored | $s2xx | $proto | $(fmt %.2f "$cpu") |"
  done <"$T/res/h2.txt"
  echo
  echo "## Commands"
  echo
  echo '```sh'
  echo "DUR=$DUR ROUNDS=$ROUNDS CONNS=$CONNS WARMUP=$WARMUP H2_N=$H2_N H2_CONNS=$H2_CONNS H2_STREAMS=$H2_STREAMS bench/tls-intercept.sh"
  echo "# origin CA + leaf: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 ... (see make_origin_pki in the script)"
  echo "nginx -p <tmp>/nginx -c <tmp>/nginx/nginx.conf        # TLS origin :$NGINX_PORT"
  echo "$TAPWIRE_CMD certs init --ca <tmp>/tapwire-ca" | sed "s#$REPO#<repo>#g"
  echo "${TWF_CMD//$T/<tmp>}" | sed "s#$REPO#<repo>#g"
  echo "${TWR_CMD//$T/<tmp>}" | sed "s#$REPO#<repo>#g"
  echo "HOME=<tmp>/mitm-home ${MITM_CMD//$T/<tmp>}"
  echo "SSL_CERT_FILE=<tmp>/pki/origin-ca.pem $HEY_BASE $URL                       # direct"
  echo "SSL_CERT_FILE=<tmp>/tapwire-ca/ca.pem $HEY_BASE -x http://127.0.0.1:$TWF_PORT $URL   # tapwire"
  echo "SSL_CERT_FILE=<tmp>/mitm/mitmproxy-ca-cert.pem $HEY_BASE -x http://127.0.0.1:$MITM_PORT $URL   # mitmproxy"
  echo "# handshakes: the same three with -disable-keepalive"
  echo "$H2_CMD $URL                    # h2 direct"
  echo "$H2_CMD https://localhost:$TWR_PORT/1k.bin   # h2 through tapwire reverse"
  [ -f "$SCRIPT_DIR/tls-leaf.ts" ] && echo "node --import tsx bench/tls-leaf.ts"
  echo '```'
  echo
  echo "<details><summary>nginx configuration</summary>"
  echo
  echo '```nginx'
  sed "s#$T#<tmp>#g" "$T/nginx/nginx.conf"
  echo '```'
  echo
  echo "</details>"
} >"$REPORT"

finish_report "$REPORT" "## Recording"

[ -n "${RPS[keepalive,direct]}" ] || die "hey produced no numbers for direct (see $REPORT)"
if [ "$STRICT" = 1 ]; then
  if [ "$TWF_STATUS" != running ] || [ "$V_VS_MITM" != PASS ] || [ "$V_LEAF" != PASS ]; then
    log "goals missed or tapwire not measured (--strict)"
    exit 3
  fi
fi
exit 0
