#!/bin/sh
# Fetch OpenCV's sample videos vtest.avi (pedestrians) and tree.avi into DIR, from Debian's
# opencv-doc package, without installing the documentation. Does nothing when both are there.
set -eu
target="${1:?usage: deploy/fetch-videos.sh DIR}"
mkdir -p "$target"
if [ -s "$target/vtest.avi" ] && [ -s "$target/tree.avi" ]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 777 "$work"  # apt drops to the _apt user to download
(cd "$work" && apt-get download opencv-doc >/dev/null)
dpkg -x "$work"/opencv-doc_*.deb "$work/root"
for video in vtest.avi tree.avi; do
    cp "$work/root/usr/share/doc/opencv-doc/examples/data/$video" "$target/$video"
done
echo "fetched vtest.avi and tree.avi into $target"
