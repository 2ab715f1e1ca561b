#!/bin/bash
# Bounded memory: with a peer that never reads and an endless stdin, or with
# an endless peer and a stdout nobody reads, sockcat stops reading instead of
# buffering: its peak RSS stays under 16 MiB.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

LIMIT_KIB=16384

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

. "$th_shunit2"
