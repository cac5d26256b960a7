#!/usr/bin/env bash
# Finds the media-load knee of this machine: the most concurrent calls that still reach
# >= 99% success. Steps the number of rooms up; every step is one `rtcctl load` run of
# relay-only calls (640x480@30 VP8 500 kbit/s + Opus) through the embedded signaling
# server and TURN, all on loopback and all in one process, so the tester's CPU is the
# whole system's. Prints one row per step and the knee. Run by `make bench-load`.
#
# Knobs (environment): STEPS="10 25 50 75 100 125 150 175 200", RAMP=20 (rooms/s), HOLD=10
# (seconds every call overlaps all others), TARGET=99 (success %), RES=640x480, FPS=30,
# BITRATE=500k, DECODE=sample:10 (every 10th call decodes its video for the picture
# checks: black, frozen, stamp latency; the others are checked at the RTP and frame level;
# DECODE=none decodes nothing, DECODE=all every frame of every call, which then dominates
# the tester's CPU). A call passes rtcctl call's checks (fps >= half the sent rate, loss
# <= 5%, latency <= 500 ms where decoded),
# MAX_LOSS= (a step also fails when the p95 loss across calls exceeds this percentage;
# unset: success alone decides), BIN=bin/rtcctl, OUT=a new temp dir (JSON reports per
# step), FAILS=1 (failing steps before stopping).
set -euo pipefail

BIN=${BIN:-bin/rtcctl}
STEPS=${STEPS:-"10 25 50 75 100 125 150 175 200"}
RAMP=${RAMP:-20}
HOLD=${HOLD:-10}
TARGET=${TARGET:-99}
RES=${RES:-640x480}
FPS=${FPS:-30}
BITRATE=${BITRATE:-500k}
DECODE=${DECODE:-sample:10}
MAX_LOSS=${MAX_LOSS:-}
extra=()
if [ -n "$MAX_LOSS" ]; then
  extra+=(--max-loss "$MAX_LOSS")
fi
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/rtcctl-bench-load.XXXXXX")}
FAILS=${FAILS:-1}

if [ ! -x "$BIN" ]; then
  echo "bench-load: $BIN not found; run 'make build' first" >&2
  exit 3
fi
mkdir -p "$OUT"

# field FILE NAME: the first numeric value of "NAME": in an indented JSON report.
field() {
  sed -n "s/^ *\"$2\": \(-\{0,1\}[0-9.e+-]*\),\{0,1\}$/\1/p" "$1" | head -n 1
}
# p FILE SECTION KEY: a summary value inside the first "SECTION": { ... } object.
p() {
  awk -v sec="\"$2\":" -v key="\"$3\":" '
    index($0, sec) { on = 1 }
    on && index($0, key) { gsub(/[ ,]/, "", $0); split($0, kv, ":"); print kv[2]; exit }' "$1"
}

# rcvbuf_errors: the kernel's count of UDP datagrams dropped because a socket's receive
# buffer was full (machine-wide; other processes' drops count too).
rcvbuf_errors() {
  awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp 2>/dev/null || echo 0
}

echo "bench-load: $(nproc) cores, $(date -u +%H:%M) UTC; relay-only ${RES}@${FPS} VP8 ${BITRATE} + Opus, decode ${DECODE}, ramp ${RAMP}/s, load average $(cut -d' ' -f1 /proc/loadavg 2>/dev/null)"
printf '%6s %8s %9s %9s %9s %8s %8s %8s %9s %9s  %s\n' \
  rooms success connected p95-first p50-fps p50-loss cpu-% rss-MB elapsed udp-drops note
knee=0
fails=0
for n in $STEPS; do
  # Every call lasts the ramp time plus HOLD, so all n overlap for HOLD seconds.
  dur=$(( (n + RAMP - 1) / RAMP + HOLD ))
  f="$OUT/step-$n.json"
  rc=0
  drops0=$(rcvbuf_errors)
  "$BIN" -q load --embedded --relay-only --rooms "$n" --ramp "$RAMP" --duration "${dur}s" \
    --resolution "$RES" --fps "$FPS" --bitrate "$BITRATE" --decode "$DECODE" --min-success "$TARGET" "${extra[@]}" \
    --json >"$f" 2>"$OUT/step-$n.err" || rc=$?
  if [ "$rc" -ge 2 ]; then
    echo "bench-load: step $n could not run (exit $rc):" >&2
    cat "$OUT/step-$n.err" >&2
    exit "$rc"
  fi
  succ=$(field "$f" success_pct)
  cpu=$(field "$f" cpu_pct)
  rss=$(field "$f" max_rss_mb)
  conn=$(field "$f" peak_connected)
  el=$(field "$f" elapsed_ms)
  first=$(p "$f" first_frame p95)
  fps=$(p "$f" fps p50)
  loss=$(p "$f" loss_pct p50)
  drops=$(( $(rcvbuf_errors) - drops0 ))
  note=""
  grep -q '"saturated": true' "$f" && note="tester saturated or machine overloaded (see warnings)"
  if [ "$drops" -gt 0 ]; then
    note="${note:+$note; }UDP receive buffers overflowed"
  fi
  printf '%6d %7.1f%% %9s %7.0fms %9.1f %7.2f%% %8.0f %8.0f %8.0fs %9d  %s\n' \
    "$n" "$succ" "$conn" "${first:-0}" "${fps:-0}" "${loss:-0}" "$cpu" "$rss" "$(awk -v e="$el" 'BEGIN{print e/1000}')" "$drops" "$note"
  # rc 0: every threshold passed (success, and loss when MAX_LOSS is set); rc 1: not.
  if [ "$rc" -eq 0 ]; then
    knee=$n
  else
    fails=$((fails + 1))
    if [ "$fails" -ge "$FAILS" ]; then
      break
    fi
  fi
done
crit=">= ${TARGET}% success${MAX_LOSS:+ and p95 loss <= ${MAX_LOSS}%}"
if [ "$fails" -eq 0 ]; then
  # Every step passed: the knee lies beyond the last step, not at it.
  echo "knee: not reached: every step up to $knee concurrent calls kept $crit; add larger STEPS to find it (reports in $OUT/)"
elif [ "$knee" -eq 0 ]; then
  echo "knee: below the first step: no step kept $crit (reports in $OUT/)"
else
  echo "knee: $knee concurrent calls at $crit (reports in $OUT/)"
fi
echo "udp-drops are datagrams the kernel dropped on full socket receive buffers (machine-wide);"
echo "when they appear, loss comes from buffer overflow (net.core.rmem_default=$(cat /proc/sys/net/core/rmem_default 2>/dev/null || echo '?')),"
echo "not from the network: the shared encoder sends every call's frame at the same instant."
