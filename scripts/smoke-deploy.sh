#!/usr/bin/env bash
# Deployment smoke test of the course setup, all on loopback:
#
#   rtcctl call/doctor --wss--> nginx 127.0.0.1:8098 (TLS, self-signed, /ws, default 60 s
#   proxy_read_timeout) --ws--> rtcctl serve 127.0.0.1:8099;  coturn 127.0.0.1:3478 (static user)
#
# 1. a 75 s relay-only call passes (the keepalive keeps the websocket alive past 60 s);
# 2. the same call with --keepalive 0 loses its websocket at ~60 s and the report names the
#    proxy idle timeout;
# 3. `rtcctl doctor` is all green;
# 4. one fault at a time, doctor names it: wrong TURN password, coturn stopped, nginx
#    without the Upgrade/Connection headers, expired certificate;
# 5. `rtcctl doctor --idle 70s` names nginx's 60 s proxy_read_timeout (signal-idle-cut) and
#    sees the keepalive socket survive (skipped with SMOKE_SKIP_LONG=1).
#
# Everything started here is stopped on exit, also on failure or Ctrl-C.
# Environment: RTCCTL (binary, default bin/rtcctl, built if missing), SMOKE_CALL_SECONDS
# (default 75), SMOKE_SKIP_LONG=1 skips the long steps (1, 2 and 5).
set -euo pipefail

cd "$(dirname "$0")/.."
RTCCTL=${RTCCTL:-bin/rtcctl}
CALL_SECONDS=${SMOKE_CALL_SECONDS:-75}
NGINX_PORT=8098
SERVE_PORT=8099
TURN_PORT=3478
TURN_USER=u
TURN_PASS=p

WORK=$(mktemp -d /tmp/rtcctl-smoke.XXXXXX)
NGINX_PID="" COTURN_PID="" SERVE_PID=""
FAILED=0

log() { printf '\n== %s\n' "$*" >&2; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  FAILED=1
}

cleanup() {
  local code=$?
  # Only the processes this script started and has not stopped yet.
  for pid in $SERVE_PID $COTURN_PID $NGINX_PID; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $SERVE_PID $COTURN_PID $NGINX_PID; do
    wait "$pid" 2>/dev/null || true
  done
  if [ "$code" -ne 0 ] || [ "$FAILED" -ne 0 ]; then
    for f in "$WORK"/*.log; do
      [ -f "$f" ] || continue
      printf '\n--- %s (last 30 lines)\n' "$f" >&2
      tail -n 30 "$f" >&2 || true
    done
  fi
  rm -rf "$WORK"
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() { command -v "$1" >/dev/null 2>&1 || { echo "smoke-deploy: $1 not found (run scripts/deps.sh)" >&2; exit 3; }; }
need nginx
need turnserver
need openssl
need ss

# Fixed ports (the course's): refuse to run rather than collide with something else.
for p in $NGINX_PORT $SERVE_PORT; do
  if [ -n "$(ss -Hltn "sport = :$p")" ]; then
    echo "smoke-deploy: TCP port $p is in use on this machine; stop what uses it (ss -ltnp 'sport = :$p')" >&2
    exit 3
  fi
done
if [ -n "$(ss -Hlun "sport = :$TURN_PORT")$(ss -Hltn "sport = :$TURN_PORT")" ]; then
  echo "smoke-deploy: port $TURN_PORT is in use (another TURN server?); stop it first" >&2
  exit 3
fi

if [ ! -x "$RTCCTL" ]; then
  log "building $RTCCTL"
  go build -o "$RTCCTL" ./cmd/rtcctl
fi

# ---- certificates ----------------------------------------------------------------------
# A valid self-signed certificate for 127.0.0.1/localhost, and an expired one (openssl ca
# with explicit dates: `req -x509` cannot make a certificate in the past).
mkcert() { # dir startdate enddate
  local d=$1
  mkdir -p "$d"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/key.pem" \
    -out "$d/req.csr" -subj /CN=localhost 2>/dev/null
  : >"$d/index.txt"
  echo 01 >"$d/serial"
  cat >"$d/ca.cnf" <<EOF
[ ca ]
default_ca = d
[ d ]
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = p
copy_extensions = none
x509_extensions = ext
unique_subject = no
[ p ]
commonName = supplied
[ ext ]
subjectAltName = IP:127.0.0.1,DNS:localhost
basicConstraints = CA:TRUE
EOF
  openssl ca -batch -config "$d/ca.cnf" -selfsign -keyfile "$d/key.pem" -in "$d/req.csr" \
    -out "$d/cert.pem" -startdate "$2" -enddate "$3" -notext 2>/dev/null
}
now_minus_hour=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
tomorrow=$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)
mkcert "$WORK/good" "$now_minus_hour" "$tomorrow"
mkcert "$WORK/expired" 20200101000000Z 20200102000000Z
CA="$WORK/good/cert.pem"

# ---- processes -------------------------------------------------------------------------

# nginx_conf NAME CERTDIR UPGRADE(yes|no): the course's wss proxy block, nginx defaults
# (proxy_read_timeout 60s) unless SMOKE_NGINX_READ_TIMEOUT is set.
nginx_conf() {
  local name=$1 certdir=$2 upgrade=$3 dir="$WORK/nginx-$1"
  mkdir -p "$dir/tmp" "$dir/logs"
  {
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    echo "worker_processes 1;"
    echo "pid $dir/nginx.pid;"
    echo "error_log $dir/logs/error.log info;"
    echo "events { worker_connections 256; }"
    echo "http {"
    echo "  access_log $dir/logs/access.log;"
    for t in client_body proxy fastcgi uwsgi scgi; do echo "  ${t}_temp_path $dir/tmp/$t;"; done
    echo "  server {"
    echo "    listen 127.0.0.1:$NGINX_PORT ssl;"
    echo "    ssl_certificate $certdir/cert.pem;"
    echo "    ssl_certificate_key $certdir/key.pem;"
    echo "    location /ws {"
    echo "      proxy_pass http://127.0.0.1:$SERVE_PORT;"
    echo "      proxy_http_version 1.1;"
    if [ "$upgrade" = yes ]; then
      echo '      proxy_set_header Upgrade $http_upgrade;'
      echo '      proxy_set_header Connection "upgrade";'
    fi
    [ -n "${SMOKE_NGINX_READ_TIMEOUT:-}" ] && echo "      proxy_read_timeout ${SMOKE_NGINX_READ_TIMEOUT};"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$dir/nginx.conf"
  echo "$dir"
}

wait_tcp() { # port what
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "smoke-deploy: $2 did not listen on 127.0.0.1:$1 within 10 s" >&2
  exit 3
}

start_nginx() { # name certdir upgrade
  stop_nginx
  local dir
  dir=$(nginx_conf "$1" "$2" "$3")
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" -g 'daemon off;' >"$WORK/nginx-$1.log" 2>&1 &
  NGINX_PID=$!
  wait_tcp $NGINX_PORT "nginx ($1)"
}
stop_nginx() {
  if [ -n "$NGINX_PID" ]; then
    kill "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=""
    for _ in $(seq 1 50); do [ -z "$(ss -Hltn "sport = :$NGINX_PORT")" ] && break; sleep 0.1; done
  fi
}

start_coturn() {
  turnserver -n --log-file=stdout --simple-log --no-cli --no-tls --no-dtls -a \
    -u "$TURN_USER:$TURN_PASS" -r smoke --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 \
    --listening-port=$TURN_PORT --min-port=49160 --max-port=49200 --allow-loopback-peers \
    --pidfile="$WORK/turnserver.pid" --db="$WORK/turndb" >"$WORK/coturn.log" 2>&1 &
  COTURN_PID=$!
  wait_tcp $TURN_PORT coturn
}
stop_coturn() {
  if [ -n "$COTURN_PID" ]; then
    kill "$COTURN_PID" 2>/dev/null || true
    wait "$COTURN_PID" 2>/dev/null || true
    COTURN_PID=""
  fi
}

log "starting rtcctl serve on 127.0.0.1:$SERVE_PORT, nginx wss on 127.0.0.1:$NGINX_PORT, coturn on 127.0.0.1:$TURN_PORT"
# Like the course's original server: no server-side WebSocket pings and no idle timeout.
# (rtcctl serve pings every 10 s by default, and those pings alone keep nginx from cutting
# an idle call; the point here is to show what the client keepalive does.)
"$RTCCTL" serve --listen "127.0.0.1:$SERVE_PORT" --ping-interval 0 --idle-timeout 0 >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
wait_tcp $SERVE_PORT "rtcctl serve"
start_coturn
start_nginx good "$WORK/good" yes

SERVER="wss://127.0.0.1:$NGINX_PORT/ws"
ICE=(--ice-server "turn:127.0.0.1:$TURN_PORT" --ice-user "$TURN_USER")

# ---- 1 and 2: long calls through the proxy ---------------------------------------------
if [ "${SMOKE_SKIP_LONG:-0}" != 1 ]; then
  log "call ${CALL_SECONDS}s relay-only with keepalive (must pass past nginx's 60 s idle timeout)"
  if "$RTCCTL" call --server "$SERVER" --ca-file "$CA" "${ICE[@]}" --ice-pass "$TURN_PASS" \
    --relay-only --require-relay --duration "${CALL_SECONDS}s" --timeout "$((CALL_SECONDS + 45))s" --json >"$WORK/call-keepalive.json" 2>"$WORK/call-keepalive.log"; then
    echo "ok: ${CALL_SECONDS}s call with keepalive passed" >&2
  else
    fail "${CALL_SECONDS}s call with keepalive failed (exit $?); see $WORK/call-keepalive.*"
    cat "$WORK/call-keepalive.json" >&2 || true
  fi

  log "call ${CALL_SECONDS}s relay-only with --keepalive 0 (the proxy must cut the websocket at ~60 s)"
  set +e
  "$RTCCTL" call --server "$SERVER" --ca-file "$CA" "${ICE[@]}" --ice-pass "$TURN_PASS" \
    --relay-only --duration "${CALL_SECONDS}s" --timeout "$((CALL_SECONDS + 45))s" --keepalive 0 --json >"$WORK/call-nokeepalive.json" 2>"$WORK/call-nokeepalive.log"
  code=$?
  set -e
  # Media may well survive (it does not go through nginx); what must show is the websocket
  # cut at ~60 s and a diagnosis naming the proxy's idle timeout.
  at_ms=$(grep -A4 '"closed"' "$WORK/call-nokeepalive.json" | grep -o '"at_ms": *[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
  if [ -z "$at_ms" ]; then
    fail "call without keepalive (exit $code): the report shows no websocket drop"
    cat "$WORK/call-nokeepalive.json" >&2 || true
  elif [ "$at_ms" -lt 55000 ] || [ "$at_ms" -gt 75000 ]; then
    fail "call without keepalive: websocket dropped at ${at_ms} ms, want ~60000 (nginx proxy_read_timeout)"
  elif grep -qiE 'proxy_read_timeout|idle timeout' "$WORK/call-nokeepalive.json"; then
    echo "ok: without keepalive the websocket dropped at ${at_ms} ms and the report names the proxy idle timeout (exit $code)" >&2
  else
    fail "call without keepalive: dropped at ${at_ms} ms but the report does not name the proxy idle timeout"
    cat "$WORK/call-nokeepalive.json" >&2 || true
  fi
fi

# ---- 3 and 4: doctor, healthy and with one fault at a time -------------------------------
# doctor_expect NAME WANT_EXIT WANT_FIRST_FAILURE [extra doctor args...]: runs doctor --json and
# checks its exit code and the id of the first failing item (the thing to fix first).
doctor_expect() {
  local name=$1 want_exit=$2 want_first=$3
  shift 3
  set +e
  "$RTCCTL" doctor --server "$SERVER" --ca-file "$CA" "${ICE[@]}" "$@" --duration 3s --json \
    >"$WORK/doctor-$name.json" 2>"$WORK/doctor-$name.log"
  local code=$?
  set -e
  local first
  first=$(grep -o '"first_failure": *"[^"]*"' "$WORK/doctor-$name.json" | sed 's/.*"\([^"]*\)"$/\1/' || true)
  if [ "$code" -ne "$want_exit" ]; then
    fail "doctor ($name): exit $code, want $want_exit"
    cat "$WORK/doctor-$name.json" >&2 || true
  elif [ "$first" != "$want_first" ]; then
    fail "doctor ($name): first failure '${first}', want '${want_first}'"
    cat "$WORK/doctor-$name.json" >&2 || true
  else
    echo "ok: doctor ($name): exit $code${first:+, names $first}" >&2
  fi
}

log "doctor against the healthy deployment"
doctor_expect healthy 0 "" --ice-pass "$TURN_PASS"

if [ "${SMOKE_SKIP_LONG:-0}" != 1 ]; then
  log "doctor --idle 70s (nginx's default 60 s proxy_read_timeout must cut the silent websocket; the pinging one survives)"
  doctor_expect idle-70s 1 signal-idle-cut --ice-pass "$TURN_PASS" --no-call --idle 70s
  if ! grep -q '"id": *"signal-keepalive"' "$WORK/doctor-idle-70s.json" ||
    ! grep -A3 '"id": *"signal-keepalive"' "$WORK/doctor-idle-70s.json" | grep -q '"status": *"pass"'; then
    fail "doctor --idle 70s: the keepalive item did not pass; see $WORK/doctor-idle-70s.json"
  fi
fi

log "fault: wrong TURN password"
doctor_expect wrong-turn-pass 1 turn-auth --ice-pass "not-$TURN_PASS"

log "fault: coturn stopped"
stop_coturn
doctor_expect coturn-stopped 1 turn-unreachable --ice-pass "$TURN_PASS"
start_coturn

log "fault: nginx without Upgrade/Connection headers"
start_nginx noupgrade "$WORK/good" no
doctor_expect nginx-no-upgrade 1 signal-upgrade --ice-pass "$TURN_PASS"

log "fault: expired certificate"
start_nginx expired "$WORK/expired" yes
set +e
"$RTCCTL" doctor --server "$SERVER" --ca-file "$WORK/expired/cert.pem" "${ICE[@]}" --ice-pass "$TURN_PASS" \
  --duration 3s --json >"$WORK/doctor-expired.json" 2>"$WORK/doctor-expired.log"
code=$?
set -e
if [ "$code" -eq 1 ] && grep -q '"first_failure": *"signal-tls-expired"' "$WORK/doctor-expired.json"; then
  echo "ok: doctor (expired certificate): names signal-tls-expired" >&2
else
  fail "doctor (expired certificate): exit $code, want 1 naming signal-tls-expired"
  cat "$WORK/doctor-expired.json" >&2 || true
fi
start_nginx good "$WORK/good" yes

if [ "$FAILED" -ne 0 ]; then
  log "smoke-deploy: FAILED"
  exit 1
fi
log "smoke-deploy: all checks passed"
