#!/bin/bash
# stdin and stdout of every kind: pipe, regular file, /dev/null, socket,
# closed, terminal. O_NONBLOCK never left on (or shown to) a shared pipe, and
# SIGPIPE ignored: a reader of stdout that goes away ends sockcat quietly.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

EMPTY_SUM=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$DATA" $((1024 * 1024))
    tc_data "$SMALL" 1000
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# sc ARGS...: sockcat bounded by timeout.
sc() { timeout "$TH_TIMEOUT" "$SOCKCAT" "$@"; }

# nonblock_of FD FILE: writes "nonblock" or "block" (FD's O_NONBLOCK) to FILE.
nonblock_of() {
    python3 -c '
import fcntl, os, sys
fl = fcntl.fcntl(int(sys.argv[1]), fcntl.F_GETFL)
open(sys.argv[2], "w").write("nonblock" if fl & os.O_NONBLOCK else "block")
' "$1" "$2"
}

# dfl_sigpipe CMD...: runs CMD with SIGPIPE at its default action, whatever
# this shell inherited.
dfl_sigpipe() {
    python3 -c '
import os, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])
' "$@"
}

# in_script CMD: runs the shell command CMD on a new terminal (script(1));
# script's own stdin and stdout are this function's.
in_script() { timeout "$TH_TIMEOUT" script -qec "$1" /dev/null; }

# -- stdin kinds (stdout a file) ----------------------------------------------

# stdin_peer: a peer that sends SMALL and reports what it got.
stdin_peer() { tc_peer_listen --send "$SMALL" --report rep; }

# stdin_ok WHAT EXPECTED-REPORT RC: the run went well.
stdin_ok() {
    assertEquals "$1: exit status" 0 "$3"
    assertEquals "$1: the peer got stdin, then EOF" "$2" "$(tc_report rep)"
    assertEquals "$1: stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "$1: stderr" "" "$(cat err)"
}

testStdinPipe() {
    stdin_peer || { fail "peer"; return; }
    cat "$DATA" | sc connect 127.0.0.1 "$TC_PEER_PORT" >out 2>err
    stdin_ok pipe "$(tc_expect "$DATA")" "${PIPESTATUS[1]}"
}

testStdinFile() {
    stdin_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <"$DATA" >out 2>err
    local rc=$?
    stdin_ok file "$(tc_expect "$DATA")" "$rc"
}

testStdinFileFromItsOffset() {
    stdin_peer || { fail "peer"; return; }
    tail -c +1001 "$DATA" >rest
    {
        head -c 1000 >/dev/null
        sc connect 127.0.0.1 "$TC_PEER_PORT" >out 2>err
    } <"$DATA"
    local rc=$?
    stdin_ok "file read by someone else first" "$(tc_expect rest)" "$rc"
}

testStdinDevNull() {
    stdin_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" </dev/null >out 2>err
    stdin_ok /dev/null "0 $EMPTY_SUM eof" $?
}

testStdinSocket() {
    stdin_peer || { fail "peer"; return; }
    timeout "$TH_TIMEOUT" python3 "$TC_PEER" stdio --stdin "$DATA" -- \
        "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" >out 2>err
    local rc=$?
    stdin_ok socket "$(tc_expect "$DATA")" "$rc"
}

testStdinNamedFifoWriterAlreadyGone() {
    # The writer wrote and closed the FIFO before sockcat started: what it
    # wrote is still in the FIFO, followed by EOF.
    printf 'written before sockcat started\n' >text
    mkfifo in.fifo
    { cat text >in.fifo; touch written; } &
    stdin_peer || { fail "peer"; return; }
    (
        exec <in.fifo
        tc_hold written 10
        exec timeout 5 "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" \
            >out 2>err
    )
    local rc=$?
    stdin_ok "named FIFO, writer gone" "$(tc_expect text)" "$rc"
}

testStdinClosed() {
    stdin_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <&- >out 2>err
    stdin_ok closed "0 $EMPTY_SUM eof" $?
}

testStdinAndStdoutClosed() {
    tc_peer_listen --send "$DATA" --report rep || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <&- >&- 2>err
    assertEquals "exit status" 0 $?
    assertEquals "the peer got EOF" "0 $EMPTY_SUM eof" "$(tc_report rep)"
    assertEquals "stderr" "" "$(cat err)"
}

# tty_stdin TEXT-FILE PEER-GATE SCRIPT-COMMAND: types TEXT-FILE into a new
# terminal running SCRIPT-COMMAND; once the peer got it all, types ^D, then
# keeps the terminal open until PEER-GATE exists (or for TH_TIMEOUT). Runs
# in the background; SCRIPT-COMMAND should write its status to rc.
tty_stdin() {
    local text=$1 gate=$2 cmd=$3
    {
        {
            cat "$text"
            tc_wait_size got "$(stat -c %s "$text")"
            [ "$gate" = eof ] && printf '\004'
            tc_hold gate.tty
        } | in_script "$cmd" >/dev/null
    } &
}

# The peer answers only after the ^D: with a terminal on stdin, sockcat ends
# at the peer's EOF (see the next test), which could otherwise come between
# the two typed lines.
testStdinTerminal() {
    printf 'line one\nline two\n' >lines
    tc_peer_listen --send-after eof --send "$SMALL" --save got --report rep ||
        { fail "peer"; return; }
    tty_stdin lines eof "stty -g >before; '$SOCKCAT' connect 127.0.0.1 \
        $TC_PEER_PORT >out 2>err; echo \$? >rc; stty -g >after"
    assertTrue "sockcat ends" "th_wait_file rc"
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "the peer got the typed lines, then EOF (^D)" \
        "$(tc_expect lines)" "$(tc_report rep)"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "terminal settings restored" "$(cat before)" "$(cat after)"
    assertEquals "stderr" "" "$(cat err)"
    touch gate.tty
}

testStdinTerminalPeerEofEndsAtOnce() {
    printf 'line one\nline two\n' >lines
    tc_peer_listen --send-after 18 --send "$SMALL" --save got ||
        { fail "peer"; return; }
    tty_stdin lines open "'$SOCKCAT' connect 127.0.0.1 $TC_PEER_PORT \
        >out 2>err; echo \$? >rc"
    assertTrue "sockcat ends at peer EOF though the terminal is open" \
        "th_wait_file rc"
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "the peer got the typed lines" "$(cat lines)" "$(cat got)"
    assertEquals "stdout" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err)"
    touch gate.tty
}

# -- stdout kinds (stdin a file) ----------------------------------------------

# stdout_peer: a peer that sends DATA and reports what it got.
stdout_peer() { tc_peer_listen --send "$DATA" --report rep; }

# stdout_ok WHAT RC: the run went well (stdout itself checked by the caller).
stdout_ok() {
    assertEquals "$1: exit status" 0 "$2"
    assertEquals "$1: the peer got stdin, then EOF" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
    assertEquals "$1: stderr" "" "$(cat err)"
}

testStdoutPipe() {
    stdout_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" 2>err | cat >out
    stdout_ok pipe "${PIPESTATUS[0]}"
    assertEquals "pipe: stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testStdoutFile() {
    stdout_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" >out 2>err
    stdout_ok file $?
    assertEquals "file: stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testStdoutFileAppend() {
    stdout_peer || { fail "peer"; return; }
    printf 'first\n' >out
    { printf 'first\n'; cat "$DATA"; } >want
    sc connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" >>out 2>err
    stdout_ok "file in append mode" $?
    assertEquals "append: stdout" "$(th_sum want)" "$(th_sum out)"
}

testStdoutFileSharedWithSiblings() {
    stdout_peer || { fail "peer"; return; }
    { printf 'before\n'; cat "$DATA"; printf 'after\n'; } >want
    {
        printf 'before\n'
        sc connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" 2>err
        echo $? >rc
        printf 'after\n'
    } >out
    stdout_ok "file shared with siblings" "$(cat rc)"
    assertEquals "shared file: the bytes in order" "$(th_sum want)" \
        "$(th_sum out)"
}

testStdoutDevNull() {
    stdout_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" >/dev/null 2>err
    stdout_ok /dev/null $?
}

testStdoutSocket() {
    stdout_peer || { fail "peer"; return; }
    timeout "$TH_TIMEOUT" python3 "$TC_PEER" stdio --stdout out -- \
        "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" 2>err
    stdout_ok socket $?
    assertEquals "socket: stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testStdinAndStdoutSockets() {
    stdout_peer || { fail "peer"; return; }
    timeout "$TH_TIMEOUT" python3 "$TC_PEER" stdio --stdin "$SMALL" \
        --stdout out -- "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" 2>err
    stdout_ok "two sockets" $?
    assertEquals "socket: stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testStdoutClosed() {
    stdout_peer || { fail "peer"; return; }
    sc connect 127.0.0.1 "$TC_PEER_PORT" <"$SMALL" >&- 2>err
    stdout_ok closed $?
}

testStdoutTerminal() {
    printf 'hello terminal\nsecond line\n' >text
    tc_peer_listen --send text --report rep || { fail "peer"; return; }
    in_script "stty -g >before; '$SOCKCAT' connect 127.0.0.1 $TC_PEER_PORT \
        <'$SMALL' 2>err; echo \$? >rc; stty -g >after" </dev/null >tty.out
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "the terminal shows the peer's text" "$(cat text)" \
        "$(tr -d '\r' <tty.out)"
    assertEquals "the peer got stdin" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
    assertEquals "terminal settings restored" "$(cat before)" "$(cat after)"
    assertEquals "stderr" "" "$(cat err)"
}

# -- O_NONBLOCK on shared pipes -----------------------------------------------

testNoNonblockLeftOnPipes() {
    tc_peer_listen --send "$DATA" --report rep || { fail "peer"; return; }
    cat "$SMALL" | {
        sc connect 127.0.0.1 "$TC_PEER_PORT" 2>err
        echo $? >rc
        nonblock_of 0 flag.in
        nonblock_of 1 flag.out
    } | cat >out
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "stdin pipe after the run" block "$(cat flag.in)"
    assertEquals "stdout pipe after the run" block "$(cat flag.out)"
    assertEquals "stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testNoNonblockLeftAfterReset() {
    tc_peer_listen --no-read --send "$SMALL" --then reset ||
        { fail "peer"; return; }
    {
        cat "$SMALL"
        tc_hold gate.in 5
    } | {
        sc connect 127.0.0.1 "$TC_PEER_PORT" 2>err
        echo $? >rc
        nonblock_of 0 flag.in
        nonblock_of 1 flag.out
        touch gate.in
    } | cat >out
    assertEquals "exit status" 1 "$(cat rc)"
    assertContains "message" "$(cat err)" "Connection reset by peer"
    assertEquals "stdin pipe after an error" block "$(cat flag.in)"
    assertEquals "stdout pipe after an error" block "$(cat flag.out)"
}

testNoNonblockLeftAfterStdoutReaderGone() {
    tc_peer_listen --no-read --send /dev/zero || { fail "peer"; return; }
    {
        sc connect 127.0.0.1 "$TC_PEER_PORT" </dev/null 2>err
        echo $? >rc
        nonblock_of 1 flag.out
    } | head -c 10 >/dev/null
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "stdout pipe after EPIPE" block "$(cat flag.out)"
}

testStdinPipeSiblingSeesNoNonblock() {
    tc_peer_listen --save got --report rep || { fail "peer"; return; }
    {
        printf 'start'
        tc_hold gate.in
    } | {
        sc connect 127.0.0.1 "$TC_PEER_PORT" <&0 >out 2>err &
        th_wait_file got
        nonblock_of 0 flag.in
        touch gate.in
        wait $!
        echo $? >rc
    }
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "the peer got stdin" "start" "$(cat got)"
    assertEquals "a sibling sharing stdin during the run" block \
        "$(cat flag.in)"
}

testStdoutPipeSiblingGetsNoEagain() {
    tc_peer_listen --send "$SMALL" --then-when gate.peer --report rep ||
        { fail "peer"; return; }
    {
        sc connect 127.0.0.1 "$TC_PEER_PORT" </dev/null 2>err &
        local pid=$!
        tc_hold first.done
        # A big write into the shared pipe: blocking, it waits for the
        # reader and writes it all; with O_NONBLOCK it would come back short.
        python3 -c '
import fcntl, os, sys
fl = fcntl.fcntl(1, fcntl.F_GETFL) & os.O_NONBLOCK
try:
    res = "wrote %d" % os.write(1, b"x" * 1048576)
except BlockingIOError:
    res = "EAGAIN"
open(sys.argv[1], "w").write("%s %s" % ("nonblock" if fl else "block", res))
' sibling
        touch gate.peer
        wait "$pid"
        echo $? >rc
    } | {
        head -c 1000 >first
        touch first.done
        cat >rest
    }
    assertEquals "exit status" 0 "$(cat rc)"
    assertEquals "stdout got the peer's bytes first" "$(th_sum "$SMALL")" \
        "$(th_sum first)"
    assertEquals "a sibling writing to stdout during the run" \
        "block wrote 1048576" "$(cat sibling)"
}

# -- SIGPIPE ------------------------------------------------------------------

testStdoutReaderGoneEndsQuietly() {
    local t0 ms rcs
    mkfifo in.fifo
    tc_feed in.fifo wait:gate.in
    tc_peer_listen --no-read --send /dev/zero || { fail "peer"; return; }
    t0=$(tc_ms)
    dfl_sigpipe timeout 10 "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" \
        <in.fifo 2>err | head -c 10 >out
    rcs=("${PIPESTATUS[@]}")
    ms=$(($(tc_ms) - t0))
    touch gate.in
    assertEquals "exit status (141: killed by SIGPIPE)" 0 "${rcs[0]}"
    assertEquals "nothing on stderr" "" "$(cat err)"
    assertEquals "head got its 10 bytes" 10 "$(stat -c %s out)"
    assertTrue "ends promptly, with stdin still open (took $ms ms)" \
        "[ $ms -lt 3000 ]"
}

testStdoutReaderGoneAsServer() {
    (
        dfl_sigpipe timeout 10 "$SOCKCAT" listen --ready-fd 3 127.0.0.1 0 \
            </dev/null 2>err 3>ready | head -c 10 >out
        echo "${PIPESTATUS[0]}" >rc
    ) &
    th_wait_file ready || { fail "listen"; return; }
    tc_peer_connect "$(cat ready)" --no-read --send /dev/zero
    assertTrue "sockcat ends" "th_wait_file rc"
    assertEquals "exit status (141: killed by SIGPIPE)" 0 "$(cat rc)"
    assertEquals "nothing on stderr" "" "$(cat err)"
    assertEquals "head got its 10 bytes" 10 "$(stat -c %s out)"
}

. "$th_shunit2"
