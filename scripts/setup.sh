#!/usr/bin/env bash
# Sets up peapod on a Debian 12 machine as root: Debian packages, npm dependencies, build.
# Idempotent: a second run installs nothing and only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "Error: scripts/setup.sh must run as root (it installs Debian packages)" >&2
  exit 1
fi

PACKAGES=(runc crun conmon netavark aardvark-dns passt iptables iproute2 uidmap busybox-static
  catatonit docker-registry skopeo attr gcc libc6-dev curl util-linux tar procps zstd apache2-utils openssl systemd
  golang-github-containers-common podman python3-docker conntrack)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker-registry's Debian service is not wanted: tests start their own on 127.0.0.1.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# The docker CLI, a client of `peapod system service` in the tests: the client binary only, taken
# out of Debian's docker.io package (installing that package would start dockerd, which rewrites
# the iptables FORWARD policy and adds docker0).
if ! command -v docker >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download docker.io >/dev/null 2>&1 && dpkg -x docker.io_*.deb x)
  install -m 0755 "$tmp/x/usr/bin/docker" /usr/local/bin/docker
  rm -rf "$tmp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # The lock lists every platform's optional packages (rollup, esbuild), so `npm ci` takes it as
  # it is; a failure here is a lock out of step with package.json: fix the lock, never rewrite it.
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
echo "setup: done ($(./bin/peapod --version))"
