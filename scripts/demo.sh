#!/usr/bin/env bash
# demo.sh: run `rtcctl serve --turn` on loopback (signaling + call page + embedded TURN),
# wait until it is healthy, run a verified relay-only `rtcctl call` through it and print
# the report. On a terminal serve then keeps running for two browser tabs until Ctrl-C;
# otherwise the demo ends with the call's exit code. `make demo` builds bin/rtcctl first.
#
# Extending: put the work that needs a healthy server in after_healthy() below (e.g. a
# verified headless call). It runs once /healthz answers, with these variables set:
#   RTCCTL_BIN      the rtcctl binary
#   DEMO_HTTP_URL   http://127.0.0.1:8099/   (the call page; /config, /healthz under it)
#   DEMO_WS_URL     ws://127.0.0.1:8099/ws
#   DEMO_SERVE_PID  pid of the serve process
#   DEMO_DIR        a temp dir removed on exit; DEMO_LOG is serve's log in it
# A non-zero return from after_healthy stops the demo with that exit code.
#
# Environment:
#   DEMO_LISTEN=127.0.0.1:8099       HTTP/WebSocket address
#   DEMO_TURN_LISTEN=127.0.0.1:3478  TURN UDP+TCP address
#   DEMO_SECONDS=N                   keep serving N seconds after the call (default: until
#                                    Ctrl-C on a terminal, not at all otherwise)
#   DEMO_CALL_DURATION=5s            media measured in the verified call
#   DEMO_HEALTH_TIMEOUT=15           seconds to wait for /healthz
#   RTCCTL_BIN=bin/rtcctl
set -euo pipefail
cd "$(dirname "$0")/.."

RTCCTL_BIN=${RTCCTL_BIN:-bin/rtcctl}
DEMO_LISTEN=${DEMO_LISTEN:-127.0.0.1:8099}
DEMO_TURN_LISTEN=${DEMO_TURN_LISTEN:-127.0.0.1:3478}
DEMO_HEALTH_TIMEOUT=${DEMO_HEALTH_TIMEOUT:-15}
DEMO_SECONDS=${DEMO_SECONDS:-}
export RTCCTL_BIN

say() { printf 'demo: %s\n' "$*" >&2; }

# after_healthy runs once serve answers /healthz: a verified relay-only call through it.
after_healthy() {
  say "verified call: $RTCCTL_BIN call --server $DEMO_WS_URL --ice-from-server --relay-only --require-relay"
  local rc=0
  "$RTCCTL_BIN" call --server "$DEMO_WS_URL" --ice-from-server --relay-only --require-relay \
    --duration "${DEMO_CALL_DURATION:-5s}" || rc=$?
  if [ "$rc" -ne 0 ]; then
    say "the call did not pass (exit $rc); the report above says which check failed"
    return "$rc"
  fi
  say "the call passed: media flowed both ways through the embedded TURN relay"
  say "to try it by hand, open ${DEMO_HTTP_URL}?room=100 in two browser tabs and press Join in both"
}

if [ ! -x "$RTCCTL_BIN" ]; then
  say "$RTCCTL_BIN not found: run 'make build' (or 'make demo', which builds first)"
  exit 3
fi

DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rtcctl-demo.XXXXXX")
DEMO_LOG="$DEMO_DIR/serve.log"
DEMO_SERVE_PID=""
TAIL_PID=""
export DEMO_DIR DEMO_LOG

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$DEMO_SERVE_PID" ] && kill -0 "$DEMO_SERVE_PID" 2>/dev/null; then
    kill -TERM "$DEMO_SERVE_PID" 2>/dev/null || true
    # serve closes every WebSocket and TURN allocation; give it a bounded time.
    for _ in $(seq 1 100); do
      kill -0 "$DEMO_SERVE_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$DEMO_SERVE_PID" 2>/dev/null; then
      say "serve did not stop within 10 s; killing it"
      kill -KILL "$DEMO_SERVE_PID" 2>/dev/null || true
    fi
    wait "$DEMO_SERVE_PID" 2>/dev/null || true
  fi
  if [ -n "$TAIL_PID" ]; then
    kill "$TAIL_PID" 2>/dev/null || true
    wait "$TAIL_PID" 2>/dev/null || true
  fi
  rm -rf "$DEMO_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo >&2; say "stopping"; exit 0' INT TERM

# http_ok URL: true when URL answers 2xx (curl when present, else bash's /dev/tcp).
http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 -o /dev/null "$1" 2>/dev/null
    return
  fi
  local hostport=${1#http://}
  hostport=${hostport%%/*}
  local path=/${1#http://*/}
  (
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
    head -n1 <&3 | grep -q ' 2[0-9][0-9] '
  ) 2>/dev/null
}

host=${DEMO_LISTEN%:*}
port=${DEMO_LISTEN##*:}
case "$host" in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
DEMO_HTTP_URL="http://$host:$port/"
DEMO_WS_URL="ws://$host:$port/ws"
export DEMO_HTTP_URL DEMO_WS_URL

say "starting $RTCCTL_BIN serve --turn on $DEMO_LISTEN (TURN $DEMO_TURN_LISTEN)"
"$RTCCTL_BIN" serve --listen "$DEMO_LISTEN" --turn --turn-listen "$DEMO_TURN_LISTEN" 2>"$DEMO_LOG" &
DEMO_SERVE_PID=$!
export DEMO_SERVE_PID
# Stream serve's log (banner, one line per event) to the terminal; tail ends with serve.
tail -n +1 -f --pid="$DEMO_SERVE_PID" "$DEMO_LOG" >&2 &
TAIL_PID=$!

healthy=0
for _ in $(seq 1 $((DEMO_HEALTH_TIMEOUT * 10))); do
  if ! kill -0 "$DEMO_SERVE_PID" 2>/dev/null; then
    rc=0
    wait "$DEMO_SERVE_PID" || rc=$?
    DEMO_SERVE_PID=""
    sleep 0.2 # let tail print serve's last words
    say "serve exited with code $rc before it was healthy (see its message above)"
    exit "$rc"
  fi
  # Our serve must have bound the port itself ("serve: listening"): another process on it
  # would answer /healthz too.
  if grep -q 'serve: listening on' "$DEMO_LOG" && http_ok "${DEMO_HTTP_URL}healthz"; then
    healthy=1
    break
  fi
  sleep 0.1
done
if [ "$healthy" != 1 ]; then
  say "serve did not answer ${DEMO_HTTP_URL}healthz within ${DEMO_HEALTH_TIMEOUT}s"
  exit 3
fi
say "serve is healthy: ${DEMO_HTTP_URL}healthz"

hook_rc=0
after_healthy || hook_rc=$?
if [ "$hook_rc" -ne 0 ]; then
  say "after_healthy failed with code $hook_rc"
  exit "$hook_rc"
fi

if [ -n "$DEMO_SECONDS" ]; then
  say "running for ${DEMO_SECONDS}s (DEMO_SECONDS)"
  for _ in $(seq 1 "$DEMO_SECONDS"); do
    kill -0 "$DEMO_SERVE_PID" 2>/dev/null || break
    sleep 1
  done
  if ! kill -0 "$DEMO_SERVE_PID" 2>/dev/null; then
    rc=0
    wait "$DEMO_SERVE_PID" || rc=$?
    DEMO_SERVE_PID=""
    say "serve exited early with code $rc"
    exit $((rc == 0 ? 1 : rc))
  fi
  say "time is up; stopping"
  exit 0
fi

if [ ! -t 0 ]; then
  # Not interactive (CI, a script): the verified call was the job.
  exit 0
fi
say "serve keeps running for browsers; press Ctrl-C to stop"
rc=0
wait "$DEMO_SERVE_PID" || rc=$?
DEMO_SERVE_PID=""
say "serve exited with code $rc"
exit $((rc == 0 ? 1 : rc))
