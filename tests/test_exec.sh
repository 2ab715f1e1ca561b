#!/bin/bash
# -e PROG ARGS and -c CMD: a program on the other end of each connection.
# Bytes both ways by sha256 (python3, socat, ncat and OpenBSD nc as peers),
# half-close both ways, a program that exits without reading, its exit
# status (and 128+N for a signal) as sockcat's, listen -k with a program per
# client, -m, the descriptors and environment a program gets, -U and -u,
# a program that cannot be started, and the usage errors.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

TH_TIMEOUT=60
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER="python3 $HERE/peer.py"

setUp() {
    U=$(mktemp -d "${SHUNIT_TMPDIR}/x.XXXXXX")
    PIDS=()
}

tearDown() {
    local p
    # PIDS are `timeout` wrappers: their sockcat goes first, or it outlives them.
    for p in "${PIDS[@]}"; do
        pkill -TERM -P "$p" 2>/dev/null
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$U"
}

# ex_listen [options...]: th_listen with stdout/stderr in $U/out, $U/err.
ex_listen() {
    th_listen "$U/out" "$U/err" "$@" || { cat "$U/err" >&2; return 1; }
    PIDS+=("$TH_PID")
}

# ex_peer REPORT [peer.py connect options...]: one python peer against TH_PORT.
ex_peer() {
    local report=$1
    shift
    timeout "$TH_TIMEOUT" $PEER connect --port "$TH_PORT" --report "$report" --timeout 15 "$@"
}

# ex_children: how many programs the sockcat of TH_PID (under timeout) runs.
ex_children() {
    local sc
    sc=$(pgrep -P "$TH_PID" | head -n1)
    pgrep -c -P "${sc:-0}"
}

# wait_no_children: bounded wait until that sockcat runs no program.
wait_no_children() {
    local i
    for i in $(seq 1 200); do
        [ "$(ex_children)" = 0 ] && return 0
        sleep 0.025
    done
}

ex_expect() { echo "$(stat -c %s "$1") $(th_sum "$1") eof"; }

testEchoBothWaysBySha() {
    head -c 3000000 /dev/urandom >"$U/data"
    ex_listen -e cat
    ex_peer "$U/rep" --send "$U/data"
    th_wait_pid "$TH_PID" 10
    assertEquals "echoed whole" "$(ex_expect "$U/data")" "$(cat "$U/rep")"
    assertEquals "exit status of cat" 0 "$TH_RC"
    assertEquals "stdout untouched" "" "$(cat "$U/out")"
}

testConnectWithNcatListener() {
    local port
    head -c 1000000 /dev/urandom >"$U/data"
    port=$(th_free_port)
    timeout 10 ncat -l 127.0.0.1 "$port" <"$U/data" >"$U/got" &
    PIDS+=($!)
    th_wait_listening "$port"
    timeout 10 "$SOCKCAT" connect -e sha256sum 127.0.0.1 "$port" 2>"$U/err"
    assertEquals "exit status" 0 $?
    wait "${PIDS[-1]}"
    assertEquals "the program's answer" "$(th_sum "$U/data")  -" "$(cat "$U/got")"
}

testSocatClient() {
    head -c 500000 /dev/urandom >"$U/data"
    ex_listen -c 'cat; echo done'
    timeout 10 socat -t 5 - "TCP:127.0.0.1:$TH_PORT" <"$U/data" >"$U/got"
    th_wait_pid "$TH_PID" 10
    { cat "$U/data"; echo done; } >"$U/want"
    assertEquals "echo, then the program's last line" "$(th_sum "$U/want")" "$(th_sum "$U/got")"
}

testPeerHalfCloseIsChildEof() {
    # The child reads to EOF, then answers: the connection's other half is still open.
    head -c 200000 /dev/urandom >"$U/data"
    ex_listen -c 'wc -c; echo after-eof'
    ex_peer "$U/rep" --send "$U/data" --save "$U/got"
    th_wait_pid "$TH_PID" 10
    assertEquals "answer after EOF" "200000 after-eof" "$(tr '\n' ' ' <"$U/got" | sed 's/ $//')"
}

testChildStdoutEofHalfClosesPeer() {
    # The child closes its stdout first and goes on reading: the peer gets EOF
    # while it still sends, and what it sends after reaches the child.
    head -c 300000 /dev/urandom >"$U/data"
    ex_listen -c "echo early; exec >&-; cat >'$U/child-got'"
    ex_peer "$U/rep" --send "$U/data" --send-after eof
    th_wait_pid "$TH_PID" 10
    assertEquals "peer got EOF after the early line" "6 $(echo early | sha256sum | cut -d' ' -f1) eof" \
        "$(cat "$U/rep")"
    assertEquals "the child got everything sent after" "$(th_sum "$U/data")" "$(th_sum "$U/child-got")"
    assertEquals "status" 0 "$TH_RC"
}

testChildExitsWithoutReading() {
    head -c 20000000 /dev/urandom >"$U/data"
    ex_listen -c 'echo bye; exit 3'
    ex_peer "$U/rep" --send "$U/data"
    th_wait_pid "$TH_PID" 10
    assertEquals "exit status is the program's (no SIGPIPE)" 3 "$TH_RC"
    assertEquals "the peer got the program's line" "4 $(echo bye | sha256sum | cut -d' ' -f1) eof" \
        "$(cat "$U/rep")"
}

testExitStatusOfSignal() {
    ex_listen -c 'kill -TERM $$'
    ex_peer "$U/rep"
    th_wait_pid "$TH_PID" 10
    assertEquals "128+15" 143 "$TH_RC"
    ex_listen -v -c 'exit 42'
    ex_peer "$U/rep"
    th_wait_pid "$TH_PID" 10
    assertEquals "status passed through" 42 "$TH_RC"
    assertContains "-v start line" "$(cat "$U/err")" "sockcat: started program "
    assertContains "-v exit line" "$(cat "$U/err")" "exited with status 42"
}

testPeerResetClosesChildPipes() {
    # yes writes for ever; a reset closes its stdout: it dies of SIGPIPE.
    ex_listen -v -e yes
    timeout 10 python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(1000)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' "$TH_PORT"
    th_wait_pid "$TH_PID" 10
    assertEquals "killed by SIGPIPE" 141 "$TH_RC"
    # A program that reads sees its stdin end.
    ex_listen -c "cat >/dev/null; echo stdin-ended >'$U/flag'"
    timeout 10 python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"x" * 1000)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()' "$TH_PORT"
    th_wait_pid "$TH_PID" 10
    assertEquals "stdin ended" "stdin-ended" "$(cat "$U/flag")"
    assertEquals "status" 0 "$TH_RC"
}

testKeepOpenOneChildPerClient() {
    ex_listen -k -e cat
    timeout 30 python3 "$HERE/ex_client.py" --clients 20 --bytes 200000 127.0.0.1 "$TH_PORT" \
        >"$U/res"
    assertEquals "every client got its own bytes" 0 $?
    assertContains "$(cat "$U/res")" "ok=20 "
    echo hello | timeout 5 nc.openbsd -N 127.0.0.1 "$TH_PORT" >"$U/nc"
    assertEquals "OpenBSD nc too" hello "$(cat "$U/nc")"
    wait_no_children
    assertEquals "every child reaped" 0 "$(ex_children)"
    kill -0 "$TH_PID"
    assertTrue "still serving" $?
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID" 10
    assertEquals "stopped on SIGTERM" 143 "$TH_RC"
}

# Many programs busy at once, each client sending 1 MiB while it reads its
# echo: sockcat holds what each conversation queues, within its marks, not a
# full read block per direction (about 50 MiB at 100 clients when it did).
testKeepOpenManyBusyMemory() {
    local n=100 rss
    th_sanitized && n=20
    ex_listen -k -e cat
    timeout 120 python3 "$HERE/ex_client.py" --clients "$n" --bytes 1048576 --read-exact \
        --timeout 110 127.0.0.1 "$TH_PORT" >"$U/res"
    rc=$?
    assertEquals "every client got its own bytes: $(cat "$U/res")" 0 "$rc"
    rss=$(th_peak_rss_kib "$(pgrep -P "$TH_PID" | head -n1)")
    wait_no_children
    assertEquals "every child reaped" 0 "$(ex_children)"
    if ! th_sanitized; then
        assertTrue "peak RSS ${rss} KiB with $n busy programs" "[ '${rss:-0}' -lt 30000 ]"
    fi
}

testKeepOpenDistinctChildren() {
    ex_listen -k -c 'echo $$; cat >/dev/null'
    for i in 1 2 3 4; do
        timeout 10 $PEER connect --port "$TH_PORT" --save "$U/pid.$i" --timeout 50 \
            --send /dev/null --then shut --then-when "$U/gate" &
    done
    for i in 1 2 3 4; do th_wait_file "$U/pid.$i"; done
    assertEquals "four children" 4 "$(cat "$U"/pid.* | sort -u | wc -l)"
    assertEquals "four running" 4 "$(ex_children)"
    touch "$U/gate"
    wait_no_children
    assertEquals "all reaped" 0 "$(ex_children)"
}

testMaxConnsCapsChildren() {
    # -m 2: a third client while two programs run is refused; once one
    # leaves, the next client gets a program.
    ex_listen -k -m 2 -c 'echo $$; cat >/dev/null'
    for i in 1 2; do
        timeout 10 $PEER connect --port "$TH_PORT" --save "$U/pid.$i" --timeout 50 \
            --send /dev/null --then shut --then-when "$U/gate.$i" &
        th_wait_file "$U/pid.$i"
    done
    assertEquals "two children" 2 "$(ex_children)"
    ex_peer "$U/rep3" --send /dev/null
    assertEquals "third refused" "0" "$(cut -d' ' -f1 "$U/rep3")"
    assertEquals "still two" 2 "$(ex_children)"
    touch "$U/gate.1"
    for i in $(seq 1 200); do [ "$(ex_children)" = 1 ] && break; sleep 0.025; done
    ex_peer "$U/rep4" --send /dev/null --save "$U/pid.4"
    assertTrue "fourth served once one left" "[ -s '$U/pid.4' ]"
    touch "$U/gate.2"
}

testChildSeesOnlyItsDescriptors() {
    # fd 3 is --ready-fd; one client holds a socket while another looks.
    # The pipeline runs in a subshell: the shell whose descriptors ls lists
    # ($$) then holds only what it inherited, never the pipes it makes for
    # the pipeline itself (it keeps one open until the last stage is forked).
    ex_listen -k -c '(ls /proc/$$/fd | sort -n | tr "\n" " "); cat >/dev/null'
    timeout 10 $PEER connect --port "$TH_PORT" --save "$U/first" --timeout 50 \
        --send /dev/null --then shut --then-when "$U/gate" &
    th_wait_file "$U/first"
    timeout 10 $PEER connect --port "$TH_PORT" --save "$U/second" --timeout 8 --send /dev/null
    touch "$U/gate"
    assertEquals "first child" "0 1 2 " "$(cat "$U/first")"
    assertEquals "second child, with another client open" "0 1 2 " "$(cat "$U/second")"
}

testEnvironmentTcp() {
    ex_listen -c 'env | grep -E "^SOCKCAT_(REMOTE|LOCAL|PROTO)" | sort'
    ex_peer "$U/rep" --save "$U/env" --addr "$U/addr"
    th_wait_pid "$TH_PID" 10
    read -r lport raddr rport <"$U/addr"
    assertEquals "environment" "SOCKCAT_LOCAL_ADDR=127.0.0.1
SOCKCAT_LOCAL_PORT=$TH_PORT
SOCKCAT_PROTO=tcp
SOCKCAT_REMOTE_ADDR=127.0.0.1
SOCKCAT_REMOTE_PORT=$lport" "$(cat "$U/env")"
}

testUnixStream() {
    head -c 1000000 /dev/urandom >"$U/data"
    timeout 10 "$SOCKCAT" listen --ready-fd 3 -U -c 'env | grep -E "^SOCKCAT_(REMOTE|LOCAL|PROTO)" | sort >&2; exec cat' \
        "$U/s" 2>"$U/err" 3>"$U/ready" &
    PIDS+=($!)
    th_wait_file "$U/ready"
    timeout 10 socat -t 5 - "UNIX-CONNECT:$U/s" <"$U/data" >"$U/got"
    th_wait_pid "${PIDS[-1]}" 10
    assertEquals "echo over -U" "$(th_sum "$U/data")" "$(th_sum "$U/got")"
    assertEquals "environment" "SOCKCAT_LOCAL_ADDR=$U/s
SOCKCAT_PROTO=unix
SOCKCAT_REMOTE_ADDR=" "$(cat "$U/err")"
}

testUdpDatagrams() {
    local port
    port=$(th_free_port)
    timeout 10 "$SOCKCAT" listen -u -c 'echo "$SOCKCAT_PROTO" >&2; exec cat' 127.0.0.1 "$port" \
        2>"$U/err" &
    PIDS+=($!)
    th_wait_listening "$port" -u
    timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(("127.0.0.1", int(sys.argv[1])))
for n in (1, 100, 1400, 30000):
    s.send(bytes([65 + n % 26]) * n)
    d = s.recv(65536)
    print(len(d))' "$port" >"$U/got"
    assertEquals "one datagram back per datagram" "1 100 1400 30000" "$(tr '\n' ' ' <"$U/got" | sed 's/ $//')"
    kill -TERM "${PIDS[-1]}"
    th_wait_pid "${PIDS[-1]}" 10
    assertEquals "protocol" "udp" "$(head -n1 "$U/err")"
}

testMissingProgram() {
    ex_listen -e "$U/nosuch arg"
    ex_peer "$U/rep"
    th_wait_pid "$TH_PID" 10
    assertEquals "status" 1 "$TH_RC"
    assertEquals "message" "sockcat: exec $U/nosuch: No such file or directory" "$(cat "$U/err")"
    assertEquals "peer closed" "0 $(sha256sum </dev/null | cut -d' ' -f1) eof" "$(cat "$U/rep")"
    printf 'data' >"$U/notexec"
    ex_listen -e "$U/notexec"
    ex_peer "$U/rep"
    th_wait_pid "$TH_PID" 10
    assertEquals "not executable" "sockcat: exec $U/notexec: Permission denied" "$(cat "$U/err")"
    # -k: that client is closed, the server goes on.
    ex_listen -k -e nosuch-program-sockcat
    ex_peer "$U/rep1"
    ex_peer "$U/rep2"
    assertEquals "client closed" "0 $(sha256sum </dev/null | cut -d' ' -f1) eof" "$(cat "$U/rep2")"
    kill -0 "$TH_PID"
    assertTrue "server goes on" $?
    assertEquals "one line per client" 2 "$(grep -c 'exec nosuch-program-sockcat: No such file' "$U/err")"
}

testSplitWithBackslash() {
    ex_listen -e 'printf %s. a\ b c\\d'
    ex_peer "$U/rep" --save "$U/got"
    th_wait_pid "$TH_PID" 10
    assertEquals "words" 'a b.c\d.' "$(cat "$U/got")"
}

testConflicts() {
    local pair
    for pair in "-e cat -c cat:-e and -c" "-e cat --send-only:-e and --send-only" \
                "-e cat --recv-only:-e and --recv-only" "-c cat --send-only:-c and --send-only" \
                "-c cat --recv-only:-c and --recv-only"; do
        # shellcheck disable=SC2086
        "$SOCKCAT" listen ${pair%%:*} 0 2>"$U/err"
        assertEquals "status for ${pair%%:*}" 2 $?
        assertEquals "message" "sockcat: conflicting options: ${pair#*:}" "$(head -n1 "$U/err")"
    done
    "$SOCKCAT" listen -e '  ' 0 2>"$U/err"
    assertEquals "empty command" 2 $?
}

. "$th_shunit2"
