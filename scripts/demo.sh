#!/usr/bin/env bash
# Sets peapod up and runs the demo pod (examples/demo-pod.yaml): a web server and a client that
# reach each other over the pod's shared localhost. Uses a private --root/--runroot and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
work=$(mktemp -d /tmp/peapod-demo.XXXXXX)
pp() { ./bin/peapod --root "$work/root" --runroot "$work/run" "$@"; }
cleanup() { pp system reset --force >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# An image from Debian's busybox-static: /bin/busybox and one link per applet.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$work/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$work/rootfs/etc/group"
tar --numeric-owner -C "$work/rootfs" -cf "$work/busybox.tar" .
pp image import "$work/busybox.tar" busybox >/dev/null

echo "\$ peapod play kube examples/demo-pod.yaml"
pp play kube examples/demo-pod.yaml
echo "\$ peapod pod ps"
pp pod ps
echo "\$ peapod ps"
pp ps
sleep 3
echo "\$ peapod logs demo-client      # the client fetched the page over the pod's localhost"
pp logs demo-client
echo "\$ peapod kube down examples/demo-pod.yaml"
pp kube down examples/demo-pod.yaml
