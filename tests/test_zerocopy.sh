#!/bin/bash
# The fast paths that move bytes inside the kernel (sendfile, splice): each
# kind of stdin and stdout they serve, over TCP and -U, arrives whole (by
# sha256), is counted by --stats, half-closes at stdin EOF, and ends as the
# copying path ends; --no-zerocopy and SOCKCAT_NO_ZEROCOPY=1 keep the copying
# path. -vv names the path taken, which is how these tests know which ran.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

SIZE=$((3 * 1024 * 1024 + 4321))

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"
    REPLY="${SHUNIT_TMPDIR}/reply"
    tc_data "$DATA" "$SIZE"
    tc_data "$REPLY" $((1024 * 1024 + 17))
}

setUp() { unset SOCKCAT_NO_ZEROCOPY; tc_setup; }
tearDown() { tc_teardown; }

# zc_pair IN OUT [OPTS...]: sockcat listen (stdout to OUT, via `cat >out`
# when OUT is "pipe") <- sockcat connect (stdin from IN: a file, or "pipe"
# for `cat $DATA |`), both with -vv and OPTS. Waits for both; sets RC_S,
# RC_C. stderr in srv.err and cli.err, received bytes in `out`.
zc_pair() {
    local in=$1 out=$2 ready=ready.$RANDOM
    shift 2
    rm -f out
    if [ "$out" = pipe ]; then
        timeout "$TH_TIMEOUT" "$SOCKCAT" listen -vv --ready-fd 3 "$@" ${UNIX_PATH:-127.0.0.1 0} \
            </dev/null 2>srv.err 3>"$ready" | cat >out &
    else
        timeout "$TH_TIMEOUT" "$SOCKCAT" listen -vv --ready-fd 3 "$@" ${UNIX_PATH:-127.0.0.1 0} \
            </dev/null >"$out" 2>srv.err 3>"$ready" &
    fi
    local spid=$!
    th_wait_file "$ready" || { fail "listener not ready"; return 1; }
    local where
    if [ -n "${UNIX_PATH:-}" ]; then where="-U ${UNIX_PATH#-U }"; else where="127.0.0.1 $(head -n1 "$ready")"; fi
    # shellcheck disable=SC2086 # where is two words on purpose
    if [ "$in" = pipe ]; then
        cat "$DATA" | timeout "$TH_TIMEOUT" "$SOCKCAT" connect -vv "$@" $where >/dev/null 2>cli.err
        RC_C=${PIPESTATUS[1]}
    else
        timeout "$TH_TIMEOUT" "$SOCKCAT" connect -vv "$@" $where <"$in" >/dev/null 2>cli.err
        RC_C=$?
    fi
    th_wait_pid "$spid"
    RC_S=$TH_RC
}

# zc_check WHAT OUTFILE: both exited 0 and OUTFILE holds DATA.
zc_check() {
    assertEquals "$1: client exit ($(cat cli.err))" 0 "$RC_C"
    assertEquals "$1: server exit ($(cat srv.err))" 0 "$RC_S"
    assertEquals "$1: bytes arrived whole" "$(th_sum "$DATA")" "$(th_sum "$2")"
}

testRegularFileToSocketBySendfile() {
    zc_pair "$DATA" out.file
    zc_check "file -> file" out.file
    assertContains "sendfile used" "$(cat cli.err)" "zero-copy: stdin -> 127.0.0.1"
    assertContains "sendfile used" "$(cat cli.err)" "by sendfile"
    assertContains "file stdout through our pipe" "$(cat srv.err)" "stdout by splice through a pipe"
}

testPipeToSocketToPipeBySplice() {
    zc_pair pipe pipe
    zc_check "pipe -> pipe" out
    assertContains "stdin spliced" "$(cat cli.err)" "by splice"
    assertContains "stdout pipe spliced" "$(cat srv.err)" "-> stdout by splice"
    assertNotContains "stdout pipe spliced directly" "$(cat srv.err)" "through a pipe"
}

testSocketToDevNullIsCounted() {
    zc_pair "$DATA" /dev/null --stats json
    assertEquals "client exit ($(tail -n 3 cli.err))" 0 "$RC_C"
    assertEquals "server exit" 0 "$RC_S"
    assertContains "TCP into /dev/null: dropped by the kernel" "$(cat srv.err)" \
        "stdout (/dev/null) dropped by the kernel"
    assertContains "server counted what it received" "$(cat srv.err)" "\"received\":$SIZE,"
    assertContains "client counted what it sent" "$(cat cli.err)" "\"sent\":$SIZE,"
    # A Unix socket has no "drop" (MSG_TRUNC): through our pipe, counted the same.
    UNIX_PATH="-U $PWD/zc.sock"
    zc_pair "$DATA" /dev/null --stats json
    unset UNIX_PATH
    assertEquals "-U: client exit ($(tail -n 3 cli.err))" 0 "$RC_C"
    assertEquals "-U: server exit" 0 "$RC_S"
    assertContains "-U /dev/null through our pipe" "$(cat srv.err)" "stdout by splice through a pipe"
    assertContains "-U: server counted what it received" "$(cat srv.err)" "\"received\":$SIZE,"
}

# A pipe on stdin or stdout is grown to 1 MiB (where it held the default
# 64 KiB), so that sockcat and the program at its other end take turns less
# often; the bytes are the same.
testPipesAreGrownTo1MiB() {
    local size_of_stdin='import fcntl, sys; print(fcntl.fcntl(0, 1032))'  # F_GETPIPE_SZ
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen -vv --ready-fd 3 127.0.0.1 0 </dev/null 2>srv.err 3>ready |
        { cat >out; python3 -c "$size_of_stdin" >out.pipesize; } &
    local spid=$!
    th_wait_file ready || { fail "listener not ready"; return; }
    # python3 starts before sockcat does and asks when sockcat has grown the pipe
    { cat "$DATA"; python3 -c 'import fcntl; print(fcntl.fcntl(1, 1032), file=open("in.pipesize", "w"))'; } |
        timeout "$TH_TIMEOUT" "$SOCKCAT" connect -vv 127.0.0.1 "$(head -n1 ready)" >/dev/null 2>cli.err
    RC_C=${PIPESTATUS[1]}
    wait "$spid"
    assertEquals "client exit ($(cat cli.err))" 0 "$RC_C"
    assertEquals "bytes arrived whole" "$(th_sum "$DATA")" "$(th_sum out)"
    assertContains "stdout pipe spliced" "$(cat srv.err)" "-> stdout by splice"
    assertEquals "stdin pipe grown" 1048576 "$(cat in.pipesize)"
    assertEquals "stdout pipe grown" 1048576 "$(cat out.pipesize)"
}

testUnixSocketBothPaths() {
    UNIX_PATH="-U $PWD/zc.sock"
    zc_pair "$DATA" out.file
    zc_check "-U file -> file" out.file
    assertContains "sendfile over -U" "$(cat cli.err)" "by sendfile"
    rm -f zc.sock
    zc_pair pipe out.file
    zc_check "-U pipe -> file" out.file
    assertContains "splice over -U" "$(cat cli.err)" "by splice"
    assertContains "splice over -U" "$(cat srv.err)" "-> stdout by splice through a pipe"
    unset UNIX_PATH
}

# The peer gets stdin, then EOF (the half-close), and only then answers:
# the answer still reaches stdout through the other fast path.
testHalfCloseAtStdinEofThenReply() {
    tc_peer_listen --send "$REPLY" --send-after eof --report rep || { fail "peer"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect -vv 127.0.0.1 "$TC_PEER_PORT" <"$DATA" >out 2>err
    rc=$?; assertEquals "exit ($(cat err))" 0 "$rc"
    th_wait_pid "$TC_PEER_PID"
    assertEquals "the peer got stdin, then EOF" "$(tc_expect "$DATA")" "$(tc_report rep)"
    assertEquals "the reply arrived whole" "$(th_sum "$REPLY")" "$(th_sum out)"
    assertContains "stdin by sendfile" "$(cat err)" "by sendfile"
}

testNoShutdownKeepsTheConnectionOpen() {
    tc_peer_listen --send "$REPLY" --send-when gate.send --report rep || { fail "peer"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --no-shutdown -vv 127.0.0.1 "$TC_PEER_PORT" \
        <"$DATA" >out 2>err &
    local pid=$!
    # the peer has all of stdin but no EOF: it is still reading
    for _ in $(seq 1 200); do grep -q "end of stdin" err && break; sleep 0.025; done
    assertFalse "no EOF for the peer yet" "[ -s rep ]"
    touch gate.send
    th_wait_pid "$pid"
    assertEquals "exit ($(cat err))" 0 "$TH_RC"
    th_wait_pid "$TC_PEER_PID"
    assertEquals "the reply arrived whole" "$(th_sum "$REPLY")" "$(th_sum out)"
}

testNoZerocopyOptionAndEnvironment() {
    zc_pair "$DATA" out.file --no-zerocopy
    zc_check "--no-zerocopy" out.file
    assertNotContains "no fast path with --no-zerocopy" "$(cat cli.err srv.err)" "zero-copy"
    export SOCKCAT_NO_ZEROCOPY=1
    zc_pair pipe pipe
    zc_check "SOCKCAT_NO_ZEROCOPY=1" out
    assertNotContains "no fast path with SOCKCAT_NO_ZEROCOPY=1" "$(cat cli.err srv.err)" "zero-copy"
}

# A file opened for appending cannot be spliced into: the copying path
# appends after what is there.
testAppendingStdoutKeepsItsContents() {
    echo "kept" >out.file
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen -vv --ready-fd 3 127.0.0.1 0 </dev/null \
        >>out.file 2>srv.err 3>ready &
    local spid=$!
    th_wait_file ready || { fail "listener"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$(head -n1 ready)" <"$DATA" >/dev/null
    th_wait_pid "$spid"
    assertEquals "server exit" 0 "$TH_RC"
    assertEquals "appended whole" "$(th_sum - < <(echo kept; cat "$DATA"))" "$(th_sum out.file)"
}

# The reader of stdout goes away: the same quiet ending as the copying path.
testStdoutReaderGoneEndsQuietly() {
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 127.0.0.1 0 </dev/null 2>srv.err 3>ready |
        head -c 1000 >out &
    th_wait_file ready || { fail "listener"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$(head -n1 ready)" <"$DATA" >/dev/null 2>cli.err
    wait
    assertEquals "the reader got its part" 1000 "$(stat -c %s out)"
    assertEquals "nothing said on the server's stderr" "" "$(cat srv.err)"
}

# A character device on stdout is written by the loop's own thread on the
# copying path (no thread-pool round trip per write).
testDevNullWrittenOnTheLoop() {
    command -v strace >/dev/null || { startSkipping; return; }
    ASAN_OPTIONS=detect_leaks=0 timeout "$TH_TIMEOUT" strace -f -o trace -e trace=execve,write,writev \
        "$SOCKCAT" listen --no-zerocopy --ready-fd 3 127.0.0.1 0 </dev/null >/dev/null 2>srv.err 3>ready &
    local spid=$!
    th_wait_file ready || { fail "listener"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$(head -n1 ready)" <"$DATA" >/dev/null
    th_wait_pid "$spid"
    assertEquals "server exit ($(cat srv.err))" 0 "$TH_RC"
    local main writers
    main=$(awk '/execve\(/ {print $1; exit}' trace)
    writers=$(awk '$2 ~ /^writev?\(1,/ {print $1}' trace | sort -u | tr '\n' ' ')
    assertEquals "every write to /dev/null from the main thread" "$main " "$writers"
}

# Socket -> file asks the kernel to wake sockcat only for 256 KiB at a time
# while bytes come in bulk: the rest of a burst must still reach the file at
# once, with the connection open and nothing more coming, and so must a few
# bytes after a pause.
testBulkTailReachesTheFileWhileThePeerWaits() {
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen -vv --ready-fd 3 127.0.0.1 0 \
        </dev/null >out 2>srv.err 3>ready &
    local spid=$!
    th_wait_file ready || { fail "listener"; return; }
    timeout "$TH_TIMEOUT" python3 - "$(head -n1 ready)" "$DATA" out >py.out 2>&1 <<'PY'
import os, socket, sys, time
port, data, out = int(sys.argv[1]), open(sys.argv[2], "rb").read(), sys.argv[3]
burst = data[:1024 * 1024 + 1000]       # bulk, then a rest far under 256 KiB
def arrived(n, what):
    end = time.monotonic() + 5
    while time.monotonic() < end:
        if os.path.getsize(out) >= n:
            print("ok", what)
            return
        time.sleep(0.01)
    print("stuck", what, os.path.getsize(out), "of", n)
s = socket.create_connection(("127.0.0.1", port))
s.sendall(burst)
arrived(len(burst), "burst")
s.sendall(data[len(burst):len(burst) + 10])
arrived(len(burst) + 10, "after a pause")
s.sendall(data[len(burst) + 10:])
s.shutdown(socket.SHUT_WR)
s.recv(1)
PY
    th_wait_pid "$spid"
    assertEquals "server exit ($(cat srv.err))" 0 "$TH_RC"
    assertContains "the relay path ran" "$(cat srv.err)" "stdout by splice through a pipe"
    assertEquals "the rest of the burst arrived with the connection open" \
        "ok burst
ok after a pause" "$(cat py.out)"
    assertEquals "bytes arrived whole" "$(th_sum "$DATA")" "$(th_sum out)"
}

# The peer closes without reading: stdin was not delivered, so exit 1.
testPeerClosingEarlyIsAnError() {
    truncate -s 64M big   # more than the socket buffers hold
    tc_peer_listen --no-read --then close || { fail "peer"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" <big >out 2>err
    assertEquals "exit status" 1 $?
    assertContains "the message" "$(cat err)" "peer closed before all of stdin was sent"
}

. "$th_shunit2"
