#!/bin/bash
# The bridge: stdin -> peer and peer -> stdout at once, half-close, and the
# two directions running independently of each other.
#
# The matrix: sockcat as client and as server, times the state of the other
# direction (quiet, backed up, already at EOF), times the direction under
# test (up = stdin -> peer, down = peer -> stdout). In each case the data of
# the direction under test must arrive whole, and then its EOF must arrive.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

EMPTY_SUM=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"   # the bytes under test
    # A backlog larger than all the buffers: the receive buffer alone may grow
    # to net.ipv4.tcp_rmem's maximum (32 MiB on some machines), and a
    # stdout pipe is enlarged to 1 MiB on the zero-copy path.
    BIG="${SHUNIT_TMPDIR}/big"
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$DATA" $((1024 * 1024))
    tc_data "$BIG" $((64 * 1024 * 1024))
    tc_data "$SMALL" 1000
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# bridge_start ROLE PEERARGS...: sockcat (ROLE client or server) on
# in.fifo/out.fifo with stderr to err, and a peer.py with PEERARGS on the
# other end. Start the fifo's writer and reader first.
bridge_start() {
    local role=$1
    shift
    if [ "$role" = client ]; then
        tc_peer_listen "$@" || return 1
        tc_connect in.fifo out.fifo err 127.0.0.1 "$TC_PEER_PORT"
    else
        tc_listen in.fifo out.fifo err 127.0.0.1 0 || return 1
        tc_peer_connect "$TC_PORT" "$@"
    fi
}

# bridge_end ROLE: sockcat must exit 0 with nothing on stderr.
bridge_end() {
    th_wait_pid "$TC_PID"
    assertEquals "$1: exit status" 0 "$TH_RC"
    assertEquals "$1: stderr" "" "$(cat err)"
}

# -- direction under test: stdin -> peer ------------------------------------

bridge_up_quiet() {
    mkfifo in.fifo out.fifo
    tc_feed in.fifo "file:$DATA"
    tc_drain out.fifo out
    bridge_start "$1" --then-when gate.peer --report rep ||
        { fail "start"; return; }
    assertEquals "$1: the peer got stdin, then EOF" \
        "$(tc_expect "$DATA")" "$(tc_report rep)"
    assertTrue "$1: sockcat waits for the quiet peer" "tc_running $TC_PID"
    assertFalse "$1: stdout stays open" "[ -e out.eof ]"
    touch gate.peer
    bridge_end "$1"
    assertTrue "$1: stdout closed after peer EOF" "tc_hold out.eof 5"
    assertEquals "$1: nothing on stdout" 0 "$(stat -c %s out)"
}

bridge_up_backed() {
    mkfifo in.fifo out.fifo
    tc_feed in.fifo "file:$DATA"
    tc_drain out.fifo out gate.out
    bridge_start "$1" --send "$BIG" --sent sent --report rep ||
        { fail "start"; return; }
    assertEquals "$1: the peer got stdin, then EOF, while stdout is stalled" \
        "$(tc_expect "$DATA")" "$(tc_report rep)"
    assertFalse "$1: (premise) the peer's data is still backed up" \
        "[ -e sent ]"
    touch gate.out
    bridge_end "$1"
    assertTrue "$1: stdout closed" "tc_hold out.eof 5"
    assertEquals "$1: stdout got the backlog" \
        "$(th_sum "$BIG")" "$(th_sum out)"
}

bridge_up_eof() {
    mkfifo in.fifo out.fifo
    tc_feed in.fifo wait:gate.in "file:$DATA"
    tc_drain out.fifo out
    bridge_start "$1" --send "$SMALL" --report rep ||
        { fail "start"; return; }
    assertTrue "$1: stdout closed at peer EOF" "tc_hold out.eof 10"
    assertEquals "$1: stdout got the peer's data" \
        "$(th_sum "$SMALL")" "$(th_sum out)"
    assertTrue "$1: sockcat still runs: stdin is open" "tc_running $TC_PID"
    touch gate.in
    assertEquals "$1: the peer got stdin after its own EOF, then EOF" \
        "$(tc_expect "$DATA")" "$(tc_report rep)"
    bridge_end "$1"
}

# -- direction under test: peer -> stdout ------------------------------------

bridge_down_quiet() {
    mkfifo in.fifo out.fifo
    tc_feed in.fifo wait:gate.in
    tc_drain out.fifo out
    bridge_start "$1" --send "$DATA" --report rep ||
        { fail "start"; return; }
    assertTrue "$1: stdout closed at peer EOF" "tc_hold out.eof 10"
    assertEquals "$1: stdout got the peer's data" \
        "$(th_sum "$DATA")" "$(th_sum out)"
    assertTrue "$1: sockcat still runs: stdin is open" "tc_running $TC_PID"
    assertFalse "$1: no EOF to the peer while stdin is open" "[ -e rep ]"
    touch gate.in
    assertEquals "$1: the peer got EOF at stdin EOF" \
        "0 $EMPTY_SUM eof" "$(tc_report rep)"
    bridge_end "$1"
}

bridge_down_backed() {
    mkfifo in.fifo out.fifo
    tc_feed in.fifo "file:$BIG" touch:fed
    tc_drain out.fifo out
    bridge_start "$1" --send "$DATA" --read-when gate.peer --report rep ||
        { fail "start"; return; }
    assertTrue "$1: stdout closed at peer EOF" "tc_hold out.eof 10"
    assertEquals "$1: stdout got the peer's data; the peer does not read" \
        "$(th_sum "$DATA")" "$(th_sum out)"
    assertFalse "$1: (premise) stdin is still backed up" "[ -e fed ]"
    assertTrue "$1: sockcat still runs" "tc_running $TC_PID"
    touch gate.peer
    assertEquals "$1: the peer got the backlog, then EOF" \
        "$(tc_expect "$BIG")" "$(tc_report rep)"
    bridge_end "$1"
}

bridge_down_eof() {
    mkfifo in.fifo out.fifo
    # The writer stays until the peer is connected, so that sockcat opened
    # stdin while it was there (a FIFO whose writer is gone: test_stdio).
    tc_feed in.fifo wait:addr "file:$SMALL"
    tc_drain out.fifo out
    bridge_start "$1" --send-after eof --send "$DATA" --report rep \
        --addr addr ||
        { fail "start"; return; }
    assertEquals "$1: the peer got stdin, then EOF" \
        "$(tc_expect "$SMALL")" "$(tc_report rep)"
    assertTrue "$1: stdout closed at peer EOF" "tc_hold out.eof 10"
    assertEquals "$1: stdout got what the peer sent after stdin EOF" \
        "$(th_sum "$DATA")" "$(th_sum out)"
    bridge_end "$1"
}

testClientUpQuiet() { bridge_up_quiet client; }
testClientUpBackedUp() { bridge_up_backed client; }
testClientUpAfterEof() { bridge_up_eof client; }
testClientDownQuiet() { bridge_down_quiet client; }
testClientDownBackedUp() { bridge_down_backed client; }
testClientDownAfterEof() { bridge_down_eof client; }
testServerUpQuiet() { bridge_up_quiet server; }
testServerUpBackedUp() { bridge_up_backed server; }
testServerUpAfterEof() { bridge_up_eof server; }
testServerDownQuiet() { bridge_down_quiet server; }
testServerDownBackedUp() { bridge_down_backed server; }
testServerDownAfterEof() { bridge_down_eof server; }

# -- stdin EOF: FIN after the queued data, and the peer is still read ---------

testClientReplyAfterEof() {
    tc_peer_listen --reply-sha --report rep || { fail "peer"; return; }
    tc_connect "$DATA" out err 127.0.0.1 "$TC_PEER_PORT"
    bridge_end client
    assertEquals "the peer got all of stdin, then EOF" \
        "$(tc_expect "$DATA")" "$(tc_report rep)"
    assertEquals "the reply sent after EOF reached stdout" \
        "$(th_sum "$DATA")" "$(cat out)"
}

testServerReplyAfterEof() {
    tc_listen "$DATA" out err 127.0.0.1 0 || { fail "listen"; return; }
    tc_peer_connect "$TC_PORT" --reply-sha --report rep
    bridge_end server
    assertEquals "the peer got all of stdin, then EOF" \
        "$(tc_expect "$DATA")" "$(tc_report rep)"
    assertEquals "the reply sent after EOF reached stdout" \
        "$(th_sum "$DATA")" "$(cat out)"
}

testLargeReplyAfterEofThroughPipes() {
    cat "$SMALL" | {
        timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 127.0.0.1 0 \
            2>err 3>ready
        echo $? >rc
    } | cat >out &
    local pipeline=$!
    th_wait_file ready || { fail "listen"; return; }
    tc_peer_connect "$(cat ready)" --send-after eof --send "$BIG" --report rep
    assertEquals "the peer got stdin, then EOF" \
        "$(tc_expect "$SMALL")" "$(tc_report rep)"
    th_wait_pid "$pipeline"
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "the large reply sent after EOF reached stdout" \
        "$(th_sum "$BIG")" "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err)"
}

# -- the peer fully closed: stdin was not delivered, an error after stdout ----

testPeerClosedThenWriteFailsIsAnError() {
    mkfifo in.fifo out.fifo
    tc_feed in.fifo wait:gate.in file:/dev/zero
    tc_drain out.fifo out
    tc_peer_listen --no-read --send "$SMALL" --then close ||
        { fail "peer"; return; }
    tc_connect in.fifo out.fifo err 127.0.0.1 "$TC_PEER_PORT"
    assertTrue "stdout closed at peer EOF" "tc_hold out.eof 10"
    assertEquals "stdout got the peer's data" \
        "$(th_sum "$SMALL")" "$(th_sum out)"
    touch gate.in
    th_wait_pid "$TC_PID"
    assertEquals "writes to a closed peer: exit status" 1 "$TH_RC"
    assertTrue "writes to a closed peer: stderr: $(cat err)" \
        "grep -Eq '^sockcat: write to 127\.0\.0\.1 $TC_PEER_PORT: peer closed before all of stdin was sent \([0-9.]+ (B|KiB|MiB) sent\)$' err"
}

# -- 64 MiB each way at the same time ----------------------------------------

big_pair() {
    A="${SHUNIT_TMPDIR}/a64"
    B="${SHUNIT_TMPDIR}/b64"
    [ -s "$A" ] || tc_data "$A" $((64 * 1024 * 1024))
    [ -s "$B" ] || tc_data "$B" $((64 * 1024 * 1024))
}

testBothWays64MiBSockcatToItself() {
    big_pair
    tc_listen "$A" out.l err.l 127.0.0.1 0 || { fail "listen"; return; }
    local lpid=$TC_PID
    tc_connect "$B" out.c err.c 127.0.0.1 "$TC_PORT"
    th_wait_pid "$TC_PID"
    assertEquals "connect: exit status" 0 "$TH_RC"
    th_wait_pid "$lpid"
    assertEquals "listen: exit status" 0 "$TH_RC"
    assertEquals "listen -> connect" "$(th_sum "$A")" "$(th_sum out.c)"
    assertEquals "connect -> listen" "$(th_sum "$B")" "$(th_sum out.l)"
    assertEquals "stderr" "" "$(cat err.l err.c)"
}

testBothWays64MiBWithSocatClient() {
    big_pair
    mkfifo in.fifo out.fifo
    tc_feed in.fifo "file:$A"
    tc_drain out.fifo out.l
    tc_listen in.fifo out.fifo err 127.0.0.1 0 || { fail "listen"; return; }
    timeout "$TH_TIMEOUT" socat -t "$TH_TIMEOUT" - "TCP:127.0.0.1:$TC_PORT" \
        <"$B" >out.s 2>err.s
    assertEquals "socat: exit status" 0 $?
    bridge_end "listen"
    tc_hold out.l.eof 5
    assertEquals "sockcat -> socat" "$(th_sum "$A")" "$(th_sum out.s)"
    assertEquals "socat -> sockcat" "$(th_sum "$B")" "$(th_sum out.l)"
}

testBothWays64MiBWithSocatServer() {
    big_pair
    local port
    port=$(th_free_port)
    timeout "$TH_TIMEOUT" socat -t "$TH_TIMEOUT" \
        "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" - <"$A" >out.s 2>err.s &
    local spid=$!
    th_wait_listening "$port" || { fail "socat listen"; return; }
    cat "$B" | timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$port" \
        2>err | cat >out.c
    assertEquals "connect: exit status" 0 "${PIPESTATUS[1]}"
    th_wait_pid "$spid"
    assertEquals "socat: exit status" 0 "$TH_RC"
    assertEquals "socat -> sockcat" "$(th_sum "$A")" "$(th_sum out.c)"
    assertEquals "sockcat -> socat" "$(th_sum "$B")" "$(th_sum out.s)"
    assertEquals "stderr" "" "$(cat err)"
}

. "$th_shunit2"
