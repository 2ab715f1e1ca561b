#!/bin/bash
# Messages on stderr: a stderr nobody reads never stops the conversation or
# a signal (what does not fit is counted and the count told once stderr
# drains); echoed operands cannot forge a line; long operands keep their
# end (the port, the reason); the -P live line never erases received text
# on the terminal it shares with stdout.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_keepopen.sh"

TH_TIMEOUT=30
KO_LIMIT=20

setUp() {
    ko_setup
    KO_TMUX=
    DG_FIFO_OPEN=
}

tearDown() {
    [ -n "$KO_TMUX" ] && timeout 5 tmux -L "$KO_TMUX" kill-server 2>/dev/null
    ko_cleanup
    [ -n "$DG_FIFO_OPEN" ] && exec 9>&-
    DG_FIFO_OPEN=
}

# dg_ms: milliseconds of a monotonic clock.
dg_ms() { echo $(($(date +%s%N) / 1000000)); }

# dg_short_connections PORT COUNT: COUNT clients that connect and close at
# once, one after the other (bounded: a listener that stopped accepting
# makes the attempts give up, not hang).
dg_short_connections() {
    timeout 30 python3 - "$1" "$2" <<'EOF'
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        sys.exit(1)
EOF
}

# dg_stalled_listener: `listen -k -v` with stderr a FIFO that nobody reads
# (fd 9 holds it open, so writes fill it and then would block), then
# enough short connections that their messages overflow the FIFO and the
# backlog. Sets TH_PID, TH_PORT, DG_FIFO.
dg_stalled_listener() {
    DG_FIFO=$KO_DIR/err.fifo
    mkfifo "$DG_FIFO"
    exec 9<>"$DG_FIFO"
    DG_FIFO_OPEN=1
    th_listen "$KO_DIR/out" "$DG_FIFO" -k -v || return 1
    dg_short_connections "$TH_PORT" 3000 ||
        echo "dg_stalled_listener: the short connections did not all get through" >&2
    return 0
}

# dg_served: a client sends 256 KiB and half-closes; sockcat's stdout must
# hold exactly those bytes.
dg_served() {
    ko_client c 127.0.0.1 "$TH_PORT" --send-stream "lower:7:262144" --shut
    ko_wait_client c 10 || { fail "the client did not finish: not served"; return 1; }
    ko_wait_size "$KO_DIR/out" 262144 10
    assertEquals "the client's bytes reached stdout" "$(ko_field c sha_sent)" \
        "$(th_sum "$KO_DIR/out")"
}

testStalledStderrDoesNotStopServiceOrSignals() {
    local t0 ms limit=2000
    # Sanitizers make the ending (their leak check) slower.
    th_sanitized && limit=6000
    dg_stalled_listener || { fail "listener did not start"; return; }
    dg_served
    t0=$(dg_ms)
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID" 10
    ms=$(($(dg_ms) - t0))
    TH_PID=
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    assertTrue "ended within $limit ms of SIGTERM (took $ms ms)" "[ $ms -lt $limit ]"
}

testDroppedMessagesAreCountedOnceStderrDrains() {
    local got=$KO_DIR/err.got n
    dg_stalled_listener || { fail "listener did not start"; return; }
    dg_served
    # Someone reads stderr now: the backlog, then the count, come out.
    ko_bg sh -c 'exec cat "$1" >"$2"' sh "$DG_FIFO" "$got"
    ko_wait_grep "$got" \
        '^sockcat: [0-9]+ messages dropped \(stderr was not being read\)$' 10
    assertTrue "the drop count is told: $(grep -v 'connection from\|closed ' "$got" | head -3)" \
        "grep -qE '^sockcat: [0-9]+ messages dropped \(stderr was not being read\)$' '$got'"
    n=$(grep -oE '^sockcat: [0-9]+ messages dropped' "$got" | grep -oE '[0-9]+' | head -1)
    assertTrue "some messages were dropped ($n)" "[ ${n:-0} -gt 0 ]"
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    assertEquals "every line read is a whole message" 0 \
        "$(grep -cv '^sockcat: ' "$got")"
}

testOperandCannotForgeALine() {
    timeout 10 "$SOCKCAT" connect $'127.0.0.1\nsockcat: fake line\r\033[2K' 80 \
        </dev/null >"$KO_DIR/out" 2>"$KO_DIR/err"
    assertEquals "exit status" 1 $?
    assertEquals "one line on stderr: $(cat -A "$KO_DIR/err")" 1 \
        "$(wc -l <"$KO_DIR/err")"
    assertEquals "no control character on stderr" 0 \
        "$(tr -d '\n' <"$KO_DIR/err" | tr -cd '\000-\037\177' | wc -c)"
    assertTrue "the operand is shown escaped: $(cat "$KO_DIR/err")" \
        "grep -qF 'resolve 127.0.0.1\\nsockcat: fake line\\r\\x1b[2K: ' '$KO_DIR/err'"
}

testUsageErrorEscapesInvalidUtf8() {
    timeout 10 "$SOCKCAT" listen --stats $'a\xff\xc2\x9bb\xc3\xa9' 127.0.0.1 0 \
        </dev/null >/dev/null 2>"$KO_DIR/err"
    assertEquals "exit status" 2 $?
    assertEquals "message" \
        "sockcat: invalid stats format 'a\\xff\\xc2\\x9bbé': must be text or json" \
        "$(head -n1 "$KO_DIR/err")"
}

testLongOperandKeepsItsEnd() {
    local long
    long=$(head -c 5000 /dev/zero | tr '\0' x)
    timeout 10 "$SOCKCAT" listen --stats "$long" 127.0.0.1 0 \
        </dev/null >/dev/null 2>"$KO_DIR/err"
    assertEquals "exit status" 2 $?
    assertEquals "two lines" 2 "$(wc -l <"$KO_DIR/err")"
    assertTrue "the reason stays: $(head -n1 "$KO_DIR/err" | tail -c 60)" \
        "head -n1 '$KO_DIR/err' | grep -qE \"^sockcat: invalid stats format 'x+\\.\\.\\.x+': must be text or json\$\""
}

testLongHostKeepsItsPort() {
    local port host
    port=$(th_free_port)
    # 253 characters that name 127.0.0.1 (leading zeros: octal 0177).
    host="$(head -c 244 /dev/zero | tr '\0' 0)177.0.0.1"
    timeout 10 "$SOCKCAT" connect "$host" "$port" </dev/null >/dev/null 2>"$KO_DIR/err"
    assertEquals "exit status" 1 $?
    assertTrue "the port and the reason stay: $(tail -c 60 "$KO_DIR/err")" \
        "grep -qE '^sockcat: connect to 0+(\\.\\.\\.)?0*177\\.0\\.0\\.1 $port: Connection refused\$' '$KO_DIR/err'"
}

# dg_pane: what the tmux pane shows, wrapped lines joined, with history.
dg_pane() {
    timeout 5 tmux -L "$KO_TMUX" capture-pane -p -J -S -100 -t ko
}

# dg_wait_pane ERE [SECS]: waits until a line of the pane that is not a
# command line (those start with the prompt, "$ ") matches ERE.
dg_wait_pane() {
    local i limit=${2:-10}
    for i in $(seq 1 $((limit * 20))); do
        dg_pane | grep -v '^\$ .' | grep -qE -- "$1" && return 0
        sleep 0.05
    done
    return 1
}

testProgressKeepsReceivedTextWithoutNewline() {
    if ! command -v tmux >/dev/null; then
        startSkipping
        fail "tmux is not installed"
        return
    fi
    local run=$KO_DIR/run.sh pane
    cat >"$run" <<EOF
exec "$SOCKCAT" listen -P --ready-fd 3 127.0.0.1 0 </dev/null 3>"$KO_DIR/ready"
EOF
    KO_TMUX=sockcat-dg-$$-$RANDOM
    timeout 5 tmux -L "$KO_TMUX" -f /dev/null new-session -d -x 100 -y 10 \
        -s ko "env PS1='\$ ' bash --norc --noprofile" ||
        { fail "tmux did not start"; return; }
    dg_wait_pane '^\$ ?$' 5 || fail "no shell prompt in the pane"
    timeout 5 tmux -L "$KO_TMUX" send-keys -t ko \
        "timeout 20 bash $run; echo dg-rc=\$?" Enter
    th_wait_file "$KO_DIR/ready" || { fail "sockcat did not listen"; return; }
    # A prompt without a newline, then (once the live line has been drawn
    # over a few ticks) the rest.
    cat >"$KO_DIR/client.py" <<'EOF'
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"dg-partial-text")
while not os.path.exists(sys.argv[2]):
    time.sleep(0.02)
s.sendall(b"dg-rest\n")
s.shutdown(socket.SHUT_WR)
while s.recv(4096):
    pass
EOF
    ko_bg python3 "$KO_DIR/client.py" "$(head -n1 "$KO_DIR/ready")" "$KO_DIR/go"
    dg_wait_pane 'received 15 B' 5 || fail "no live line: $(dg_pane | tr -s '\n' '|')"
    sleep 0.3  # a few more redraws (every 100 ms) that must not erase it
    assertTrue "the received text is still on screen: $(dg_pane | tr -s '\n' '|')" \
        "dg_pane | grep -q '^dg-partial-text'"
    touch "$KO_DIR/go"
    dg_wait_pane '^dg-rc=' 10 || fail "sockcat did not end"
    pane=$(dg_pane)
    assertTrue "all the received text is on screen: $(echo "$pane" | tr -s '\n' '|')" \
        "echo \"\$pane\" | grep -q '^dg-partial-text' && echo \"\$pane\" | grep -q 'dg-rest\$'"
    assertTrue "exit status 0, on a line of its own: $(echo "$pane" | tr -s '\n' '|')" \
        "echo \"\$pane\" | grep -qx 'dg-rc=0'"
}

. "$th_shunit2"
