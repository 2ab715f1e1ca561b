#!/bin/bash
# Standard input, output and error that fail: stdout on a full filesystem
# (a 1 MiB tmpfs in a private mount namespace, and /dev/full), stdin whose
# reads fail (a directory; a socket reset under it), and each of the three
# closed. The promise: a write or read that fails is one line on stderr and
# status 1, never success; what reached stdout is the start of what was
# received, never something else.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20
FP="$TC_DIR/faultpeer.py"
ENOSPC_LINE="sockcat: write to stdout: No space left on device"

oneTimeSetUp() {
    BIG="${SHUNIT_TMPDIR}/big"
    tc_data "$BIG" $((4 << 20))
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$SMALL" 1000
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# fs_is_prefix PART WHOLE: true when PART is the start of WHOLE.
fs_is_prefix() {
    cmp -s "$1" <(head -c "$(stat -c %s "$1")" "$2")
}

# fs_finish PID: waits (bounded) for a tc_spawn job; sets FS_RC.
fs_finish() {
    tc_wait_gone "$1" 10 || fail "still running"
    wait "$1"
    FS_RC=$?
}

#--------------------------------------------------------------------------
# Standard output that is full.

testStdoutDevFullConnect() {
    tc_peer_listen --send "$BIG" --report rep || { fail "peer"; return; }
    tc_connect "$SMALL" /dev/full err 127.0.0.1 "$TC_PEER_PORT"
    fs_finish "$TC_PID"
    assertEquals "exit status" 1 "$FS_RC"
    assertEquals "message" "$ENOSPC_LINE" "$(cat err)"
}

testStdoutDevFullKeepOpen() {
    tc_listen /dev/null /dev/full err -k 127.0.0.1 0 || { fail "listen"; return; }
    tc_peer_connect "$TC_PORT" --send "$SMALL"
    fs_finish "$TC_PID"
    assertEquals "exit status" 1 "$FS_RC"
    assertEquals "message" "$ENOSPC_LINE" "$(cat err)"
}

# fs_tmpfs_run CMD...: runs CMD (bounded) with its stdout on a 1 MiB tmpfs
# mounted on a private /mnt: file $TC_T/full.out gets a copy of what it held.
# Returns 99 when such a namespace cannot be made.
fs_tmpfs_run() {
    unshare -m sh -c 'mount -t tmpfs -o size=1m fs /mnt' 2>/dev/null || return 99
    unshare -m sh -c '
        out=$1; shift
        mount -t tmpfs -o size=1m fs /mnt || exit 99
        timeout 10 "$@" >/mnt/out
        rc=$?
        cp /mnt/out "$out"
        exit $rc' fs "$TC_T/full.out" "$@"
}

fs_can_tmpfs() {
    if [ "$(id -u)" -ne 0 ]; then
        startSkipping
        echo "skipped: a private tmpfs needs root (unshare -m)" >&2
        return 1
    fi
    if ! fs_tmpfs_run true; then
        startSkipping
        echo "skipped: cannot mount a tmpfs in a private mount namespace here" >&2
        return 1
    fi
}

testStdoutFullTmpfsConnect() {
    fs_can_tmpfs || return 0
    tc_peer_listen --send "$BIG" || { fail "peer"; return; }
    fs_tmpfs_run "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" "$ENOSPC_LINE" "$(cat err)"
    assertTrue "the tmpfs holds the start of what was received ($(stat -c %s full.out) B)" \
        "fs_is_prefix full.out '$BIG'"
    assertTrue "it was filled (over 900 KiB)" "[ $(stat -c %s full.out) -gt 921600 ]"
}

testStdoutFullTmpfsKeepOpen() {
    fs_can_tmpfs || return 0
    local ready=$TC_T/ready
    fs_tmpfs_run "$SOCKCAT" listen -k --ready-fd 3 127.0.0.1 0 </dev/null 2>err 3>"$ready" &
    local pid=$!
    th_wait_file "$ready" || { fail "listen"; return; }
    tc_peer_connect "$(head -n1 "$ready")" --send "$BIG"
    tc_wait_gone "$pid" 10 || fail "still running"
    wait "$pid"
    assertEquals "exit status" 1 $?
    assertEquals "message" "$ENOSPC_LINE" "$(cat err)"
    assertTrue "the tmpfs holds the start of what was received" "fs_is_prefix full.out '$BIG'"
}

#--------------------------------------------------------------------------
# Standard input whose reads fail.

testStdinDirectory() {
    tc_connect . out err 127.0.0.1 9
    fs_finish "$TC_PID"
    assertEquals "exit status" 1 "$FS_RC"
    assertEquals "message" "sockcat: open stdin: Is a directory" "$(cat err)"
}

testStdinResetWhileReading() {
    tc_peer_listen --report rep || { fail "peer"; return; }
    timeout -k 5 "$TH_TIMEOUT" python3 "$FP" stdin-reset --send "$BIG" --report sent \
        --timeout "$TH_TIMEOUT" -- "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" "sockcat: read from stdin: Connection reset by peer" "$(cat err)"
    local got
    got=$(tc_report rep)
    assertTrue "the peer got no more than was sent ($got)" "[ ${got%% *} -le $(stat -c %s "$BIG") ]"
}

#--------------------------------------------------------------------------
# Standard input, output or error closed: each is /dev/null to sockcat, and
# no descriptor sockcat opens later takes its number.

testStdinClosedIsEmpty() {
    tc_peer_listen --send "$SMALL" --report rep || { fail "peer"; return; }
    tc_connect closed out err 127.0.0.1 "$TC_PEER_PORT"
    fs_finish "$TC_PID"
    assertEquals "exit status" 0 "$FS_RC"
    assertEquals "the peer got EOF at once" "0 $(th_sum /dev/null) eof" "$(tc_report rep)"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
}

testStdoutClosedDiscards() {
    tc_peer_listen --send "$SMALL" --report rep || { fail "peer"; return; }
    tc_connect "$BIG" closed err 127.0.0.1 "$TC_PEER_PORT"
    fs_finish "$TC_PID"
    assertEquals "exit status" 0 "$FS_RC"
    assertEquals "the peer got stdin whole" "$(tc_expect "$BIG")" "$(tc_report rep)"
    assertEquals "stderr" "" "$(cat err)"
}

testStderrClosedKeepsMessagesOffTheConnection() {
    tc_peer_listen --send "$SMALL" --report rep || { fail "peer"; return; }
    timeout 10 "$SOCKCAT" connect -vv 127.0.0.1 "$TC_PEER_PORT" <"$BIG" >out 2>&-
    assertEquals "exit status" 0 $?
    assertEquals "the peer got stdin and nothing else" "$(tc_expect "$BIG")" "$(tc_report rep)"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
}

testStderrClosedErrorStillFails() {
    tc_peer_listen --send "$BIG" || { fail "peer"; return; }
    timeout 10 "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" </dev/null >/dev/full 2>&-
    assertEquals "exit status" 1 $?
}

testAllThreeClosed() {
    tc_peer_listen --send "$SMALL" --report rep || { fail "peer"; return; }
    timeout 10 "$SOCKCAT" connect -v 127.0.0.1 "$TC_PEER_PORT" <&- >&- 2>&-
    assertEquals "exit status" 0 $?
    assertEquals "the peer got EOF at once" "0 $(th_sum /dev/null) eof" "$(tc_report rep)"
}

. "$th_shunit2"
