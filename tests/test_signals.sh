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
# 10 000 SIGUSR1 in a burst during a transfer and while sockcat ends: the
# bytes are the same, the status is 0 (never death by SIGUSR1), stderr has
# nothing but figure lines.

testSigusr1BurstChangesNothingButStderr() {
    local sc
    tc_peer_listen --send-when go --send "$SMALL" --report rep --addr addr || { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    # Connected: sockcat watches its signals by then.
    th_wait_file addr || { fail "sockcat did not connect"; return; }
    sc=$(tc_child "$TC_PID")
    # 10 000 at least, and on until sockcat has gone: its ending too.
    python3 - "$sc" "$TC_T/go" >sent <<'PY'
import os, signal, sys, time
pid, gate = int(sys.argv[1]), sys.argv[2]
sent, limit = 0, time.monotonic() + 15
while time.monotonic() < limit:
    if sent == 100:
        open(gate, "w").close()   # the peer sends and ends mid-burst
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        break                     # it ended and was reaped
    sent += 1
    try:
        if sent >= 10000 and open("/proc/%d/stat" % pid).read().split()[2] == "Z":
            break
    except OSError:
        break
print(sent)
PY
    assertEquals "python sent the burst" 0 $?
    tc_wait_gone "$TC_PID" 15 || fail "still running"
    wait "$TC_PID"
    assertEquals "exit status" 0 $?
    assertEquals "the peer got stdin whole" "$(tc_expect "$BIG")" "$(tc_report rep)"
    assertEquals "stdout whole" "$(th_sum "$SMALL")" "$(th_sum out)"
    local lines other
    lines=$(wc -l <err)
    other=$(grep -cEv "$SG_SUMMARY" err)
    assertTrue "at least one figures line, at most one a signal ($lines for $(cat sent))" \
        "[ $lines -ge 1 ] && [ $lines -le $(cat sent) ]"
    assertEquals "nothing but figures lines: $(grep -Ev "$SG_SUMMARY" err | head -n3)" 0 "$other"
}

#--------------------------------------------------------------------------
# In a real terminal (tmux). Readiness is what the pane shows, polled.

# sg_tmux_start: a tmux server of its own with a bash (prompt "$ ") in
# session "sg"; skips the test when tmux is not there.
sg_tmux_start() {
    if ! command -v tmux >/dev/null; then
        startSkipping
        fail "tmux is not installed"
        return 1
    fi
    SG_TMUX=sockcat-sg-$$-$RANDOM
    timeout 5 tmux -L "$SG_TMUX" -f /dev/null new-session -d -x 120 -y 20 \
        -s sg "env PS1='\$ ' bash --norc --noprofile" ||
        { fail "tmux did not start"; return 1; }
    sg_wait_pane '^\$ ?$' 5 || { fail "no shell prompt in the pane"; return 1; }
    SG_TTY=$(timeout 5 tmux -L "$SG_TMUX" display-message -p -t sg '#{pane_tty}')
}

# sg_keys KEYS...: types into the pane.
sg_keys() { timeout 5 tmux -L "$SG_TMUX" send-keys -t sg "$@"; }

# sg_pane: what the pane shows, wrapped lines joined, with history.
sg_pane() { timeout 5 tmux -L "$SG_TMUX" capture-pane -p -J -S -200 -t sg; }

# sg_wait_pane ERE [SECS]: waits until a line of the pane that is not a
# command line (those start with the prompt, "$ ") matches ERE.
sg_wait_pane() {
    local i limit=${2:-10}
    for i in $(seq 1 $((limit * 20))); do
        sg_pane | grep -v '^\$ .' | grep -qE -- "$1" && return 0
        sleep 0.05
    done
    return 1
}

# sg_run MARK COMMAND: runs COMMAND in the pane and waits for it to finish.
sg_run() {
    sg_keys "$2; echo sg-$1-done" Enter
    sg_wait_pane "^sg-$1-done\$" 5 || fail "the pane did not run: $2"
}

# sg_state PID: the one-letter state of PID (T: stopped).
sg_state() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null; }

# sg_wait_state PID ERE: waits until the state of PID matches ERE.
sg_wait_state() {
    local i
    for i in $(seq 1 200); do
        sg_state "$1" | grep -qE "$2" && return 0
        sleep 0.025
    done
    return 1
}

# sg_wait_content FILE TEXT: waits until FILE holds exactly TEXT.
sg_wait_content() {
    local i
    for i in $(seq 1 $((TH_TIMEOUT * 20))); do
        [ "$(cat "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

testCtrlZAndFgKeepTerminalAndConversation() {
    sg_tmux_start || return 0
    local sc
    printf 'sg-reply-text\n' >reply
    tc_peer_listen --save got --send-when reply-go --send reply --addr addr ||
        { fail "peer"; return; }
    sg_run before "stty -g >$TC_T/stty.before"
    # One job (bash -c): Ctrl-Z stops it whole, not just sockcat.
    sg_keys "bash -c '$SOCKCAT connect 127.0.0.1 $TC_PEER_PORT; echo sg-rc=\$?'" Enter
    th_wait_file addr || { fail "sockcat did not connect"; return; }
    sc=$(pgrep -f "^$SOCKCAT connect 127.0.0.1 $TC_PEER_PORT\$" | head -n1)
    [ -n "$sc" ] || { fail "no sockcat process"; return; }
    assertEquals "sockcat leaves the terminal's settings alone while it runs" \
        "$(cat stty.before)" "$(stty -g -F "$SG_TTY")"
    sg_keys "one" Enter
    sg_wait_content got "one" || fail "the peer did not get the first line: $(cat got)"
    sg_keys C-z
    sg_wait_state "$sc" '^T$' || fail "Ctrl-Z did not stop sockcat"
    sg_wait_pane 'Stopped' 5 || fail "the shell did not report the stop"
    sg_run stopped "stty -g >$TC_T/stty.stopped"
    assertEquals "terminal settings while stopped" "$(cat stty.before)" "$(cat stty.stopped)"
    sg_keys "fg" Enter
    sg_wait_state "$sc" '^[RS]$' || fail "fg did not continue sockcat"
    sg_keys "two" Enter
    sg_wait_content got "$(printf 'one\ntwo')" || fail "the peer did not get the second line: $(cat got)"
    touch reply-go
    sg_wait_pane '^sg-reply-text$' 5 || fail "the reply did not reach the terminal"
    sg_wait_pane '^sg-rc=' 10 || fail "sockcat did not end: $(sg_pane | tr -s '\n' '|')"
    assertTrue "exit status 0: $(sg_pane | tr -s '\n' '|')" "sg_pane | grep -qx 'sg-rc=0'"
    sg_run after "stty -g >$TC_T/stty.after"
    assertEquals "terminal settings after" "$(cat stty.before)" "$(cat stty.after)"
    sg_run echo "echo sg-prompt-ok"
    assertTrue "the prompt is usable after exit" "sg_pane | grep -qx 'sg-prompt-ok'"
}

testSecondCtrlCDuringFlushStopsAtOnce() {
    sg_tmux_start || return 0
    local start second took
    mkfifo fifo
    # Holds the FIFO's read end and never reads: stdout fills up.
    exec 9<>fifo
    tc_peer_listen --send "$BIG" --then keep --hold gate || { exec 9>&-; fail "peer"; return; }
    # The copying path: spliced, the bytes would wait in the kernel, not in
    # sockcat, and there would be nothing to flush.
    sg_keys "$SOCKCAT connect -v --no-zerocopy 127.0.0.1 $TC_PEER_PORT </dev/null >$TC_T/fifo; echo sg-rc=\$?" Enter
    sg_wait_pane '^sockcat: connected to ' 10 || { exec 9>&-; fail "sockcat did not connect"; return; }
    sg_wait_fifo_full fifo || fail "stdout did not fill up"
    start=$(tc_ms)
    sg_keys C-c
    sg_wait_pane "sockcat: stopping on signal 2\$" 5 || fail "the first Ctrl-C was not seen: $(sg_pane | tr -s "\n" "|")"
    second=$(( $(tc_ms) - start ))
    sg_keys C-c
    sg_wait_pane '^sg-rc=' 5 || fail "sockcat did not end"
    took=$(( $(tc_ms) - start ))
    exec 9>&-
    assertTrue "status 130: $(sg_pane | tr -s '\n' '|')" "sg_pane | grep -qx 'sg-rc=130'"
    # One Ctrl-C alone waits 3 s for stdout; the second cuts that short.
    # (On a machine so loaded that the second came late, that cannot show.)
    if [ "$second" -lt 1500 ]; then
        assertTrue "ended before the 3 s flush limit ($took ms after the first Ctrl-C, the second at $second ms)" \
            "[ $took -lt 2700 ]"
    else
        echo "note: the second Ctrl-C came $second ms after the first: too late to time" >&2
    fi
    assertTrue "says what it did not write: $(sg_pane | tr -s '\n' '|')" \
        "sg_pane | grep -Eqx 'sockcat: stopped on signal 2: [0-9]+ B received were not written to stdout'"
}

# sg_wait_fifo_full FIFO: waits until the FIFO holds 64 KiB unread.
sg_wait_fifo_full() {
    timeout 10 python3 - "$1" <<'PY'
import fcntl, os, struct, sys, termios, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
while True:
    n = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    if n >= 65536:
        break
    time.sleep(0.02)
PY
}

. "$th_shunit2"
