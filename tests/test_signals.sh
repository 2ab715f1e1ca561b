#!/bin/bash
# Signals and terminals: SIGHUP ends like SIGTERM (status 129); a burst of
# 10 000 SIGUSR1 changes nothing but stderr; and, in a real terminal under
# tmux, Ctrl-Z and fg leave the terminal's settings and the conversation
# intact, and a second Ctrl-C during the flush stops at once.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20
SG_SUMMARY='^sockcat: [0-9.]+ ([KMG]i)?B sent, [0-9.]+ ([KMG]i)?B received in [0-9]+\.[0-9]{2} s \([0-9.]+ ([KMG]i)?B/s\)$'

oneTimeSetUp() {
    BIG="${SHUNIT_TMPDIR}/big"
    tc_data "$BIG" $((4 << 20))
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$SMALL" 1000
}

setUp() {
    tc_setup
    SG_TMUX=
}

tearDown() {
    [ -n "$SG_TMUX" ] && timeout 5 tmux -L "$SG_TMUX" kill-server 2>/dev/null
    tc_teardown
}

#--------------------------------------------------------------------------
# SIGHUP, like SIGTERM: the conversation is stopped, what was received is
# written out, the figures are told, status 129.

sg_hup_or_term() { # SIGNAL STATUS
    tc_peer_listen --send "$SMALL" --then keep --hold gate --report rep || { fail "peer"; return; }
    tc_connect "$SMALL" out err --stats json 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "the peer got stdin" "$(tc_expect "$SMALL")" "$(tc_report rep)"
    tc_wait_size out 1000 || fail "the peer's bytes did not arrive"
    kill -"$1" "$(tc_child "$TC_PID")"
    tc_wait_gone "$TC_PID" 3 || fail "still running 3 s after SIG$1"
    wait "$TC_PID"
    assertEquals "exit status after SIG$1" "$2" $?
    assertEquals "stdout whole" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertTrue "the figures on stderr: $(cat err)" \
        "grep -Eqx '\\{\"sent\":1000,\"received\":1000,.*\\}' err"
}

testSigtermEndsWith143() { sg_hup_or_term TERM 143; }
testSighupEndsLikeSigtermWith129() { sg_hup_or_term HUP 129; }

#--------------------------------------------------------------------------
# 10 000 SIGUSR1 in a burst during a transfer: the bytes are the same, the
# status is 0, stderr has nothing but figure lines.

testSigusr1BurstChangesNothingButStderr() {
    local sc
    tc_peer_listen --send-when go --send "$BIG" --report rep --addr addr || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    # Connected: sockcat watches its signals by then.
    th_wait_file addr || { fail "sockcat did not connect"; return; }
    sc=$(tc_child "$TC_PID")
    python3 - "$sc" "$TC_T/go" <<'PY'
import os, signal, sys
pid, gate = int(sys.argv[1]), sys.argv[2]
for i in range(10000):
    if i == 100:
        open(gate, "w").close()   # the peer starts sending mid-burst
    os.kill(pid, signal.SIGUSR1)
PY
    assertEquals "python sent the burst" 0 $?
    tc_wait_gone "$TC_PID" 15 || fail "still running"
    wait "$TC_PID"
    assertEquals "exit status" 0 $?
    assertEquals "the peer got stdin whole" "$(tc_expect "$BIG")" "$(tc_report rep)"
    assertEquals "stdout whole" "$(th_sum "$BIG")" "$(th_sum out)"
    local lines other
    lines=$(wc -l <err)
    other=$(grep -cEv "$SG_SUMMARY" err)
    assertTrue "at least one figures line, at most 10 000 ($lines)" \
        "[ $lines -ge 1 ] && [ $lines -le 10000 ]"
    assertEquals "nothing but figures lines: $(grep -Ev "$SG_SUMMARY" err | head -n3)" 0 "$other"
}

. "$th_shunit2"
