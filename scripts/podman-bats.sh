#!/bin/bash
# scripts/podman-bats.sh [podman|peapod] [FILE.bats ...]
#
# Runs Podman 4.3.1's own system tests (700-play, 710-kube, 200-pod, 250-systemd, 255-auto-update
# by default) against this project's built CLI (or real podman, the reference), with the harness in
# test/podman-bats/. It fetches nothing: the .bats files are Podman's (Apache-2.0) and are never
# committed; put them once in $PODMAN_BATS_WORK/tests-v4.3.1 with
#     test/podman-bats/fetch-tests.sh v4.3.1 [/path/to/containers-podman.git]
# Needs root, bats, jq, python3-yaml, busybox-static (and podman for the reference run).
# Prints per-file counts and "N passed, M failed"; TAP in $PODMAN_BATS_WORK/results-<engine>.tap.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
export PODMAN_BATS_WORK=${PODMAN_BATS_WORK:-/tmp/podman-bats}
engine=${1:-peapod}
shift || true
tests=${TESTS:-$PODMAN_BATS_WORK/tests-v4.3.1/test/system}
if [ ! -f "$tests/helpers.bash" ]; then
    echo "Podman's tests are not in $tests: fetch them once with test/podman-bats/fetch-tests.sh v4.3.1 [PODMAN_GIT]" >&2
    exit 2
fi
case "$engine" in
    peapod) [ -x "$HERE/bin/peapod" ] && [ -f "$HERE/dist/src/cli/main.js" ] || { echo "build first: npm run build" >&2; exit 2; }
            exec "$HERE/test/podman-bats/run.sh" "$HERE/test/podman-bats/peapod-wrap" "$@" ;;
    podman) exec "$HERE/test/podman-bats/run.sh" "$HERE/test/podman-bats/podman-wrap" "$@" ;;
    *) echo "usage: $0 [podman|peapod] [FILE.bats ...]" >&2; exit 2 ;;
esac
