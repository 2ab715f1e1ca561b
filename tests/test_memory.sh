#!/bin/bash
# Bounded memory: with a peer that never reads and an endless stdin, or with
# an endless peer and a stdout nobody reads, sockcat stops reading instead of
# buffering: its peak RSS stays under 16 MiB. A `listen -k` that weathered
# crowds of thousands of clients comes back to the size it had after a small
# one.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

: "${LOADCLIENT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/sc_loadclient}"

LIMIT_KIB=16384
# Crowds of CROWD_CLIENTS, CROWDS times; what the listener may keep of them
# once they are gone (KiB). Without giving back it kept 180 to 270 KiB:
# libuv's table indexed by descriptor (128 KiB at 10 000 descriptors) and the
# pages of the heap that the thread pool's private caches held on to. Giving
# back, it keeps 20 to 116 KiB (most runs 40 to 85), also with both cores
# busy besides.
CROWD_CLIENTS=10000
CROWDS=2
CROWD_KEPT_KIB=144

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# queued PORT: the bytes queued in the kernel on the TCP connections of PORT.
queued() {
    ss -Htn "( sport = :$1 or dport = :$1 )" 2>/dev/null |
        awk '{ n += $2 + $3 } END { print n + 0 }'
}

# rss_ok WHAT PID: PID's peak RSS is under the limit (not judged when
# sanitizers are on: their shadow memory counts there).
rss_ok() {
    local kib
    kib=$(th_peak_rss_kib "$2")
    assertNotNull "$1: VmHWM readable" "$kib"
    if th_sanitized; then
        echo "$1: peak RSS ${kib} KiB (sanitized build: not judged)" >&2
        return 0
    fi
    echo "$1: peak RSS ${kib} KiB" >&2
    assertTrue "$1: peak RSS ${kib} KiB is under ${LIMIT_KIB} KiB" \
        "[ ${kib:-999999} -lt $LIMIT_KIB ]"
}

testStalledPeersKeepMemoryBounded() {
    local up_pid up_port down_pid down_port
    # stdin endless, the peer never reads.
    tc_peer_listen --no-read --addr addr.up --hold gate.up ||
        { fail "peer"; return; }
    up_port=$TC_PEER_PORT
    tc_connect /dev/zero out.up err.up 127.0.0.1 "$up_port"
    up_pid=$TC_PID
    # The peer sends without end, stdout is never read.
    mkfifo out.fifo
    tc_drain out.fifo out.down gate.never
    tc_peer_listen --send /dev/zero --addr addr.down --hold gate.down ||
        { fail "peer"; return; }
    down_port=$TC_PEER_PORT
    tc_connect /dev/null out.fifo err.down 127.0.0.1 "$down_port"
    down_pid=$TC_PID
    th_wait_file addr.up && th_wait_file addr.down ||
        { fail "connect"; return; }
    sleep 3
    assertTrue "stdin -> peer: still running" "tc_running $up_pid"
    assertTrue "peer -> stdout: still running" "tc_running $down_pid"
    assertTrue "(premise) stdin -> peer: data queued" \
        "[ $(queued "$up_port") -gt 0 ]"
    assertTrue "(premise) peer -> stdout: data queued" \
        "[ $(queued "$down_port") -gt 0 ]"
    rss_ok "stdin -> peer" "$(tc_child "$up_pid")"
    rss_ok "peer -> stdout" "$(tc_child "$down_pid")"
    assertEquals "stderr" "" "$(cat err.up err.down)"
}

# crowds_in_netns: run in a network namespace of its own (the crowds' tens of
# thousands of connections leave the host's ports alone); prints the
# listener's VmRSS after a crowd of 300 clients and after the big crowds,
# then the clients that ended cleanly, then the bytes on stdout.
crowds_in_netns() {
    ip link set lo up || return 1
    ulimit -n "$(ulimit -Hn)"
    timeout 120 "$SOCKCAT" listen -k --ready-fd 3 127.0.0.1 0 </dev/null \
        >"$CROWD_DIR/out" 2>"$CROWD_DIR/err" 3>"$CROWD_DIR/ready" &
    local tpid=$! pid port i before rss ok=0 line
    th_wait_file "$CROWD_DIR/ready" || { cat "$CROWD_DIR/err" >&2; return 1; }
    port=$(head -n1 "$CROWD_DIR/ready")
    pid=$(cut -d' ' -f1 "/proc/$tpid/task/$tpid/children")
    # settled_rss: VmRSS once every client is gone and it holds still.
    settled_rss() {
        for i in $(seq 1 400); do
            [ "$(ls /proc/$pid/fd | wc -l)" -le "$fds" ] && break
            sleep 0.025
        done
        for i in $(seq 1 20); do
            before=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
            sleep 0.1
            rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status)
            [ "$rss" = "$before" ] && break
        done
        echo "$rss"
    }
    fds=$(ls /proc/$pid/fd | wc -l)
    line=$(timeout 60 "$LOADCLIENT" -t 50 -c 300 -b 100 127.0.0.1 "$port")
    ok=$((ok + $(echo "$line" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')))
    settled_rss
    for i in $(seq 1 "$CROWDS"); do
        line=$(timeout 60 "$LOADCLIENT" -t 50 -c "$CROWD_CLIENTS" -b 100 127.0.0.1 "$port")
        ok=$((ok + $(echo "$line" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')))
    done
    settled_rss
    echo "$ok"
    kill "$pid"
    wait "$tpid"
    stat -c %s "$CROWD_DIR/out"
}

testKeepOpenGivesMemoryBackAfterCrowds() {
    local figures base end clients=$((300 + CROWDS * CROWD_CLIENTS))
    if th_sanitized; then
        echo "memory figures mean nothing under sanitizers or valgrind: skipped" >&2
        startSkipping
        return
    fi
    if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null; then
        echo "needs root and unshare -n (a network namespace for the crowds): skipped" >&2
        startSkipping
        return
    fi
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((CROWD_CLIENTS + 100)) ]; then
        echo "hard open-file limit $(ulimit -Hn) is too low for $CROWD_CLIENTS clients: skipped" >&2
        startSkipping
        return
    fi
    assertTrue "load generator at '$LOADCLIENT'" "[ -x '$LOADCLIENT' ]" || return
    CROWD_DIR=$(mktemp -d "$SHUNIT_TMPDIR/crowd.XXXXXX")
    export -f crowds_in_netns th_wait_file
    export LOADCLIENT CROWDS CROWD_CLIENTS CROWD_DIR
    figures=$(timeout 200 unshare -n bash -c crowds_in_netns 2>"$CROWD_DIR/netns.err")
    [ -s "$CROWD_DIR/netns.err" ] && head -c 600 "$CROWD_DIR/netns.err" >&2
    base=$(echo "$figures" | sed -n 1p)
    end=$(echo "$figures" | sed -n 2p)
    echo "VmRSS after 300 clients ${base} KiB, after $CROWDS crowds of $CROWD_CLIENTS ${end} KiB" >&2
    assertEquals "clients that ended cleanly" "$clients" "$(echo "$figures" | sed -n 3p)"
    assertEquals "bytes on stdout" "$((clients * 100))" "$(echo "$figures" | sed -n 4p)"
    assertTrue "VmRSS known ('$base', '$end')" "[ -n '$base' ] && [ -n '$end' ]" || return
    assertTrue "kept $((end - base)) KiB of the crowds, more than $CROWD_KEPT_KIB KiB" \
        "[ $((end - base)) -le $CROWD_KEPT_KIB ]"
}

. "$th_shunit2"
