#!/bin/bash
# Unix stream sockets (-U PATH, -U @NAME): sockcat against itself, socat,
# python3, ncat and OpenBSD nc; half-close both ways; keep-open; what
# happens to the socket file (stale replaced, live refused, a non-socket
# never touched, ours removed however sockcat ends); --ready-fd; the -v
# credentials line; and the usage and path errors.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

TH_TIMEOUT=20

setUp() {
    U=$(mktemp -d "${SHUNIT_TMPDIR}/u.XXXXXX")
    SOCK=$U/s.sock
    PIDS=()
}

tearDown() {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$U"
}

# ux_listen OUT ERR [options...] PATH: `sockcat listen -U` in the
# background, stdin from $UX_STDIN (default /dev/null); returns once it
# listens (through --ready-fd) with UX_PID set and the announced path in
# UX_READY.
ux_listen() {
    local out=$1 err=$2 ready=$U/ready.$RANDOM
    shift 2
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 -U "$@" \
        <"${UX_STDIN:-/dev/null}" >"$out" 2>"$err" 3>"$ready" &
    UX_PID=$!
    PIDS+=("$UX_PID")
    th_wait_file "$ready" || { cat "$err" >&2; return 1; }
    UX_READY=$(head -n1 "$ready")
}

# ux_wait_socket PATH: waits (bounded) until a socket file is at PATH.
ux_wait_socket() {
    local i
    for i in $(seq 1 400); do
        [ -S "$1" ] && return 0
        sleep 0.025
    done
    return 1
}

# ux_connect PATH [options...]: `sockcat connect -U`, stdin from
# $UX_STDIN, stdout to $U/c.out, stderr to $U/c.err; sets TH_RC.
ux_connect() {
    local path=$1
    shift
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect "$@" -U "$path" \
        <"${UX_STDIN:-/dev/null}" >"$U/c.out" 2>"$U/c.err"
    TH_RC=$?
}

# ux_py CODE: runs python3 with CODE (sys, os, socket imported; P = $SOCK).
ux_py() {
    P=$SOCK timeout "$TH_TIMEOUT" python3 -c "import os, socket, sys
P = os.environ['P']
A = ('\0' + P[1:]) if P.startswith('@') else P
$1"
}

# ux_usage OPTIONS...: asserts exit 2 and a message naming both options.
ux_usage() {
    local want=$1
    shift
    timeout 5 "$SOCKCAT" "$@" >/dev/null 2>"$SHUNIT_TMPDIR/usage.err"
    assertEquals "sockcat $*: exit status" 2 $?
    assertEquals "sockcat $*: message" "sockcat: conflicting options: $want" \
        "$(head -n1 "$SHUNIT_TMPDIR/usage.err")"
}

# ux_runtime_error WANT OPTIONS...: exit 1 and exactly one line WANT.
ux_runtime_error() {
    local want=$1
    shift
    timeout 5 "$SOCKCAT" "$@" </dev/null >/dev/null 2>"$SHUNIT_TMPDIR/rt.err"
    assertEquals "sockcat $*: exit status" 1 $?
    assertEquals "sockcat $*: message" "$want" "$(cat "$SHUNIT_TMPDIR/rt.err")"
}

testSelfBothDirectionsWithSha256() {
    head -c 3000000 /dev/urandom >"$U/a"
    head -c 2000000 /dev/urandom >"$U/b"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    assertEquals "--ready-fd writes the path" "$SOCK" "$UX_READY"
    UX_STDIN=$U/b ux_connect "$SOCK"
    assertEquals "connect exit status" 0 "$TH_RC"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "server -> client" "$(th_sum "$U/a")" "$(th_sum "$U/c.out")"
    assertEquals "client -> server" "$(th_sum "$U/b")" "$(th_sum "$U/l.out")"
    assertFalse "the socket file is removed when done" "[ -e '$SOCK' ]"
}

testAbstractNameLeavesNothingOnDisk() {
    local name="@sockcat-test-$$-$RANDOM"
    head -c 500000 /dev/urandom >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$name" || fail "no listener"
    assertEquals "--ready-fd writes the name" "$name" "$UX_READY"
    assertEquals "no socket file on disk" "" "$(find "$U" -type s)"
    echo "hello abstract" >"$U/b"
    UX_STDIN=$U/b ux_connect "$name"
    assertEquals "connect exit status" 0 "$TH_RC"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "server -> client" "$(th_sum "$U/a")" "$(th_sum "$U/c.out")"
    assertEquals "client -> server" "hello abstract" "$(cat "$U/l.out")"
}

testAbstractNameFromPython() {
    local name="@sockcat-py-$$-$RANDOM"
    echo "from sockcat" >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$name" || fail "no listener"
    SOCK=$name ux_py "
s = socket.socket(socket.AF_UNIX)
s.connect(A)
s.sendall(b'from python\n'); s.shutdown(socket.SHUT_WR)
got = b''
while True:
    d = s.recv(65536)
    if not d: break
    got += d
sys.stdout.write(got.decode())" >"$U/py.out"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "python received" "from sockcat" "$(cat "$U/py.out")"
    assertEquals "sockcat received" "from python" "$(cat "$U/l.out")"
}

# The client half-closes; the server reads to EOF, then answers.
testHalfCloseClientFirstAgainstPython() {
    head -c 1000000 /dev/urandom >"$U/b"
    ux_py "
s = socket.socket(socket.AF_UNIX); s.bind(A); s.listen(1)
c, _ = s.accept()
n = 0
while True:
    d = c.recv(65536)
    if not d: break
    n += len(d)
c.sendall(b'got %d bytes\n' % n); c.close()" &
    PIDS+=($!)
    ux_wait_socket "$SOCK" || fail "python did not listen"
    UX_STDIN=$U/b ux_connect "$SOCK"
    assertEquals "connect exit status" 0 "$TH_RC"
    assertEquals "the reply after the half-close" "got 1000000 bytes" "$(cat "$U/c.out")"
}

# The server's stdin ends first; the client answers after reading EOF.
testHalfCloseServerFirstAgainstPython() {
    head -c 1000000 /dev/urandom >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    ux_py "
s = socket.socket(socket.AF_UNIX); s.connect(A)
n = 0
while True:
    d = s.recv(65536)
    if not d: break
    n += len(d)
s.sendall(b'got %d bytes\n' % n); s.close()"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "the reply after the half-close" "got 1000000 bytes" "$(cat "$U/l.out")"
}

testSocatBothWays() {
    command -v socat >/dev/null || { startSkipping; echo "socat missing" >&2; return; }
    head -c 2000000 /dev/urandom >"$U/a"
    head -c 1500000 /dev/urandom >"$U/b"
    # sockcat listens, socat connects.
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    timeout "$TH_TIMEOUT" socat -t 5 - "UNIX-CONNECT:$SOCK" <"$U/b" >"$U/socat.out"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "sockcat -> socat" "$(th_sum "$U/a")" "$(th_sum "$U/socat.out")"
    assertEquals "socat -> sockcat" "$(th_sum "$U/b")" "$(th_sum "$U/l.out")"
    # socat listens, sockcat connects.
    timeout "$TH_TIMEOUT" socat -t 5 "UNIX-LISTEN:$U/t.sock" - <"$U/a" >"$U/socat2.out" &
    PIDS+=($!)
    ux_wait_socket "$U/t.sock" || fail "socat did not listen"
    UX_STDIN=$U/b ux_connect "$U/t.sock"
    assertEquals "connect exit status" 0 "$TH_RC"
    th_wait_pid "${PIDS[-1]}"
    assertEquals "socat -> sockcat" "$(th_sum "$U/a")" "$(th_sum "$U/c.out")"
    assertEquals "sockcat -> socat" "$(th_sum "$U/b")" "$(th_sum "$U/socat2.out")"
}

testNcatConnects() {
    command -v ncat >/dev/null || { startSkipping; echo "ncat missing" >&2; return; }
    head -c 1000000 /dev/urandom >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    timeout "$TH_TIMEOUT" ncat --recv-only -U "$SOCK" >"$U/ncat.out" </dev/null
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "sockcat -> ncat" "$(th_sum "$U/a")" "$(th_sum "$U/ncat.out")"
    # ncat listens, sockcat sends.
    timeout "$TH_TIMEOUT" ncat -l --recv-only -U "$U/n.sock" >"$U/ncat2.out" &
    PIDS+=($!)
    ux_wait_socket "$U/n.sock" || fail "ncat did not listen"
    UX_STDIN=$U/a ux_connect "$U/n.sock" --send-only
    assertEquals "connect exit status" 0 "$TH_RC"
    th_wait_pid "${PIDS[-1]}"
    assertEquals "sockcat -> ncat -l" "$(th_sum "$U/a")" "$(th_sum "$U/ncat2.out")"
}

testOpenbsdNcBothWays() {
    command -v nc.openbsd >/dev/null || { startSkipping; echo "nc.openbsd missing" >&2; return; }
    head -c 1000000 /dev/urandom >"$U/a"
    head -c 700000 /dev/urandom >"$U/b"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    # -N: half-close after stdin, so both directions finish.
    timeout "$TH_TIMEOUT" nc.openbsd -N -U "$SOCK" <"$U/b" >"$U/nc.out"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertEquals "sockcat -> nc" "$(th_sum "$U/a")" "$(th_sum "$U/nc.out")"
    assertEquals "nc -> sockcat" "$(th_sum "$U/b")" "$(th_sum "$U/l.out")"
}

testKeepOpenSeveralClients() {
    local f
    ux_listen "$U/l.out" "$U/l.err" -k -m 10 "$SOCK" || fail "no listener"
    for n in 1 2 3 4; do
        echo "client $n" >"$U/in.$n"
        timeout 10 "$SOCKCAT" connect -U "$SOCK" <"$U/in.$n" >/dev/null 2>&1 &
        PIDS+=($!)
    done
    for f in 1 2 3 4; do th_wait_pid "${PIDS[$f]}"; done
    local i
    for i in $(seq 1 200); do [ "$(wc -l <"$U/l.out")" -ge 4 ] && break; sleep 0.025; done
    assertEquals "every client's line" "client 1
client 2
client 3
client 4" "$(sort "$U/l.out")"
    assertTrue "still listening" "[ -S '$SOCK' ]"
    kill -TERM "$UX_PID"
    th_wait_pid "$UX_PID"
    assertEquals "exit status on SIGTERM" 143 "$TH_RC"
    assertFalse "the socket file is removed" "[ -e '$SOCK' ]"
}

testStaleSocketFileReplaced() {
    ux_py "s = socket.socket(socket.AF_UNIX); s.bind(A)"
    assertTrue "a stale socket file" "[ -S '$SOCK' ]"
    echo hi >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "stale file not replaced"
    ux_connect "$SOCK"
    assertEquals "connect exit status" 0 "$TH_RC"
    assertEquals "served" "hi" "$(cat "$U/c.out")"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
}

testLiveSocketRefusedAndUndisturbed() {
    echo first >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" "$SOCK" || fail "no listener"
    ux_runtime_error "sockcat: listen on $SOCK: Address already in use" listen -U "$SOCK"
    assertTrue "the live socket file stays" "[ -S '$SOCK' ]"
    # The first listener took no probe for its client: it still serves one.
    ux_connect "$SOCK"
    assertEquals "the first listener still serves" "first" "$(cat "$U/c.out")"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
}

testNonSocketNeverRemoved() {
    echo "precious" >"$SOCK"
    ux_runtime_error "sockcat: listen on $SOCK (not a socket; left as it is): File exists" \
        listen -U "$SOCK"
    assertEquals "the file is untouched" "precious" "$(cat "$SOCK")"
    mkdir "$U/dir.sock"
    timeout 5 "$SOCKCAT" listen -U "$U/dir.sock" </dev/null >/dev/null 2>&1
    assertEquals "a directory: exit status" 1 $?
    assertTrue "the directory stays" "[ -d '$U/dir.sock' ]"
}

# ux_ends_and_removes HOW: the socket file is gone after sockcat ends HOW.
ux_ends_and_removes() {
    local how=$1 want=$2
    mkfifo "$U/in"
    case $how in
    error)
        # Writing what the client sends to a full disk fails.
        timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 -U "$SOCK" \
            <"$U/in" >/dev/full 2>"$U/l.err" 3>"$U/ready" &
        ;;
    *)
        timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 -U "$SOCK" \
            <"$U/in" >"$U/l.out" 2>"$U/l.err" 3>"$U/ready" &
        ;;
    esac
    UX_PID=$!
    PIDS+=("$UX_PID")
    exec 7>"$U/in"
    th_wait_file "$U/ready" || fail "no listener"
    assertTrue "$how: listening" "[ -S '$SOCK' ]"
    case $how in
    done) exec 7>&-; echo bye | ux_connect "$SOCK" ;;
    error) echo "data" >"$U/b"; UX_STDIN=$U/b ux_connect "$SOCK"; exec 7>&- ;;
    SIGINT) kill -INT "$UX_PID" ;;
    SIGTERM) kill -TERM "$UX_PID" ;;
    esac
    th_wait_pid "$UX_PID"
    exec 7>&- 2>/dev/null
    assertEquals "$how: exit status" "$want" "$TH_RC"
    assertFalse "$how: the socket file is left behind" "[ -e '$SOCK' ]"
}

testRemovedWhenDone() { ux_ends_and_removes done 0; }
testRemovedOnError() { ux_ends_and_removes error 1; }
testRemovedOnSigint() { ux_ends_and_removes SIGINT 130; }
testRemovedOnSigterm() { ux_ends_and_removes SIGTERM 143; }

testAnotherFileAtThePathIsNotRemoved() {
    ux_listen "$U/l.out" "$U/l.err" -k "$SOCK" || fail "no listener"
    rm -f "$SOCK"
    echo "someone else's" >"$SOCK"
    kill -TERM "$UX_PID"
    th_wait_pid "$UX_PID"
    assertEquals "the file that replaced ours stays" "someone else's" "$(cat "$SOCK")"
}

testVerboseSaysWhoConnected() {
    ux_listen "$U/l.out" "$U/l.err" -v "$SOCK" || fail "no listener"
    local pid
    pid=$(ux_py "
s = socket.socket(socket.AF_UNIX); s.connect(A)
print(os.getpid()); sys.stdout.flush()
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass")
    th_wait_pid "$UX_PID"
    assertTrue "no credentials line; got: $(cat "$U/l.err")" \
        "grep -qx 'sockcat: connection from pid $pid uid $(id -u) on $SOCK' '$U/l.err'"
}

testStatsJsonCountsBytes() {
    head -c 123456 /dev/urandom >"$U/a"
    UX_STDIN=$U/a ux_listen "$U/l.out" "$U/l.err" --stats json "$SOCK" || fail "no listener"
    ux_connect "$SOCK"
    th_wait_pid "$UX_PID"
    assertEquals "listen exit status" 0 "$TH_RC"
    assertTrue "bytes sent in the JSON; got: $(cat "$U/l.err")" \
        "grep -q '\"sent\":123456,' '$U/l.err'"
}

testConflictingPairsAreUsageErrors() {
    ux_usage "-U and -4" listen -U -4 "$SOCK"
    ux_usage "-U and -6" connect -6 -U "$SOCK"
    ux_usage "-U and -n" connect -U -n "$SOCK"
    ux_usage "-U and --allow" listen -U --allow 127.0.0.1 "$SOCK"
    ux_usage "-U and --deny" listen -U --deny 127.0.0.1 "$SOCK"
    ux_usage "-U and -s (-s PATH is for -U -u)" connect -U -s 127.0.0.1 "$SOCK"
    ux_usage "-U and -p" connect -U -p 4000 "$SOCK"
    ux_usage "-U and a PORT operand" connect -U "$SOCK" 4000
    ux_usage "-U and a PORT operand" listen -U "$SOCK" 4000
    assertFalse "nothing made on disk" "[ -e '$SOCK' ]"
}

# -s names the address a datagram client replies reach: a stream has no use for it.
testSourceIsForUnixDatagramsOnly() {
    local why="(-s PATH is for -U -u)"
    ux_usage "-U and -s $why" connect -U -s "$U/mine.sock" "$SOCK"
    ux_usage "-U and -p" connect -U -u -p 4000 "$SOCK"
    assertFalse "nothing made on disk" "[ -e '$SOCK' ] || [ -e '$U/mine.sock' ]"
}

testPathErrors() {
    local long
    long=$U/$(printf 'x%.0s' $(seq 1 120))
    ux_runtime_error "sockcat: listen on $long: File name too long" listen -U "$long"
    ux_runtime_error "sockcat: connect to $long: File name too long" connect -U "$long"
    long=@$(printf 'y%.0s' $(seq 1 108))
    ux_runtime_error "sockcat: listen on $long: File name too long" listen -U "$long"
    ux_runtime_error "sockcat: listen on $U/none/s.sock: No such file or directory" \
        listen -U "$U/none/s.sock"
    ux_runtime_error "sockcat: connect to $SOCK: No such file or directory" connect -U "$SOCK"
    assertEquals "nothing left on disk" "" "$(ls -A "$U")"
}

testLongestPathsFit() {
    # 107 bytes and its NUL fill sun_path; an abstract name gets 107 too.
    local path name
    path=$U/$(printf 'z%.0s' $(seq 1 $((107 - ${#U} - 1))))
    ux_listen "$U/l.out" "$U/l.err" "$path" || fail "a 107-byte path did not fit"
    ux_connect "$path"
    assertEquals "connect on a 107-byte path" 0 "$TH_RC"
    th_wait_pid "$UX_PID"
    name=@$(printf 'w%.0s' $(seq 1 107))
    ux_listen "$U/l.out" "$U/l.err" "$name" || fail "a 107-byte abstract name did not fit"
    ux_connect "$name"
    assertEquals "connect on a 107-byte abstract name" 0 "$TH_RC"
    th_wait_pid "$UX_PID"
}

testPermissionDenied() {
    if [ "$(id -u)" != 0 ] || ! id nobody >/dev/null 2>&1; then
        startSkipping
        echo "needs root to act as another user" >&2
        return
    fi
    chmod 700 "$U"
    chmod 755 "$SHUNIT_TMPDIR" 2>/dev/null
    timeout 5 setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$SOCKCAT" listen -U "$SOCK" </dev/null >/dev/null 2>"$U/perm.err"
    assertEquals "exit status" 1 $?
    assertEquals "message" "sockcat: listen on $SOCK: Permission denied" "$(cat "$U/perm.err")"
    assertFalse "nothing left on disk" "[ -e '$SOCK' ]"
}

. "$th_shunit2"
