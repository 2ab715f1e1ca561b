#!/bin/bash
# Peers that misbehave: one that never reads, never writes, resets in the
# middle of either direction, half-closes first, sends after sockcat has
# half-closed, or drips a byte at a time; a SYN nobody answers. For each,
# the promise: no byte lost without an error (sha256 on both ends), no
# wait past the timers or a signal, the documented status and message.
# (Standard input, output and error that fail: tests/test_faults_stdio.sh.)

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20
FP="$TC_DIR/faultpeer.py"
# How a peer that went away with stdin unread is reported (which one the
# kernel gives depends on who sees the reset first).
FP_GONE='(Connection reset by peer|Broken pipe|peer closed before all of stdin was sent \([0-9.]+ [KM]iB sent\))'

oneTimeSetUp() {
    BIG="${SHUNIT_TMPDIR}/big"
    tc_data "$BIG" $((8 << 20))
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$SMALL" 1000
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# fp_start READY MODE ARGS...: starts faultpeer.py MODE in the background;
# sets FP_PORT once it listens.
fp_start() {
    local ready=$1 mode=$2
    shift 2
    timeout -k 5 "$TH_TIMEOUT" python3 "$FP" "$mode" --ready "$ready" \
        --timeout "$TH_TIMEOUT" "$@" </dev/null >/dev/null 2>>"$TC_T/peer.err" &
    th_wait_file "$ready" || return 1
    FP_PORT=$(head -n1 "$ready")
}

# fp_queued PORT: bytes waiting unread in the receive queue of the peer's
# end of the connection to PORT (0 if none).
fp_queued() {
    ss -Htn state established "sport = :$1" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }'
}

# fp_wait_queued PORT: waits until the peer on PORT has bytes it did not read.
fp_wait_queued() {
    local i
    for i in $(seq 1 $((TH_TIMEOUT * 40))); do
        [ "$(fp_queued "$1")" -gt 0 ] && return 0
        sleep 0.025
    done
    return 1
}

# fp_is_prefix PART WHOLE: true when PART is the start of WHOLE.
fp_is_prefix() {
    cmp -s "$1" <(head -c "$(stat -c %s "$1")" "$2")
}

# fp_stop_now PID SIGNAL STATUS: sends SIGNAL to sockcat (under tc_spawn's
# timeout) and expects it to end with STATUS, promptly: with nothing owed to
# stdout there is no flush to wait for (5 s leaves room for a loaded machine
# and the sanitizers; stuck, it would run until the peer's own timeout).
fp_stop_now() {
    local sc
    sc=$(tc_child "$1")
    kill -"$2" "$sc"
    tc_wait_gone "$1" 5 || { fail "still running 5 s after SIG$2"; return 1; }
    wait "$1"
    assertEquals "status after SIG$2" "$3" $?
}

#--------------------------------------------------------------------------
# A peer that accepts and never reads: sockcat waits (backpressure, never a
# claim of success), a signal ends it at once, and the peer going away with
# stdin unread is an error.

testPeerNeverReadsWaitsThenSignalEndsIt() {
    tc_peer_listen --no-read --then keep --hold gate || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    fp_wait_queued "$TC_PEER_PORT" || fail "nothing reached the peer"
    assertTrue "still running while the peer does not read" "tc_running $TC_PID"
    fp_stop_now "$TC_PID" TERM 143
    assertEquals "stderr" "" "$(cat err)"
}

testPeerNeverReadsThenClosesIsAnError() {
    tc_peer_listen --no-read --then keep --hold gate || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    fp_wait_queued "$TC_PEER_PORT" || fail "nothing reached the peer"
    touch gate
    tc_wait_gone "$TC_PID" 5 || fail "still running after the peer closed"
    wait "$TC_PID"
    assertEquals "exit status" 1 $?
    assertTrue "one error line: $(cat err)" \
        "grep -Eqx 'sockcat: (read from|write to) 127\.0\.0\.1 $TC_PEER_PORT: $FP_GONE' err"
}

#--------------------------------------------------------------------------
# A peer that reads everything and never writes (nor closes): stdin is
# delivered whole, sockcat waits for the peer's side, a signal ends it.

testPeerNeverWritesGetsStdinWhole() {
    tc_peer_listen --then keep --hold gate --report rep || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "the peer got stdin whole, then EOF" "$(tc_expect "$BIG")" "$(tc_report rep)"
    assertTrue "still waiting for the peer's side" "tc_running $TC_PID"
    fp_stop_now "$TC_PID" TERM 143
    assertEquals "stdout" 0 "$(stat -c %s out)"
    assertEquals "stderr" "" "$(cat err)"
}

#--------------------------------------------------------------------------
# Resets in the middle of each direction.

testPeerResetsWhileReceivingStdin() {
    fp_start ready reset-after --after $((1 << 20)) --report rep || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$FP_PORT"
    tc_wait_gone "$TC_PID" 10 || fail "still running after the reset"
    wait "$TC_PID"
    assertEquals "exit status" 1 $?
    assertEquals "the peer read 1 MiB" $((1 << 20)) "$(tc_report rep)"
    assertTrue "one error line: $(cat err)" \
        "grep -Eqx 'sockcat: (read from|write to) 127\.0\.0\.1 $FP_PORT: $FP_GONE' err"
    assertEquals "one line" 1 "$(wc -l <err)"
}

testPeerResetsWhileSending() {
    tc_peer_listen --send "$BIG" --no-read --then reset || { fail "peer"; return; }
    tc_connect /dev/null out err 127.0.0.1 "$TC_PEER_PORT"
    tc_wait_gone "$TC_PID" 10 || fail "still running after the reset"
    wait "$TC_PID"
    assertEquals "exit status" 1 $?
    assertEquals "message" "sockcat: read from 127.0.0.1 $TC_PEER_PORT: Connection reset by peer" "$(cat err)"
    assertTrue "stdout is the start of what the peer sent ($(stat -c %s out) B)" "fp_is_prefix out '$BIG'"
}

#--------------------------------------------------------------------------
# Half-closes: the peer's end first (stdin still flows), or sockcat's end
# first (the peer's bytes still flow).

testPeerHalfClosesFirstStdinStillDelivered() {
    tc_peer_listen --report rep || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "the peer got stdin whole" "$(tc_expect "$BIG")" "$(tc_report rep)"
    tc_wait_gone "$TC_PID" 10 || fail "still running"
    wait "$TC_PID"
    assertEquals "exit status" 0 $?
    assertEquals "stdout" 0 "$(stat -c %s out)"
    assertEquals "stderr" "" "$(cat err)"
}

testPeerKeepsSendingAfterSockcatHalfCloses() {
    tc_peer_listen --send-after eof --send "$BIG" --report rep || { fail "peer"; return; }
    tc_connect "$SMALL" out err 127.0.0.1 "$TC_PEER_PORT"
    tc_wait_gone "$TC_PID" 10 || fail "still running"
    wait "$TC_PID"
    assertEquals "exit status" 0 $?
    assertEquals "the peer got stdin" "$(tc_expect "$SMALL")" "$(tc_report rep)"
    assertEquals "stdout is all the peer sent after" "$(th_sum "$BIG")" "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err)"
}

#--------------------------------------------------------------------------
# A peer that drips one byte every 100 ms.

testPeerDripsOneByteEvery100ms() {
    fp_start ready drip --bytes 12 --every 0.1 --report rep || { fail "peer"; return; }
    tc_connect "$SMALL" out err 127.0.0.1 "$FP_PORT"
    tc_wait_gone "$TC_PID" 10 || fail "still running"
    wait "$TC_PID"
    assertEquals "exit status" 0 $?
    local rep
    rep=$(tc_report rep)
    assertEquals "stdout is every byte dripped" "${rep%% *}" "$(th_sum out)"
    assertEquals "the peer got stdin" 1000 "${rep##* }"
    assertEquals "stderr" "" "$(cat err)"
}

#--------------------------------------------------------------------------
# A SYN nobody answers (dropped in a network namespace the test makes): -w
# bounds the wait, a signal ends it too.

# fp_blackhole CMD...: runs CMD in a new network namespace whose loopback
# drops every TCP packet to port 9. Returns 99 when that cannot be made.
fp_blackhole() {
    unshare -n sh -c 'ip link set lo up && iptables -A INPUT -p tcp --dport 9 -j DROP' \
        >/dev/null 2>&1 || return 99
    unshare -n sh -c 'ip link set lo up && iptables -A INPUT -p tcp --dport 9 -j DROP &&
        exec "$@"' fp "$@"
}

fp_can_blackhole() {
    if [ "$(id -u)" -ne 0 ]; then
        startSkipping
        echo "skipped: a dropped SYN needs root (a network namespace and iptables)" >&2
        return 1
    fi
    if ! command -v iptables >/dev/null || ! fp_blackhole true; then
        startSkipping
        echo "skipped: cannot make a network namespace with an iptables DROP rule here" >&2
        return 1
    fi
}

testSynNeverAnsweredEndsAfterWait() {
    fp_can_blackhole || return 0
    local start rc
    start=$(tc_ms)
    timeout 10 bash -c "$(declare -f fp_blackhole); fp_blackhole \"\$@\"" fp \
        "$SOCKCAT" connect -w 1 127.0.0.1 9 </dev/null >out 2>err
    rc=$?
    local took=$(( $(tc_ms) - start ))
    assertEquals "exit status" 1 "$rc"
    assertEquals "message" "sockcat: connect to 127.0.0.1 9: Connection timed out" "$(cat err)"
    # Without -w the kernel would go on sending SYNs for about two minutes.
    assertTrue "gave up after -w 1, well before the kernel would ($took ms)" \
        "[ $took -ge 900 ] && [ $took -lt 8000 ]"
    assertEquals "stdout" 0 "$(stat -c %s out)"
}

testSynNeverAnsweredSignalEndsIt() {
    fp_can_blackhole || return 0
    local pid sc i
    timeout -k 5 "$TH_TIMEOUT" bash -c "$(declare -f fp_blackhole); fp_blackhole \"\$@\"" fp \
        "$SOCKCAT" connect 127.0.0.1 9 </dev/null >out 2>err &
    pid=$!
    # Wait until sockcat itself runs (bash, then unshare, exec into it).
    for i in $(seq 1 200); do
        sc=$(pgrep -P "$pid" -x sockcat || pgrep -f "^$SOCKCAT connect 127.0.0.1 9$" | head -n1)
        [ -n "$sc" ] && [ "$(readlink "/proc/$sc/exe")" = "$(readlink -f "$SOCKCAT")" ] && break
        sc=
        sleep 0.025
    done
    [ -n "$sc" ] || { fail "sockcat did not start"; return; }
    # Its SYN is out: a socket in SYN-SENT in that namespace.
    for i in $(seq 1 200); do
        nsenter -t "$sc" -n ss -Htn state syn-sent 2>/dev/null | grep -q . && break
        sleep 0.025
    done
    kill -TERM "$sc"
    tc_wait_gone "$pid" 5 || { fail "still connecting 5 s after SIGTERM"; return; }
    wait "$pid"
    assertEquals "exit status" 143 $?
    assertEquals "stderr" "" "$(cat err)"
}

. "$th_shunit2"
