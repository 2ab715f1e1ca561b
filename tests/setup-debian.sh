#!/bin/sh
# Installs what building and testing sockcat needs on Debian/Ubuntu, skipping
# apt entirely when everything is already there.
set -e
packages="build-essential cmake pkg-config libuv1-dev shunit2 socat ncat
netcat-openbsd curl python3 bash-completion zsh fish mandoc tmux procps
dpkg-dev file man-db"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing:$missing" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
