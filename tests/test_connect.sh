#!/bin/bash
# `sockcat connect`: both directions, -v lines, -4/-6, -s/-p, --send-only,
# --recv-only, --no-shutdown, name resolution, and real peers (python3,
# socat).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

EMPTY_SUM=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"
    REPLY="${SHUNIT_TMPDIR}/reply"
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$DATA" $((1024 * 1024))
    tc_data "$REPLY" $((3 * 1024 * 1024))
    tc_data "$SMALL" 1000
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# connect_run ARGS...: `sockcat connect ARGS...` in the foreground, bounded,
# stdin from $IN (default /dev/null), stdout to out, stderr to err; sets RC.
connect_run() {
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect "$@" <"${IN:-/dev/null}" \
        >out 2>err
    RC=$?
}

testBothWays() {
    tc_peer_listen --send "$REPLY" --report rep || { fail "peer"; return; }
    IN=$DATA connect_run 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "the peer got stdin, then EOF" \
        "$(tc_expect "$DATA")" "$(tc_report rep)"
    assertEquals "stdout got the peer's bytes" \
        "$(th_sum "$REPLY")" "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err)"
}

testVerboseLines() {
    head -c 2048 "$REPLY" >reply2k
    tc_peer_listen --send reply2k --report rep || { fail "peer"; return; }
    IN=$SMALL connect_run -v 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "first line" "sockcat: connected to 127.0.0.1 $TC_PEER_PORT" \
        "$(sed -n 1p err)"
    assertTrue "the byte-count line ends the run: $(tail -n1 err)" \
        "tc_count_line err '1000 B' '2\.00 KiB'"
    assertEquals "the peer got stdin" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
}

testVerboseCountsInMiB() {
    tc_peer_listen --send "$REPLY" --report rep || { fail "peer"; return; }
    IN=$DATA connect_run -v 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertTrue "counts in MiB: $(tail -n1 err)" \
        "tc_count_line err '1\.00 MiB' '3\.00 MiB'"
}

testHostname() {
    tc_peer_listen --send "$SMALL" --report rep || { fail "peer"; return; }
    IN=$DATA connect_run -v localhost "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "the peer got stdin" "$(tc_expect "$DATA")" "$(tc_report rep)"
}

testNumericRefusesName() {
    local port
    port=$(th_free_port)
    connect_run -n localhost "$port"
    assertEquals "exit status" 1 "$RC"
    assertContains "message" "$(cat err)" "sockcat: resolve localhost: "
    assertEquals "one line" 1 "$(wc -l <err)"
}

testIPv6() {
    tc_peer_listen --host ::1 --send "$SMALL" --report rep ||
        { fail "peer"; return; }
    IN=$DATA connect_run -6 -v ::1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "-v" "sockcat: connected to ::1 $TC_PEER_PORT" \
        "$(sed -n 1p err)"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "the peer got stdin" "$(tc_expect "$DATA")" "$(tc_report rep)"
}

testIPv6WithoutFlag() {
    tc_peer_listen --host ::1 --send "$SMALL" --report rep ||
        { fail "peer"; return; }
    IN=$DATA connect_run ::1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "the peer got stdin" "$(tc_expect "$DATA")" "$(tc_report rep)"
}

testIPv4Flag() {
    tc_peer_listen --send "$SMALL" --report rep || { fail "peer"; return; }
    IN=$DATA connect_run -4 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
}

testFamilyMismatch() {
    local port
    port=$(th_free_port)
    connect_run -4 ::1 "$port"
    assertEquals "-4 ::1: exit status" 1 "$RC"
    assertContains "-4 ::1: message" "$(sed -n 1p err)" "sockcat: "
    connect_run -6 127.0.0.1 "$port"
    assertEquals "-6 127.0.0.1: exit status" 1 "$RC"
    assertContains "-6 127.0.0.1: message" "$(sed -n 1p err)" "sockcat: "
}

testSourceAddressAndPort() {
    local sport
    sport=$(th_free_port)
    tc_peer_listen --addr addr --report rep || { fail "peer"; return; }
    IN=$SMALL connect_run -s 127.0.0.1 -p "$sport" 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "the server sees the source address and port" \
        "127.0.0.1 $sport" "$(cut -d' ' -f2,3 addr)"
    assertEquals "the peer got stdin" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
}

testSourcePortLongOptions() {
    local sport
    sport=$(th_free_port)
    tc_peer_listen --addr addr --report rep || { fail "peer"; return; }
    IN=$SMALL connect_run --source=127.0.0.1 --source-port="$sport" \
        127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "the server sees the source port" \
        "$sport" "$(cut -d' ' -f3 addr)"
}

testSourcePortOnly() {
    local sport
    sport=$(th_free_port)
    tc_peer_listen --addr addr --report rep || { fail "peer"; return; }
    IN=$SMALL connect_run -p "$sport" 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "the server sees the source port" \
        "$sport" "$(cut -d' ' -f3 addr)"
}

testSourceAddressIPv6() {
    tc_peer_listen --host ::1 --addr addr --report rep ||
        { fail "peer"; return; }
    IN=$SMALL connect_run -s ::1 ::1 "$TC_PEER_PORT"
    assertEquals "exit status" 0 "$RC"
    assertEquals "the server sees the source address" \
        "::1" "$(cut -d' ' -f2 addr)"
}

testSendOnly() {
    # The peer talks too, and reads only once sockcat is done (or after a
    # few seconds): all of stdin must still reach it, then EOF.
    head -c $((256 * 1024)) "$DATA" >part
    tc_peer_listen --send "$SMALL" --read-when gate.peer --report rep ||
        { fail "peer"; return; }
    tc_connect part out err --send-only 127.0.0.1 "$TC_PEER_PORT"
    tc_wait_gone "$TC_PID" 3
    touch gate.peer
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "the peer got stdin, then EOF" \
        "$(tc_expect part)" "$(tc_report rep)"
    assertEquals "nothing read from the peer" 0 "$(stat -c %s out)"
    assertEquals "stderr" "" "$(cat err)"
}

testRecvOnly() {
    mkfifo in.fifo
    tc_feed in.fifo "file:$SMALL" wait:gate.in
    tc_peer_listen --send "$DATA" --report rep || { fail "peer"; return; }
    tc_connect in.fifo out err --recv-only 127.0.0.1 "$TC_PEER_PORT"
    th_wait_pid "$TC_PID"
    assertEquals "exit status, with stdin still open" 0 "$TH_RC"
    assertEquals "stdout got the peer's bytes" \
        "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "nothing sent, then EOF" "0 $EMPTY_SUM eof" \
        "$(tc_report rep)"
    assertEquals "stderr" "" "$(cat err)"
}

testNoShutdown() {
    tc_peer_listen --idle 2 --report rep --then-when gate.peer ||
        { fail "peer"; return; }
    tc_connect "$SMALL" out err --no-shutdown 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "the peer got stdin but no EOF" \
        "$(tc_expect "$SMALL" idle)" "$(tc_report rep)"
    assertTrue "sockcat stays until the peer closes" "tc_running $TC_PID"
    touch gate.peer
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stderr" "" "$(cat err)"
}

testWithoutNoShutdownPeerSeesEof() {
    tc_peer_listen --idle 5 --report rep --then-when gate.peer ||
        { fail "peer"; return; }
    tc_connect "$SMALL" out err 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "the peer got stdin, then EOF" \
        "$(tc_expect "$SMALL")" "$(tc_report rep)"
    touch gate.peer
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
}

testSocatServer() {
    local port spid
    port=$(th_free_port)
    timeout "$TH_TIMEOUT" socat -t "$TH_TIMEOUT" \
        "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" - \
        <"$REPLY" >got 2>err.s &
    spid=$!
    th_wait_listening "$port" || { fail "socat listen"; return; }
    IN=$DATA connect_run 127.0.0.1 "$port"
    assertEquals "exit status" 0 "$RC"
    th_wait_pid "$spid"
    assertEquals "socat: exit status" 0 "$TH_RC"
    assertEquals "socat got stdin" "$(th_sum "$DATA")" "$(th_sum got)"
    assertEquals "stdout got socat's bytes" "$(th_sum "$REPLY")" \
        "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err)"
}

. "$th_shunit2"
