#!/usr/bin/env bash
# Installs the Debian packages rtcctl's build and tests need. Idempotent: packages already
# present are skipped, so a second run does nothing and needs no network.
set -euo pipefail

# libvpx-dev + pkg-config: VP8 encode/decode through cgo (pion/mediadevices codec/vpx).
# libx264-dev: H264 encode (--codec h264) through cgo (internal/media/x264.go); build with
#   -tags nox264 to do without it.
# coturn: the reference TURN server for integration tests and probes.
# nginx: the wss reverse proxy of the course deployment (smoke tests).
# chromium: real browser interop (headless).
# iproute2 + iptables: network-namespace NAT lab.
PKGS=(libvpx-dev libx264-dev pkg-config coturn nginx chromium iproute2 iptables ca-certificates openssl)
if [ -n "${RTCCTL_DEPS:-}" ]; then
  read -r -a PKGS <<<"$RTCCTL_DEPS"
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "deps: need root (or sudo) to install: ${missing[*]}; install them with apt-get and re-run" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq >&2; then
  echo "deps: apt-get update failed; check the Debian mirror is reachable, then re-run" >&2
  exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
  echo "deps: apt-get install ${missing[*]} failed; see the apt output above" >&2
  exit 1
fi
# Debian starts packaged daemons on install; the tests start their own on loopback.
for svc in coturn nginx; do
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then $SUDO service "$svc" stop >/dev/null 2>&1 || true; fi
done
