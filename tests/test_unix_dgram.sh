#!/bin/bash
# Unix datagram sockets (-U -u PATH, -U -u @NAME): datagram boundaries kept;
# replies reach a connecting sockcat on its autobound abstract name or on
# -s PATH; the files we made (the listener's PATH, -s PATH) removed whether
# sockcat ends by itself or on SIGTERM; stale, live and non-socket files
# as for -U streams; -k with several senders, an unbound one included;
# real peers (python3, socat).

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20

setUp() {
    U=$(mktemp -d "${SHUNIT_TMPDIR}/ud.XXXXXX")
    SOCK=$U/s.sock
    PIDS=()
    UD_STDIN=/dev/null
}

tearDown() {
    local p
    exec 7>&-
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$U"
}

# ud_listen OUT ERR [options...] PATH: `sockcat listen -U -u` in the
# background, stdin from $UD_STDIN (default /dev/null); returns once it is
# bound (through --ready-fd) with UD_PID set.
ud_listen() {
    local out=$1 err=$2 ready=$U/ready.$RANDOM
    shift 2
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 -U -u "$@" \
        <"${UD_STDIN:-/dev/null}" >"$out" 2>"$err" 3>"$ready" &
    UD_PID=$!
    PIDS+=("$UD_PID")
    th_wait_file "$ready" || { cat "$err" >&2; return 1; }
    UD_READY=$(head -n1 "$ready")
}

# ud_fifo: a FIFO held open on fd 7 for a listener's stdin (write with >&7).
ud_fifo() {
    mkfifo "$U/stdin.fifo"
    exec 7<>"$U/stdin.fifo"
    UD_STDIN=$U/stdin.fifo
}

# ud_wait_grep FILE TEXT: waits (bounded) until FILE holds TEXT.
ud_wait_grep() {
    local i
    for i in $(seq 1 600); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.025
    done
    return 1
}

# ud_client_until DONE ARGS...: `sockcat connect -U -u ARGS` in the
# background, stdin from $UD_CLIENT_IN (default /dev/null), stopped with
# SIGTERM once the command DONE succeeds (a datagram client waits for replies
# after its stdin ends; a fixed timeout would also count its start-up);
# UD_CLIENT_RC its exit status.
ud_client_until() {
    local done=$1 pid
    shift
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect -U -u "$@" \
        <"${UD_CLIENT_IN:-/dev/null}" >"$U/c.out" 2>"$U/c.err" &
    pid=$!
    PIDS+=("$pid")
    eval "$done" || fail "client: never true: $done"
    kill -TERM "$pid"
    th_wait_pid "$pid"
    UD_CLIENT_RC=$TH_RC
}

# ud_py CODE ARGS...: python3 with CODE (os, socket, sys, time imported;
# P = $SOCK, A its address for socket calls, U = $U).
ud_py() {
    local code=$1
    shift
    P=$SOCK U=$U timeout "$TH_TIMEOUT" python3 -c "import os, socket, sys, time
P = os.environ['P']
U = os.environ['U']
A = ('\0' + P[1:]) if P.startswith('@') else P
def dgram():
    return socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
$code" "$@"
}

# ud_wait_socket PATH: waits (bounded) until a socket file is at PATH.
ud_wait_socket() {
    local i
    for i in $(seq 1 400); do
        [ -S "$1" ] && return 0
        sleep 0.025
    done
    return 1
}

testPythonSenderGetsRepliesInDatagrams() {
    head -c 100000 /dev/urandom >"$U/a"
    UD_STDIN=$U/a ud_listen "$U/l.out" "$U/l.err" -v "$SOCK" || fail "no listener"
    assertEquals "--ready-fd writes the path" "$SOCK" "$UD_READY"
    local sizes
    sizes=$(ud_py "
s = dgram(); s.bind(U + '/py.sock')
s.sendto(b'hello', A)
s.settimeout(10)
got, sizes = b'', []
while len(got) < 100000:
    d = s.recv(70000); got += d; sizes.append(len(d))
open(U + '/py.out', 'wb').write(got)
print(' '.join(map(str, sizes)))")
    assertEquals "stdin in datagrams of at most 65507" "65507 34493" "$sizes"
    assertEquals "the reply reached the sender's path" "$(th_sum "$U/a")" "$(th_sum "$U/py.out")"
    assertEquals "the sender's datagram" "hello" "$(cat "$U/l.out")"
    assertContains "-v names the sender" "$(cat "$U/l.err")" "datagram from $U/py.sock"
    kill -TERM "$UD_PID"; th_wait_pid "$UD_PID"
    assertEquals "a signal ends it" 143 "$TH_RC"
    assertFalse "the socket file is removed on SIGTERM" "[ -e '$SOCK' ]"
}

testPythonDatagramsKeepTheirBoundaries() {
    ud_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    ud_py "
s = dgram(); s.bind(U + '/py.sock')
for d in (b'one', b'two', b'three'):
    s.sendto(d, A)"
    ud_wait_grep "$U/l.out" three
    assertEquals "each datagram whole, in order" "onetwothree" "$(cat "$U/l.out")"
}

testSockcatToItselfOnAnAutoboundName() {
    head -c 50000 /dev/urandom >"$U/a"
    head -c 40000 /dev/urandom >"$U/b"
    UD_STDIN=$U/a ud_listen "$U/l.out" "$U/l.err" -v "$SOCK" || fail "no listener"
    mkfifo "$U/c.in"
    # The first datagram, then the rest once it arrived.
    { printf 'x'; tc_wait_size "$U/l.out" 1; cat "$U/b"; } >"$U/c.in" &
    UD_CLIENT_IN=$U/c.in ud_client_until \
        'tc_wait_size "$U/l.out" 40001 && tc_wait_size "$U/c.out" 50000' "$SOCK"
    printf 'x' | cat - "$U/b" >"$U/expect.l"
    assertEquals "listen side" "$(th_sum "$U/expect.l")" "$(th_sum "$U/l.out")"
    assertEquals "replies reached the autobound client" "$(th_sum "$U/a")" "$(th_sum "$U/c.out")"
    assertContains "the client has an abstract name" "$(cat "$U/l.err")" "datagram from @"
    assertEquals "the client made no file" "" "$(find "$U" -type s ! -path "$SOCK")"
}

testSourcePathUsedAndRemovedOnSigterm() {
    printf 'reply' >"$U/r"
    UD_STDIN=$U/r ud_listen "$U/l.out" "$U/l.err" -v "$SOCK" || fail "no listener"
    printf 'hello' >"$U/hello"
    UD_CLIENT_IN=$U/hello ud_client_until 'ud_wait_grep "$U/c.out" reply' \
        -s "$U/me.sock" "$SOCK"
    assertEquals "ended by the signal" 143 "$UD_CLIENT_RC"
    assertContains "sent from -s PATH" "$(cat "$U/l.err")" "datagram from $U/me.sock"
    assertEquals "the reply reached -s PATH" "reply" "$(cat "$U/c.out")"
    assertFalse "-s PATH is removed" "[ -e '$U/me.sock' ]"
}

# With its peer gone, a send fails (ECONNREFUSED): each side ends by itself.
testFilesRemovedWhenEachSideEndsByItself() {
    ud_fifo
    ud_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    mkfifo "$U/c.fifo"
    exec 8<>"$U/c.fifo"
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect -U -u -s "$U/me.sock" "$SOCK" \
        <"$U/c.fifo" >"$U/c.out" 2>"$U/c.err" &
    local cpid=$!
    PIDS+=("$cpid")
    echo hello >&8
    ud_wait_grep "$U/l.out" hello || fail "nothing arrived"
    # The listener goes: the client's next send is refused.
    kill -TERM "$UD_PID"; th_wait_pid "$UD_PID"
    echo again >&8
    th_wait_pid "$cpid" 10
    exec 8>&-
    assertEquals "the client fails" 1 "$TH_RC"
    assertContains "and says why" "$(cat "$U/c.err")" "Connection refused"
    assertFalse "-s PATH is removed" "[ -e '$U/me.sock' ]"

    # The other way: the listener outlives its peer.
    ud_listen "$U/l2.out" "$U/l2.err" "$SOCK" || fail "no second listener"
    ud_py "
s = dgram(); s.bind(U + '/py.sock')
s.sendto(b'hi', A)"
    ud_wait_grep "$U/l2.out" hi || fail "nothing arrived"
    rm -f "$U/py.sock"  # the peer is gone
    echo "anyone" >&7
    th_wait_pid "$UD_PID" 10
    assertEquals "the listener fails" 1 "$TH_RC"
    assertFalse "the listener's file is removed" "[ -e '$SOCK' ]"
}

testKeepOpenTwoSendersAndAnUnboundOne() {
    ud_fifo
    ud_listen "$U/l.out" "$U/l.err" -k -v "$SOCK" || fail "no listener"
    ud_py "
a = dgram(); a.bind(U + '/a.sock')
b = dgram(); b.bind(U + '/b.sock')
n = dgram()
a.sendto(b'[one]', A); b.sendto(b'[two]', A); n.sendto(b'[anon]', A)
open(U + '/sent', 'w').write('sent\n')
for s in (a, b):
    s.settimeout(10)
    print(s.recv(100).decode().strip())" >"$U/py.out" &
    local py=$!
    PIDS+=("$py")
    th_wait_file "$U/sent"
    ud_wait_grep "$U/l.out" anon || fail "not all arrived"
    ud_wait_grep "$U/l.out" one; ud_wait_grep "$U/l.out" two
    echo broadcast >&7
    th_wait_pid "$py"
    assertEquals "both bound senders got the broadcast" "broadcast
broadcast" "$(cat "$U/py.out")"
    kill -TERM "$UD_PID"; th_wait_pid "$UD_PID"
    assertContains "unbound sender's data accepted" "$(cat "$U/l.out")" "[anon]"
    assertContains "-v counts what could not go" "$(cat "$U/l.err")" \
        "dropped 1 datagrams for unbound senders"
    assertFalse "the socket file is removed" "[ -e '$SOCK' ]"
}

testAbstractListenerLeavesNothingOnDisk() {
    local name="@sockcat-dg-$$-$RANDOM"
    printf 'pong' >"$U/r"
    UD_STDIN=$U/r ud_listen "$U/l.out" "$U/l.err" "$name" || fail "no listener"
    assertEquals "--ready-fd writes the name" "$name" "$UD_READY"
    printf 'ping' >"$U/ping"
    UD_CLIENT_IN=$U/ping ud_client_until \
        'ud_wait_grep "$U/c.out" pong && ud_wait_grep "$U/l.out" ping' "$name"
    assertEquals "ping" "$(cat "$U/l.out")"
    assertEquals "pong" "$(cat "$U/c.out")"
    assertEquals "no socket file on disk" "" "$(find "$U" -type s)"
}

testStaleLiveAndNotASocket() {
    SOCK=$SOCK ud_py "s = dgram(); s.bind(A)"  # exits: a stale file
    assertTrue "a stale file" "[ -S '$SOCK' ]"
    ud_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "stale file not replaced"
    timeout 5 "$SOCKCAT" listen -U -u "$SOCK" </dev/null >/dev/null 2>"$U/e"
    assertEquals "a live one is refused" 1 $?
    assertEquals "sockcat: listen on $SOCK: Address already in use" "$(cat "$U/e")"
    assertTrue "and left alone" "[ -S '$SOCK' ]"
    echo data >"$U/file"
    timeout 5 "$SOCKCAT" listen -U -u "$U/file" </dev/null >/dev/null 2>"$U/e"
    assertEquals "sockcat: listen on $U/file (not a socket; left as it is): File exists" \
        "$(cat "$U/e")"
    timeout 5 "$SOCKCAT" connect -U -u -s "$U/file" "$SOCK" </dev/null >/dev/null 2>"$U/e"
    assertEquals "sockcat: bind to $U/file (not a socket; left as it is): File exists" \
        "$(cat "$U/e")"
    assertEquals "data" "$(cat "$U/file")"
    timeout 5 "$SOCKCAT" connect -U -u "$U/none.sock" </dev/null >/dev/null 2>"$U/e"
    assertEquals "sockcat: connect to $U/none.sock: No such file or directory" "$(cat "$U/e")"
}

testSocatPeers() {
    command -v socat >/dev/null || { startSkipping; return; }
    # socat answers the datagram's sender: our autobound name.
    socat UNIX-RECVFROM:"$SOCK" SYSTEM:'read l; echo "got $l"' 2>/dev/null &
    PIDS+=($!)
    ud_wait_socket "$SOCK" || fail "no socat"
    echo ping >"$U/ping"
    UD_CLIENT_IN=$U/ping ud_client_until 'ud_wait_grep "$U/c.out" "got ping"' "$SOCK"
    assertEquals "socat's reply" "got ping" "$(cat "$U/c.out")"
    rm -f "$SOCK"

    # socat receives: whole datagrams.
    head -c 100000 /dev/urandom >"$U/a"
    timeout 10 socat -b 70000 -u UNIX-RECV:"$SOCK" - >"$U/s.out" 2>/dev/null &
    PIDS+=($!)
    ud_wait_socket "$SOCK" || fail "no socat"
    UD_CLIENT_IN=$U/a ud_client_until 'tc_wait_size "$U/s.out" 100000' "$SOCK"
    assertEquals "socat got stdin" "$(th_sum "$U/a")" "$(th_sum "$U/s.out")"
    rm -f "$SOCK"

    # socat sends from an unbound socket: accepted, nothing to reply to.
    ud_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    echo "from socat" | timeout 5 socat -u - UNIX-SENDTO:"$SOCK"
    ud_wait_grep "$U/l.out" "from socat"
    assertEquals "from socat" "$(cat "$U/l.out")"
}

testUsage() {
    local out
    out=$(timeout 5 "$SOCKCAT" connect -U -u -p 4000 "$SOCK" 2>&1 | head -n1)
    assertEquals "-p still conflicts" "sockcat: conflicting options: -U and -p" "$out"
    out=$(timeout 5 "$SOCKCAT" listen -U -u -s "$U/x" "$SOCK" 2>&1 | head -n1)
    assertEquals "-s is for connect" "sockcat: option --source: not valid with listen" "$out"
    assertFalse "nothing made on disk" "[ -e '$SOCK' ]"
}

. shunit2
