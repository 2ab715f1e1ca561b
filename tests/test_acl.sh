#!/bin/bash
# Access lists by host name and from files: --allow/--deny NAME (every
# address of the name, resolved once at start), --allowfile/--denyfile
# (CIDR or name a line, # comments, blank lines), a bad entry named with
# its file and line (exit 2), a name that does not resolve (exit 1), over
# TCP and per sender for -u -k. Clients come from 127.0.0.1 and 127.0.0.2,
# both on the loopback interface.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

setUp() { tc_setup; }
tearDown() { tc_teardown; }
rc=0

# client SRC TEXT: connects from SRC to the listener, sends TEXT, then
# waits (bounded) for the server's end.
client() {
    timeout 10 python3 -c '
import socket, sys
c = socket.socket()
c.bind((sys.argv[1], 0))
c.connect(("127.0.0.1", int(sys.argv[2])))
c.settimeout(5)
try:
    c.sendall(sys.argv[3].encode())
    c.shutdown(socket.SHUT_WR)
    c.recv(10)
except OSError:
    pass  # a refused client is closed at once
' "$1" "$TH_PORT" "$2"
}

# udp_send SRC TEXT: one datagram from SRC to the listener.
udp_send() {
    timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(sys.argv[3].encode(), ("127.0.0.1", int(sys.argv[2])))
' "$1" "$TH_PORT" "$2"
}

# wait_for FILE PATTERN: waits (bounded) until FILE has a line matching PATTERN.
wait_for() {
    local i
    for i in $(seq 1 200); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.025
    done
    return 1
}

# stop: ends the listener and waits for it.
stop() {
    kill "$TH_PID" 2>/dev/null
    th_wait_pid "$TH_PID"
}

# admitted SRC... / refused SRC...: each client's fate, judged by the
# listener's stdout and its -v lines.
check_tcp() {
    local want=$1 src
    shift
    for src in "$@"; do
        client "$src" "from-$src;"
        if [ "$want" = admitted ]; then
            wait_for out "from-$src;"
            rc=$?; assertTrue "$src admitted: $(cat out) / $(cat err)" "$rc"
        else
            wait_for err "refused $src [0-9]*: denied by --allow/--deny"
            rc=$?; assertTrue "$src refused: $(cat err)" "$rc"
            grep -q "from-$src;" out
            rc=$?; assertFalse "$src's bytes not written" "$rc"
        fi
    done
}

testAllowName() {
    th_listen out err -k -v --allow localhost || return
    check_tcp admitted 127.0.0.1
    check_tcp refused 127.0.0.2
    stop
}

testDenyName() {
    th_listen out err -k -v --deny localhost || return
    check_tcp refused 127.0.0.1
    check_tcp admitted 127.0.0.2
    stop
}

testAllowFileWithCommentsAndBlankLines() {
    printf '# who may connect\n\n   \n127.0.0.2/32   # the second loopback address\nlocalhost\n\t# an indented comment\n' \
        >allow.txt
    th_listen out err -k -v --allowfile allow.txt || return
    check_tcp admitted 127.0.0.1 127.0.0.2
    check_tcp refused 127.0.0.3
    stop
}

testDenyFile() {
    printf '127.0.0.2\n127.0.0.3/32 # and this one\n' >deny.txt
    th_listen out err -k -v --denyfile deny.txt || return
    check_tcp refused 127.0.0.2 127.0.0.3
    check_tcp admitted 127.0.0.1
    stop
}

testBadEntryNamedWithFileAndLine() {
    local bad
    for bad in 10.0.0.1/33 "10.0.0.1 10.0.0.2" "no spaces allowed" "-dash" "a/b"; do
        printf '# fine\n127.0.0.1\n%s\n' "$bad" >list.txt
        timeout 10 "$SOCKCAT" listen --allowfile list.txt 0 </dev/null >out 2>err
        assertEquals "'$bad': exit status" 2 $?
        assertEquals "'$bad': named with its file and line" \
            "sockcat: list.txt:3: invalid entry '$bad': must be ADDR, ADDR/BITS or a host name" \
            "$(head -n1 err)"
    done
    timeout 10 "$SOCKCAT" listen --denyfile missing.txt 0 </dev/null >out 2>err
    assertEquals "missing file: exit status" 2 $?
    assertEquals "missing file" "sockcat: open missing.txt: No such file or directory" \
        "$(cat err)"
    timeout 10 "$SOCKCAT" listen --allow 'not a name' 0 </dev/null >out 2>err
    assertEquals "bad --allow: exit status" 2 $?
}

testNameThatDoesNotResolve() {
    timeout 20 "$SOCKCAT" listen --deny no-such-host.invalid 0 </dev/null >out 2>err
    rc=$?; assertEquals "exit status: $(cat err)" 1 "$rc"
    grep -q "^sockcat: resolve no-such-host.invalid (--deny): " err
    rc=$?; assertTrue "says which name, and where it was written: $(cat err)" "$rc"
}

testUdpPerSender() {
    printf 'localhost # by name\n' >allow.txt
    th_listen out err -u -k -v --allowfile allow.txt || return
    udp_send 127.0.0.2 "stranger;"
    wait_for err "ignoring 127.0.0.2 [0-9]*: denied by --allow/--deny"
    rc=$?; assertTrue "the sender not listed is ignored: $(cat err)" "$rc"
    udp_send 127.0.0.1 "friend;"
    wait_for out "friend;"
    rc=$?; assertTrue "the listed sender is heard: $(cat out)" "$rc"
    stop
    grep -q stranger out
    rc=$?; assertFalse "nothing from the stranger" "$rc"
}

. "$th_shunit2"
