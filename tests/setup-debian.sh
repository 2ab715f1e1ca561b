#!/bin/sh
# Installs what building and testing sockcat needs on Debian/Ubuntu, skipping
# apt entirely when everything is already there. Package names given as
# arguments are wanted too (.ci/ asks for debootstrap this way).
#
# Every program the tests call comes from a package named here, even where a
# minimal Debian system happens to have it already:
#   iproute2      ss (waiting for listeners, queue sizes), ip (namespaces)
#   util-linux    unshare, nsenter, script, findmnt
#   procps        ps, pgrep    bsdextrautils  col (man page checks)
#   openssl       TLS peers    iptables       dropping packets in a namespace
#   strace        holding a process at one system call (a FIFO race test)
#   libssl-dev    OpenSSL 3 for --ssl      stunnel4     a TLS peer
#   tinyproxy, tinyproxy-bin  HTTP CONNECT proxy   microsocks   SOCKS5 proxy
#   dante-server  SOCKS4 proxy (danted)
#   valgrind      the valgrind label (.ci/valgrind)
#   clang, clang-tools, libclang-rt-dev   scan-build (.ci/analyze), libFuzzer (.ci/fuzz)
set -e
packages="build-essential cmake pkg-config libuv1-dev shunit2 socat ncat
netcat-openbsd curl python3 bash-completion zsh fish mandoc tmux procps
dpkg-dev file man-db bsdextrautils iproute2 util-linux coreutils openssl
iptables strace
libssl-dev stunnel4 tinyproxy tinyproxy-bin microsocks dante-server
valgrind clang clang-tools libclang-rt-dev $*"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "setup-debian.sh: cannot install$missing: not root and no sudo" >&2
        exit 1
    }
    sudo="sudo"
fi
echo "installing:$missing" >&2
$sudo apt-get update -qq
# env, not a prefix assignment: sudo would drop the variable.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
