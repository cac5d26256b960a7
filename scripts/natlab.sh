#!/usr/bin/env bash
# NAT lab: a small internet in network namespaces (root only), the same topology as
# internal/testenv/netns.go (StartNATLab):
#
#   lan1 10.201.1.2 -- r1 (NAT) 10.200.1.2 --\
#                                             public: coturn + rtcctl serve on 10.200.0.1,
#   lan2 10.201.2.2 -- r2 (NAT) 10.200.2.2 --/         a second STUN address 10.200.0.2
#
# Usage:
#   scripts/natlab.sh            run every scenario and report (default)
#   scripts/natlab.sh up MODE    build the lab and leave it running (MODE: eim | symmetric)
#   scripts/natlab.sh down       remove a lab left by `up`
#
# Scenarios (`run`): symmetric NATs with STUN only -> the call fails at ICE and the verdict
# says a relay is needed; symmetric NATs with coturn -> the call connects over a relay
# (ICE policy all, and relay-only);
# endpoint-independent NATs with STUN only -> P2P over srflx; probe-stun in each LAN
# classifies its NAT. Everything created is removed on exit, also on failure.
# Environment: RTCCTL (binary, default bin/rtcctl, built if missing).
set -euo pipefail

cd "$(dirname "$0")/.."
RTCCTL=${RTCCTL:-bin/rtcctl}
P=rtcctl-lab # namespace prefix
PUB=$P-pub
TURN_USER=lab
TURN_PASS=lab-pass-1
WORK=""
FAILED=0

if [ "$(id -u)" -ne 0 ]; then
  echo "natlab: needs root (network namespaces, veth pairs, iptables)" >&2
  exit 3
fi
for b in ip iptables turnserver; do
  command -v "$b" >/dev/null 2>&1 || { echo "natlab: $b not found (run scripts/deps.sh)" >&2; exit 3; }
done

ns() { ip netns exec "$@"; }

down() {
  for n in $(ip netns list | awk -v p="$P-" 'index($1, p) == 1 {print $1}'); do
    for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "$n" 2>/dev/null || true
  done
}

up() { # mode: eim | symmetric
  local mode=$1 extra=""
  case "$mode" in
    eim) extra="" ;;
    symmetric) extra="--random-fully" ;;
    *) echo "natlab: unknown mode $mode (eim | symmetric)" >&2; exit 2 ;;
  esac
  down
  ip netns add $PUB
  ns $PUB ip link set lo up
  ns $PUB ip addr add 10.200.0.1/32 dev lo
  ns $PUB ip addr add 10.200.0.2/32 dev lo
  ns $PUB sysctl -qw net.ipv4.ip_forward=1
  # A default route into a sink, as on the internet: packets to unrouted addresses (a
  # peer's private host candidate) vanish instead of failing with ENETUNREACH, which
  # makes coturn close the allocation (see publicDefaultRoute in netns.go).
  ip -n $PUB link add internet type veth peer name internet-sink
  ns $PUB ip addr add 10.200.255.1/30 dev internet
  ns $PUB ip link set internet up
  ns $PUB ip link set internet-sink up
  ns $PUB ip neigh replace 10.200.255.2 lladdr 02:00:00:00:00:02 dev internet nud permanent
  ns $PUB ip route add default via 10.200.255.2 dev internet
  for k in 1 2; do
    ip netns add $P-r$k
    ip netns add $P-lan$k
    ns $P-r$k ip link set lo up
    ns $P-lan$k ip link set lo up
    ip -n $PUB link add r$k type veth peer name wan netns $P-r$k
    ns $PUB ip addr add 10.200.$k.1/24 dev r$k
    ns $PUB ip link set r$k up
    ns $P-r$k ip addr add 10.200.$k.2/24 dev wan
    ns $P-r$k ip link set wan up
    ip -n $P-r$k link add lan type veth peer name eth0 netns $P-lan$k
    ns $P-r$k ip addr add 10.201.$k.1/24 dev lan
    ns $P-r$k ip link set lan up
    ns $P-lan$k ip addr add 10.201.$k.2/24 dev eth0
    ns $P-lan$k ip link set eth0 up
    ns $P-r$k ip route add default via 10.200.$k.1
    ns $P-lan$k ip route add default via 10.201.$k.1
    ns $P-r$k sysctl -qw net.ipv4.ip_forward=1
    # shellcheck disable=SC2086
    ns $P-r$k iptables -t nat -A POSTROUTING -o wan -j MASQUERADE $extra
    # A home router drops unsolicited packets to itself (see netns.go for why it matters).
    ns $P-r$k iptables -A INPUT -i wan -m conntrack --ctstate NEW,INVALID -j DROP
  done
}

start_services() {
  ns $PUB turnserver -n --log-file=stdout --simple-log --no-cli --no-tls --no-dtls -a \
    -u "$TURN_USER:$TURN_PASS" -r natlab --listening-ip=10.200.0.1 --listening-ip=10.200.0.2 \
    --relay-ip=10.200.0.1 --listening-port=3478 --alt-listening-port=3479 \
    --min-port=49160 --max-port=49300 --pidfile="$WORK/turnserver.pid" --db="$WORK/turndb" \
    >"$WORK/coturn.log" 2>&1 &
  ns $PUB "$RTCCTL" serve --listen 10.200.0.1:8099 >"$WORK/serve.log" 2>&1 &
  for _ in $(seq 1 100); do
    if ns $P-lan1 bash -c 'exec 3<>/dev/tcp/10.200.0.1/8099' 2>/dev/null &&
      ns $PUB timeout 2 turnutils_stunclient 10.200.0.2 >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "natlab: coturn or rtcctl serve did not come up in the public namespace" >&2
  tail -20 "$WORK"/*.log >&2
  exit 3
}

cleanup() {
  local code=$?
  down
  [ -n "$WORK" ] && rm -rf "$WORK"
  exit "$code"
}

# call NAME DURATION ICE-ARGS...: one `rtcctl join --once --json` per LAN in a fresh room;
# reports land in $WORK/NAME-lan{1,2}.json.
call() {
  local name=$1 d=$2 room=$RANDOM$RANDOM
  shift 2
  local args=(join --server ws://10.200.0.1:8099/ws --room "$room" --once --json --duration "$d"
    --peer-timeout 15s --resolution 320x240 --fps 15 --bitrate 300k "$@")
  ns $P-lan1 "$RTCCTL" "${args[@]}" >"$WORK/$name-lan1.json" 2>"$WORK/$name-lan1.log" &
  local p1=$!
  sleep 0.3
  ns $P-lan2 "$RTCCTL" "${args[@]}" >"$WORK/$name-lan2.json" 2>"$WORK/$name-lan2.log" &
  local p2=$!
  wait $p1 || true
  wait $p2 || true
}

expect() { # NAME DESCRIPTION PATTERN: both LAN reports must match the extended regex
  local name=$1 what=$2 pat=$3 k
  for k in 1 2; do
    if grep -qE "$pat" "$WORK/$name-lan$k.json"; then
      echo "ok: $name lan$k: $what" >&2
    else
      echo "FAIL: $name lan$k: $what (no match for $pat)" >&2
      head -c 3000 "$WORK/$name-lan$k.json" >&2
      FAILED=1
    fi
  done
}

probe_stun() { # MODE WANT
  local k out
  for k in 1 2; do
    out=$(ns $P-lan$k "$RTCCTL" probe-stun --json stun:10.200.0.1:3478 stun:10.200.0.2:3478 2>/dev/null || true)
    if printf '%s' "$out" | grep -qE "\"mapping\": *\"$2\""; then
      echo "ok: probe-stun in lan$k ($1 NAT): mapping $2" >&2
    else
      echo "FAIL: probe-stun in lan$k ($1 NAT): want mapping $2" >&2
      printf '%s\n' "$out" | head -40 >&2
      FAILED=1
    fi
  done
}

run() {
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  WORK=$(mktemp -d /tmp/rtcctl-natlab.XXXXXX)
  if [ ! -x "$RTCCTL" ]; then go build -o "$RTCCTL" ./cmd/rtcctl; fi
  STUN=(--ice-server stun:10.200.0.1:3478)
  TURN=(--ice-server "turn:10.200.0.1:3478?transport=udp" --ice-user "$TURN_USER" --ice-pass "$TURN_PASS")

  echo "== symmetric NATs (MASQUERADE --random-fully)" >&2
  up symmetric
  start_services
  call sym-stun 16s "${STUN[@]}"
  expect sym-stun "STUN only: ICE fails" '"code": *"ice-failed"'
  expect sym-stun "the verdict says a TURN relay is needed" 'needs a TURN relay'
  call sym-turn 10s "${STUN[@]}" "${TURN[@]}"
  expect sym-turn "with TURN (policy all): media flows" '"ok": *true'
  expect sym-turn "over a relay candidate" '"local_type": *"relay"|"remote_type": *"relay"'
  call sym-relay 10s "${STUN[@]}" "${TURN[@]}" --relay-only
  expect sym-relay "relay-only: media flows" '"ok": *true'
  expect sym-relay "over a relay candidate" '"local_type": *"relay"'
  probe_stun symmetric 'address-and-port-dependent|endpoint-dependent|address-dependent'
  down

  echo "== endpoint-independent NATs (MASQUERADE)" >&2
  up eim
  start_services
  call eim-stun 10s "${STUN[@]}"
  expect eim-stun "STUN only: media flows" '"ok": *true'
  expect eim-stun "peer to peer over srflx" '"local_type": *"srflx"|"remote_type": *"(srflx|prflx)"'
  probe_stun eim 'endpoint-independent'
  down

  if [ "$FAILED" -ne 0 ]; then
    echo "natlab: FAILED" >&2
    exit 1
  fi
  echo "natlab: all scenarios passed" >&2
}

case "${1:-run}" in
  run) run ;;
  up) up "${2:-symmetric}"; echo "lab up: ip netns exec $P-lan1 ... ; remove with: $0 down" >&2 ;;
  down) down ;;
  *) echo "usage: $0 [run | up eim|symmetric | down]" >&2; exit 2 ;;
esac
