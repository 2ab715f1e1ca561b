#!/bin/bash
# Runtime errors: exit 1 with one line on stderr. Connection refused, a name
# that does not resolve, the -w connect timeout, an address in use, and a
# peer that resets the connection (the bytes before the reset still reach
# stdout).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

RESET="Connection reset by peer"

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"
    tc_data "$DATA" $((1024 * 1024))
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# A refusal ends sockcat at once: within this many ms of starting it (an
# ASan build alone takes ~0.3 s to start, more on a loaded machine).
if th_sanitized; then REFUSED_MS=3000; else REFUSED_MS=1000; fi

testConnectionRefused() {
    local port t0 ms
    port=$(th_free_port)
    t0=$(tc_ms)
    timeout 10 "$SOCKCAT" connect 127.0.0.1 "$port" </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    ms=$(($(tc_ms) - t0))
    assertEquals "message" \
        "sockcat: connect to 127.0.0.1 $port: Connection refused" "$(cat err)"
    assertTrue "within $REFUSED_MS ms (took $ms ms)" "[ $ms -lt $REFUSED_MS ]"
    assertEquals "nothing on stdout" 0 "$(stat -c %s out)"
}

testConnectionRefusedIPv6() {
    local port
    port=$(th_free_port)
    timeout 10 "$SOCKCAT" connect ::1 "$port" </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: connect to ::1 $port: Connection refused" "$(cat err)"
}

testConnectionRefusedWithStdinOpen() {
    local port t0 ms
    port=$(th_free_port)
    mkfifo in.fifo
    tc_feed in.fifo wait:gate.in
    t0=$(tc_ms)
    tc_connect in.fifo out err 127.0.0.1 "$port"
    th_wait_pid "$TC_PID" 10
    ms=$(($(tc_ms) - t0))
    assertEquals "exit status" 1 "$TH_RC"
    assertEquals "message" \
        "sockcat: connect to 127.0.0.1 $port: Connection refused" "$(cat err)"
    assertTrue "within $REFUSED_MS ms, not waiting for stdin (took $ms ms)" \
        "[ $ms -lt $REFUSED_MS ]"
}

testNameDoesNotResolve() {
    timeout 20 "$SOCKCAT" connect nosuch.invalid 80 </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertContains "the message names the host" "$(cat err)" \
        "sockcat: resolve nosuch.invalid: "
    assertEquals "one line" 1 "$(wc -l <err)"
    assertEquals "nothing on stdout" 0 "$(stat -c %s out)"
}

testConnectTimeout() {
    local port t0 ms rc
    timeout 30 python3 "$TC_PEER" stall --ready stall --hold gate.stall \
        >/dev/null 2>>peer.err &
    local spid=$!
    if ! th_wait_file stall 2>/dev/null; then
        th_wait_pid "$spid" 5
        if [ "$TH_RC" = 2 ]; then
            echo "connects to a full backlog do not stall here" >&2
            startSkipping
            return
        fi
        fail "stall listener"
        return
    fi
    port=$(cat stall)
    t0=$(tc_ms)
    timeout 10 "$SOCKCAT" connect -w 0.5 127.0.0.1 "$port" </dev/null \
        >out 2>err
    rc=$?
    ms=$(($(tc_ms) - t0))
    assertEquals "exit status" 1 "$rc"
    assertEquals "message" \
        "sockcat: connect to 127.0.0.1 $port: Connection timed out" \
        "$(cat err)"
    assertTrue "after about 0.5 s (took $ms ms)" \
        "[ $ms -ge 400 ] && [ $ms -lt 3000 ]"
    assertEquals "nothing on stdout" 0 "$(stat -c %s out)"
    touch gate.stall
}

testAddressInUse() {
    local holder
    tc_listen /dev/null out.h err.h 127.0.0.1 0 || { fail "listen"; return; }
    holder=$TC_PID
    timeout 10 "$SOCKCAT" listen 127.0.0.1 "$TC_PORT" </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: listen on 127.0.0.1 $TC_PORT: Address already in use" \
        "$(cat err)"
    assertEquals "nothing on stdout" 0 "$(stat -c %s out)"
    tc_peer_connect "$TC_PORT"
    th_wait_pid "$holder"
    assertEquals "the first listener still works" 0 "$TH_RC"
}

testAddressInUseByOtherProgram() {
    tc_peer_listen --hold gate.p || { fail "peer"; return; }
    timeout 10 "$SOCKCAT" listen 127.0.0.1 "$TC_PEER_PORT" </dev/null \
        >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: listen on 127.0.0.1 $TC_PEER_PORT: Address already in use" \
        "$(cat err)"
}

testPeerResetAsClient() {
    tc_peer_listen --no-read --send "$DATA" --then reset ||
        { fail "peer"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" \
        </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "all bytes before the reset reached stdout" \
        "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "message" \
        "sockcat: read from 127.0.0.1 $TC_PEER_PORT: $RESET" "$(cat err)"
}

testPeerResetAsServer() {
    tc_listen /dev/null out err 127.0.0.1 0 || { fail "listen"; return; }
    tc_peer_connect "$TC_PORT" --addr addr --no-read --send "$DATA" \
        --then reset
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 1 "$TH_RC"
    assertEquals "all bytes before the reset reached stdout" \
        "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "message" \
        "sockcat: read from 127.0.0.1 $(cut -d' ' -f1 addr): $RESET" \
        "$(cat err)"
}

testPeerResetTogetherWithData() {
    # The last bytes and the reset are both waiting when sockcat next looks
    # at the socket (it is stopped meanwhile): the bytes go to stdout and
    # the reset is still reported, not taken for an EOF.
    local pid
    head -c 1000 "$DATA" >small
    tc_peer_listen --addr addr --no-read --send small --send-when gate.send \
        --then reset --done peer.done || { fail "peer"; return; }
    tc_connect /dev/null out err 127.0.0.1 "$TC_PEER_PORT"
    th_wait_file addr || { fail "connect"; return; }
    pid=$(tc_child "$TC_PID")
    [ -n "$pid" ] || { fail "no sockcat process"; return; }
    kill -STOP "$pid"
    touch gate.send
    th_wait_file peer.done
    kill -CONT "$pid"
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 1 "$TH_RC"
    assertEquals "the bytes before the reset reached stdout" \
        "$(th_sum small)" "$(th_sum out)"
    assertEquals "message" \
        "sockcat: read from 127.0.0.1 $TC_PEER_PORT: $RESET" "$(cat err)"
}

testPeerResetWhileStdoutStalled() {
    # The reset comes while the bytes before it still wait for a slow stdout:
    # they must all be written before sockcat reports the reset.
    head -c $((128 * 1024)) "$DATA" >part
    mkfifo in.fifo out.fifo
    tc_feed in.fifo wait:gate.in
    tc_drain out.fifo out gate.out
    tc_peer_listen --no-read --send part --then reset --done reset ||
        { fail "peer"; return; }
    tc_connect in.fifo out.fifo err 127.0.0.1 "$TC_PEER_PORT"
    th_wait_file reset || { fail "the peer could not send"; return; }
    touch gate.out
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 1 "$TH_RC"
    tc_hold out.eof 5
    assertEquals "all bytes before the reset reached stdout" \
        "$(th_sum part)" "$(th_sum out)"
    assertContains "message" "$(cat err)" "Connection reset by peer"
    assertEquals "one line" 1 "$(wc -l <err)"
}

. "$th_shunit2"
