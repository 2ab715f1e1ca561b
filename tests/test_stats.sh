#!/bin/bash
# Figures and readiness: the -v end-of-conversation line and its units,
# --stats text|json, the SIGUSR1 snapshot, --ready-fd, -P/--progress (off
# when stderr is not a terminal, live in a real terminal under tmux), and
# the usage errors of these options.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_keepopen.sh"

TH_TIMEOUT=30
KO_LIMIT=20

setUp() {
    ko_setup
    KO_TMUX=
}

tearDown() {
    [ -n "$KO_TMUX" ] && timeout 5 tmux -L "$KO_TMUX" kill-server 2>/dev/null
    ko_cleanup
}

# ko_file FILE BYTES: FILE made of BYTES random bytes.
ko_file() { head -c "$2" /dev/urandom >"$1"; }

# ko_one_shot STDIN_BYTES CLIENT_BYTES [listen options...]: a one-shot
# listener whose stdin holds STDIN_BYTES and a client that sends
# CLIENT_BYTES, half-closes and reads to EOF. Waits for both to end; sets
# TH_RC. Files: $KO_DIR/out, $KO_DIR/err, client "c".
ko_one_shot() {
    local in=$KO_DIR/stdin.bin send=$KO_DIR/send.bin
    ko_file "$in" "$1"
    ko_file "$send" "$2"
    shift 2
    TH_STDIN=$in th_listen "$KO_DIR/out" "$KO_DIR/err" "$@" ||
        { fail "listener did not start"; return 1; }
    ko_client c 127.0.0.1 "$TH_PORT" --send-file "$send" --shut
    ko_wait_client c || fail "the client did not finish"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    assertEquals "client received sockcat's stdin" "$(th_sum "$in")" \
        "$(ko_field c sha_received)"
    assertEquals "sockcat's stdout is what the client sent" \
        "$(th_sum "$send")" "$(th_sum "$KO_DIR/out")"
}

#--------------------------------------------------------------------------
# -v end-of-conversation line

testVerboseSummaryUsesHumanUnits() {
    ko_one_shot $((1 << 20)) 1024 -v || return
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "one summary line" 1 "$(ko_count "$KO_DIR/err" "$KO_SUMMARY_RE")"
    assertTrue "1 MiB sent and 1 KiB received: $(tail -n1 "$KO_DIR/err")" \
        "tail -n1 '$KO_DIR/err' | grep -qE '^sockcat: 1\\.00 MiB sent, 1\\.00 KiB received in '"
}

testVerboseSummaryBytesBelowOneKiB() {
    ko_one_shot 1023 0 -v || return
    assertEquals "exit status" 0 "$TH_RC"
    assertTrue "1023 B sent and 0 B received: $(tail -n1 "$KO_DIR/err")" \
        "tail -n1 '$KO_DIR/err' | grep -qE '^sockcat: 1023 B sent, 0 B received in '"
    assertEquals "summary line format" 1 \
        "$(tail -n1 "$KO_DIR/err" | ko_count /dev/stdin "$KO_SUMMARY_RE")"
}

testVerboseSummaryOnConnectSide() {
    local in=$KO_DIR/stdin.bin
    ko_file "$in" $((3 << 19))
    TH_STDIN=$in th_listen "$KO_DIR/out" "$KO_DIR/err" ||
        { fail "listener did not start"; return; }
    timeout 10 "$SOCKCAT" connect -v 127.0.0.1 "$TH_PORT" </dev/null \
        >"$KO_DIR/cout" 2>"$KO_DIR/cerr"
    assertEquals "connect: exit status" 0 "$?"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    assertEquals "connect: received the listener's stdin" "$(th_sum "$in")" \
        "$(th_sum "$KO_DIR/cout")"
    assertTrue "connect: 0 B sent, 1.50 MiB received: $(tail -n1 "$KO_DIR/cerr")" \
        "tail -n1 '$KO_DIR/cerr' | grep -qE '^sockcat: 0 B sent, 1\\.50 MiB received in '"
    assertEquals "connect: summary line format" 1 \
        "$(tail -n1 "$KO_DIR/cerr" | ko_count /dev/stdin "$KO_SUMMARY_RE")"
}

#--------------------------------------------------------------------------
# --stats

testStatsJsonOneShot() {
    local fields
    ko_one_shot $(((1 << 20) + 7)) 3000 --stats json || return
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stderr is the JSON line alone" 1 \
        "$(wc -l <"$KO_DIR/err")"
    fields=$(ko_tool json "$KO_DIR/err" sent received connections seconds)
    rc=$?
    assertTrue "one JSON object on stderr: $(cat "$KO_DIR/err")" "$rc"
    assertEquals "sent, received, connections" "1048583 3000 1" \
        "$(echo "$fields" | head -n3 | tr '\n' ' ' | sed 's/ $//')"
    assertTrue "seconds is a number >= 0 ($(echo "$fields" | tail -n1))" \
        "python3 -c 'import sys; v = float(sys.argv[1]); sys.exit(not v >= 0)' \
        '$(echo "$fields" | tail -n1)'"
}

testStatsJsonConnect() {
    local in=$KO_DIR/stdin.bin send=$KO_DIR/send.bin fields
    ko_file "$in" 5000
    ko_file "$send" 70000
    TH_STDIN=$in th_listen "$KO_DIR/out" "$KO_DIR/err" ||
        { fail "listener did not start"; return; }
    timeout 10 "$SOCKCAT" connect --stats json 127.0.0.1 "$TH_PORT" \
        <"$send" >"$KO_DIR/cout" 2>"$KO_DIR/cerr"
    assertEquals "connect: exit status" 0 "$?"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    fields=$(ko_tool json "$KO_DIR/cerr" sent received connections)
    rc=$?
    assertTrue "one JSON object on stderr: $(cat "$KO_DIR/cerr")" "$rc"
    assertEquals "sent, received, connections" "70000 5000 1" \
        "$(echo "$fields" | tr '\n' ' ' | sed 's/ $//')"
}

testStatsJsonKeepOpenAndSigusr1() {
    local err=$KO_DIR/err fields
    th_listen "$KO_DIR/out" "$err" -k --stats json ||
        { fail "listener did not start"; return; }
    ko_client a 127.0.0.1 "$TH_PORT" --send-text "$(printf '%01000d' 0)" --shut
    ko_client b 127.0.0.1 "$TH_PORT" --send-text "$(printf '%02000d' 0)" --shut
    ko_client c 127.0.0.1 "$TH_PORT" --send-text "$(printf '%04000d' 0)" --shut
    ko_wait_client a && ko_wait_client b && ko_wait_client c
    ko_wait_size "$KO_DIR/out" 7000 10 || fail "7000 bytes did not reach stdout"
    ko_signal USR1
    ko_wait_grep "$err" "$KO_SUMMARY_START" 5 || fail "no snapshot after SIGUSR1"
    assertTrue "snapshot: 6.84 KiB received: $(grep -E "$KO_SUMMARY_START" "$err")" \
        "grep -qE '^sockcat: 0 B sent, 6\\.84 KiB received in ' '$err'"
    assertEquals "snapshot line format: $(grep -E "$KO_SUMMARY_START" "$err")" \
        1 "$(ko_count "$err" "$KO_SUMMARY_RE")"
    assertTrue "-k listener still running after SIGUSR1" "kill -0 $TH_PID"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    fields=$(ko_tool json "$err" received connections)
    rc=$?
    assertTrue "one JSON object on stderr: $(cat "$err")" "$rc"
    assertEquals "received, connections" "7000 3" \
        "$(echo "$fields" | tr '\n' ' ' | sed 's/ $//')"
}

testStatsText() {
    ko_one_shot 2048 0 --stats text || return
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stderr is the summary alone" 1 "$(wc -l <"$KO_DIR/err")"
    assertTrue "2.00 KiB sent, 0 B received: $(cat "$KO_DIR/err")" \
        "grep -qE '^sockcat: 2\\.00 KiB sent, 0 B received in ' '$KO_DIR/err'"
    assertEquals "summary line format" 1 \
        "$(ko_count "$KO_DIR/err" "$KO_SUMMARY_RE")"
}

#--------------------------------------------------------------------------
# SIGUSR1

testSigusr1SnapshotKeepsTransferWhole() {
    local err=$KO_DIR/err size=$((4 << 20)) i
    th_listen "$KO_DIR/out" "$err" || { fail "listener did not start"; return; }
    ko_client c 127.0.0.1 "$TH_PORT" --send-stream "lower:31:$size" \
        --pause-at $((2 << 20)) --pause-file "$KO_DIR/go" --shut
    ko_wait_size "$KO_DIR/out" $((2 << 20)) 10 ||
        { fail "the first 2 MiB did not arrive"; return; }
    for i in 1 2 3; do
        ko_signal USR1
        ko_wait_count "$err" "$KO_SUMMARY_START" "$i" 5 ||
            fail "no snapshot line after SIGUSR1 number $i"
    done
    assertEquals "three snapshots: 0 B sent, 2.00 MiB received" 3 \
        "$(ko_count "$err" '^sockcat: 0 B sent, 2\.00 MiB received in ')"
    assertEquals "snapshot line format: $(head -n1 "$err")" 3 \
        "$(ko_count "$err" "$KO_SUMMARY_RE")"
    touch "$KO_DIR/go"
    ko_wait_client c 20 || fail "the client did not finish"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "all 4 MiB sent" "$size" "$(ko_field c sent)"
    assertEquals "stdout: the client's 4 MiB, intact" \
        "$(ko_field c sha_sent)" "$(th_sum "$KO_DIR/out")"
    assertEquals "stderr: the three snapshots and nothing else" 3 \
        "$(wc -l <"$err")"
}

#--------------------------------------------------------------------------
# --ready-fd

testReadyFdWritesPortThenCloses() {
    local rfifo=$KO_DIR/ready.fifo cat_pid port
    mkfifo "$rfifo"
    ko_bg bash -c 'exec cat "$1" >"$2"' _ "$rfifo" "$KO_DIR/ready.txt"
    cat_pid=$KO_LAST
    # Only sockcat holds fd 5 (no wrapper keeps it open).
    timeout 20 bash -c 'exec "$@" 5>"$0"' "$rfifo" \
        "$SOCKCAT" listen -v --ready-fd 5 127.0.0.1 0 </dev/null \
        >"$KO_DIR/out" 2>"$KO_DIR/err" &
    TH_PID=$!
    th_wait_pid "$cat_pid" 10
    assertEquals "the ready fd was closed while sockcat listens" 0 "$TH_RC"
    assertTrue "sockcat is still listening" "kill -0 $TH_PID"
    port=$(head -n1 "$KO_DIR/ready.txt")
    assertEquals "the ready fd got one line: the port and a newline" \
        "$(printf '%s\n' "$port" | od -An -c)" \
        "$(od -An -c <"$KO_DIR/ready.txt")"
    assertTrue "the port is a number above 0 ($port)" \
        "[[ '$port' =~ ^[1-9][0-9]*$ ]]"
    assertEquals "-v names the same port" \
        "sockcat: listening on 127.0.0.1 $port" "$(head -n1 "$KO_DIR/err")"
    ko_client c 127.0.0.1 "$port" --send-text 'hi\n' --shut
    ko_wait_client c 10
    th_wait_pid "$TH_PID" 10
    TH_PID=
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "the client reached that port" hi "$(cat "$KO_DIR/out")"
}

testReadyFdKeepOpenIPv6() {
    TH_ADDR=::1 th_listen "$KO_DIR/out" "$KO_DIR/err" -k ||
        { fail "listener on ::1 did not start"; return; }
    ko_client c ::1 "$TH_PORT" --send-text 'over-v6\n' --shut
    ko_wait_client c 10
    ko_wait_grep "$KO_DIR/out" '^over-v6$' 10 ||
        fail "the client did not reach the port from --ready-fd"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

#--------------------------------------------------------------------------
# -P / --progress

testProgressSilentWhenStderrIsNotATerminal() {
    local err=$KO_DIR/err
    th_listen "$KO_DIR/out" "$err" -P || { fail "listener did not start"; return; }
    # About a second of transfer: 32 blocks of 64 KiB, 30 ms apart.
    ko_client c 127.0.0.1 "$TH_PORT" --send-stream "lower:51:$((2 << 20))" \
        --delay-ms 30 --shut
    ko_wait_client c 20 || fail "the client did not finish"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stdout intact" "$(ko_field c sha_sent)" \
        "$(th_sum "$KO_DIR/out")"
    assertTrue "at most one line on stderr ($(wc -l <"$err"))" \
        "[ $(wc -l <"$err") -le 1 ]"
    assertEquals "no carriage return or escape on stderr" 0 \
        "$(tr -cd '\r\033' <"$err" | wc -c)"
}

# ko_pane: what the tmux pane shows, wrapped lines joined, with history.
ko_pane() {
    timeout 5 tmux -L "$KO_TMUX" capture-pane -p -J -S -100 -t ko
}

# ko_wait_pane ERE [SECS]: waits until a line of the pane that is not a
# command line (those start with the prompt, "$ ") matches ERE.
ko_wait_pane() {
    local i limit=${2:-10}
    for i in $(seq 1 $((limit * 20))); do
        ko_pane | grep -v '^\$ .' | grep -qE -- "$1" && return 0
        sleep 0.05
    done
    return 1
}

testProgressLiveLineOnATerminal() {
    if ! command -v tmux >/dev/null; then
        startSkipping
        fail "tmux is not installed"
        return
    fi
    local run=$KO_DIR/run.sh size=$((2 << 20)) pane
    cat >"$run" <<EOF
exec "$SOCKCAT" listen -P --ready-fd 3 127.0.0.1 0 </dev/null \\
    >"$KO_DIR/out" 3>"$KO_DIR/ready"
EOF
    KO_TMUX=sockcat-ko-$$-$RANDOM
    timeout 5 tmux -L "$KO_TMUX" -f /dev/null new-session -d -x 100 -y 10 \
        -s ko "env PS1='\$ ' bash --norc --noprofile" ||
        { fail "tmux did not start"; return; }
    ko_wait_pane '^\$ ?$' 5 || fail "no shell prompt in the pane"
    timeout 5 tmux -L "$KO_TMUX" send-keys -t ko \
        "timeout 20 bash $run; echo ko-rc=\$?" Enter
    th_wait_file "$KO_DIR/ready" || { fail "sockcat did not listen"; return; }
    ko_client c 127.0.0.1 "$(head -n1 "$KO_DIR/ready")" \
        --send-stream "lower:61:$size" --pause-at $((1 << 20)) \
        --pause-file "$KO_DIR/go" --shut
    ko_wait_size "$KO_DIR/out" $((1 << 20)) 10
    # Half-way (1 MiB in, the client waiting): the live line shows it.
    ko_wait_pane '(^|[^0-9.])1\.00 MiB' 5
    rc=$?
    assertTrue "a live line showing 1.00 MiB during the transfer: $(ko_pane | grep -v '^\$ ' | tr -s '\n' '|')" "$rc"
    touch "$KO_DIR/go"
    ko_wait_client c 20 || fail "the client did not finish"
    ko_wait_pane '^ko-rc=' 10 || fail "sockcat did not end"
    timeout 5 tmux -L "$KO_TMUX" send-keys -t ko "echo ko-prompt-ok" Enter
    ko_wait_pane '^ko-prompt-ok$' 5
    pane=$(ko_pane)
    assertEquals "stdout intact" "$(ko_field c sha_sent)" \
        "$(th_sum "$KO_DIR/out")"
    assertTrue "exit status 0, on a line of its own: $(echo "$pane" | tr -s '\n' '|')" \
        "echo \"\$pane\" | grep -qx 'ko-rc=0'"
    assertTrue "the prompt is usable after exit: $(echo "$pane" | tr -s '\n' '|')" \
        "echo \"\$pane\" | grep -qx '\\$ echo ko-prompt-ok' &&
         echo \"\$pane\" | grep -qx 'ko-prompt-ok'"
}

#--------------------------------------------------------------------------
# Usage errors

testStatsOptionUsageErrors() {
    ko_usage_error "--stats xml" listen --stats xml 127.0.0.1 0
    KO_FIRST='^sockcat: option --stats: missing argument$' \
        ko_usage_error "--stats without a format" listen --stats
    ko_usage_error "--ready-fd abc" listen --ready-fd abc 127.0.0.1 0
    KO_FIRST='^sockcat: option --ready-fd: not valid with connect$' \
        ko_usage_error "--ready-fd with connect" connect --ready-fd 3 \
        127.0.0.1 9 3>/dev/null
    ko_usage_error "--progress=yes" listen --progress=yes 127.0.0.1 0
    KO_FIRST='^sockcat: unknown option: --statistics$' \
        ko_usage_error "--statistics" listen --statistics json 127.0.0.1 0
}

. "$th_shunit2"
