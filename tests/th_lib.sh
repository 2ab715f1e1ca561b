# Shared helpers for the shunit2 suites. Source it first in every tests/test_*.sh;
# end each suite with `. "$th_shunit2"`.
#
# Every helper is bounded: nothing here waits forever.

: "${SOCKCAT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/sockcat}"
: "${TH_TIMEOUT:=20}"
# The peers are the Debian packages tests/setup-debian.sh installs: put them
# ahead of per-user shims (a pyenv python3 shim takes about a second to start,
# longer than some of the bounds below).
PATH=/usr/bin:/bin:$PATH
export PATH
export SOCKCAT

# timeout(1) passes a signal it gets (a test's kill, or its own limit) on to
# the command, then sends it SIGCONT as well, unless --foreground. A
# sanitizer build's sockcat checks for leaks as it exits by stopping every
# thread; a SIGCONT arriving then cancels those stops and the check waits
# forever. So every timeout in the suites (text after this line) is the
# foreground kind, which passes the signal alone.
shopt -s expand_aliases
alias timeout='timeout --foreground'

# th_sanitized: true when the binary under test was built with sanitizers
# (memory figures mean nothing there).
th_sanitized() { [ -n "${SOCKCAT_SANITIZE:-}" ]; }

# th_free_port: prints a TCP port the kernel just handed out on 127.0.0.1.
th_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# th_sum FILE: the file's sha256, alone.
th_sum() { sha256sum "$1" | cut -d' ' -f1; }

# th_wait_file FILE: waits (bounded) until FILE exists and is not empty.
th_wait_file() {
    local i
    for i in $(seq 1 400); do
        [ -s "$1" ] && return 0
        sleep 0.025
    done
    echo "th_wait_file: $1 stayed empty" >&2
    return 1
}

# th_wait_listening PORT [-u]: waits (bounded) until something listens on
# TCP PORT (with -u: until a UDP socket is bound to it).
th_wait_listening() {
    local i proto=t
    [ "${2:-}" = -u ] && proto=u
    for i in $(seq 1 400); do
        ss -Hl${proto}n "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.025
    done
    echo "th_wait_listening: nothing listens on $1" >&2
    return 1
}

# th_listen OUT ERR [sockcat listen options...]: starts `sockcat listen` on
# 127.0.0.1 port 0 in the background with stdout to OUT and stderr to ERR,
# stdin from $TH_STDIN (default /dev/null). Sets TH_PID and TH_PORT once the
# listener is ready (learned through --ready-fd, no polling of the port).
# Pass the address yourself with TH_ADDR (default 127.0.0.1).
th_listen() {
    local out=$1 err=$2
    shift 2
    local ready="${SHUNIT_TMPDIR}/ready.$$.$RANDOM"
    rm -f "$ready"
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 "$@" \
        "${TH_ADDR:-127.0.0.1}" 0 <"${TH_STDIN:-/dev/null}" >"$out" 2>"$err" 3>"$ready" &
    TH_PID=$!
    th_wait_file "$ready" || return 1
    TH_PORT=$(head -n1 "$ready")
}

# th_wait_pid PID [SECONDS]: waits for a background job, bounded; sets TH_RC.
th_wait_pid() {
    local pid=$1 limit=${2:-$TH_TIMEOUT} i
    for i in $(seq 1 $((limit * 40))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"; TH_RC=$?
            return 0
        fi
        sleep 0.025
    done
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    TH_RC=124
    echo "th_wait_pid: $pid still running after ${limit}s" >&2
    return 1
}

# th_peak_rss_kib PID: the VmHWM of a running process, in KiB.
th_peak_rss_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

# th_shunit2: where shunit2 lives (Debian puts it on PATH).
th_shunit2=$(command -v shunit2 || echo /usr/share/shunit2/shunit2)
