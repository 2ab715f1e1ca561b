#!/bin/bash
# The transform step: -C (LF sent as CRLF, also when CR and LF arrive in
# different reads; received data untouched), -x (hex dump of both
# directions) and -o (raw bytes of both directions) compared byte by byte
# with what passed, --append-output, -k naming each record's client, and a
# log file that cannot be opened (exit 1, no connection made).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

setUp() { tc_setup; }
rc=0
tearDown() { tc_teardown; }

# peer [REPLY]: a python3 listener on 127.0.0.1 port 0 (in port.txt) that
# takes one client, saves what it sent until EOF in recv.bin, then sends
# the file REPLY (if given) and closes. With no client within
# $PEER_ACCEPT_TIMEOUT s (default 20) it writes "none" to recv.bin.
peer() {
    rm -f port.txt recv.bin
    timeout 30 python3 -c "$PEER" "$@" >peer.out 2>&1 &
    PEER_PID=$!
    th_wait_file port.txt || return 1
    PORT=$(cat port.txt)
}

# shellcheck disable=SC2016
PEER='
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
s.settimeout(float(os.environ.get("PEER_ACCEPT_TIMEOUT", "20")))
open("port.tmp", "w").write("%d\n" % s.getsockname()[1])
os.rename("port.tmp", "port.txt")
try:
    c, _ = s.accept()
except socket.timeout:
    open("recv.bin", "w").write("none")
    sys.exit(0)
c.settimeout(None)
got = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
open("recv.tmp", "wb").write(got)
os.rename("recv.tmp", "recv.bin")
if len(sys.argv) > 1:
    c.sendall(open(sys.argv[1], "rb").read())
c.close()
'

# undump FILE DIR: the bytes of direction DIR (">" or "<") in a -x log,
# checking that each line starts where the previous one ended.
undump() {
    python3 - "$1" "$2" <<'PY'
import re, sys
out, want = b"", 0
for line in open(sys.argv[1]):
    m = re.match(r"^(.) (?:\[[^]]*\] )?([0-9a-f]{8,})  (.{49}) \|(.*)\|$", line.rstrip("\n"))
    if not m:
        sys.exit("bad line: " + line)
    if m.group(1) != sys.argv[2]:
        continue
    if int(m.group(2), 16) != want:
        sys.exit("offset %s, expected %x" % (m.group(2), want))
    data = bytes.fromhex(m.group(3).replace(" ", ""))
    out += data
    want += len(data)
sys.stdout.buffer.write(out)
PY
}

# slow_stdin CHUNK...: writes each chunk (python bytes literal) with a pause
# between them, so that each is a read of its own.
slow_stdin() {
    python3 -c '
import ast, sys, time
for i, c in enumerate(sys.argv[1:]):
    if i:
        time.sleep(0.3)
    sys.stdout.buffer.write(ast.literal_eval(c))
    sys.stdout.flush()
' "$@"
}

testCrlfSent() {
    printf 'x\ny\r\nz\n' >reply.bin
    peer reply.bin || return
    slow_stdin "b'a\\nb\\r'" "b'\\nc\\r\\n\\nd'" "b'\\r'" "b'\\r\\n'" |
        timeout 20 "$SOCKCAT" connect -C 127.0.0.1 "$PORT" >got.bin 2>err
    rc=$?; assertEquals "exit status: $(cat err)" 0 "$rc"
    th_wait_pid "$PEER_PID" 10
    assertEquals "LF became CRLF; a CRLF split across reads stayed one" \
        "$(printf 'a\r\nb\r\nc\r\n\r\nd\r\r\n' | od -An -c)" "$(od -An -c recv.bin)"
    assertEquals "received data untouched" "$(th_sum reply.bin)" "$(th_sum got.bin)"
}

testHexDumpAndOutputMatchWhatPassed() {
    head -c 300001 /dev/urandom >sent.bin
    head -c 123457 /dev/urandom >reply.bin
    peer reply.bin || return
    timeout 20 "$SOCKCAT" connect -x dump.txt -o raw.bin 127.0.0.1 "$PORT" \
        <sent.bin >got.bin 2>err
    rc=$?; assertEquals "exit status: $(cat err)" 0 "$rc"
    th_wait_pid "$PEER_PID" 10
    assertEquals "the peer got stdin" "$(th_sum sent.bin)" "$(th_sum recv.bin)"
    assertEquals "stdout got the reply" "$(th_sum reply.bin)" "$(th_sum got.bin)"
    # The reply comes after the peer has read everything: one order only.
    cat sent.bin reply.bin >both.bin
    assertEquals "-o: both directions, raw, in order" "$(th_sum both.bin)" "$(th_sum raw.bin)"
    undump dump.txt '>' >dumped-sent.bin
    assertEquals "-x: the sent bytes ($(head -c 300 dumped-sent.bin | head -n1))" \
        "$(th_sum sent.bin)" "$(th_sum dumped-sent.bin)"
    undump dump.txt '<' >dumped-reply.bin
    assertEquals "-x: the received bytes" "$(th_sum reply.bin)" "$(th_sum dumped-reply.bin)"
}

testHexDumpLooksLikeHexdumpC() {
    printf 'ok\n' >reply.bin
    peer reply.bin || return
    printf 'hello, world: 0123456789\n' |
        timeout 20 "$SOCKCAT" connect -x dump.txt 127.0.0.1 "$PORT" >/dev/null 2>err
    th_wait_pid "$PEER_PID" 10
    assertEquals "the lines" \
"> 00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 3a 20 30 31  |hello, world: 01|
> 00000010  32 33 34 35 36 37 38 39  0a                       |23456789.|
< 00000000  6f 6b 0a                                          |ok.|" "$(cat dump.txt)"
}

testCrlfIsLoggedAsSent() {
    peer || return
    printf 'a\nb\n' | timeout 20 "$SOCKCAT" connect -C -o raw.bin 127.0.0.1 "$PORT" \
        >/dev/null 2>err
    th_wait_pid "$PEER_PID" 10
    assertEquals "-o holds what went out" "$(printf 'a\r\nb\r\n' | od -An -c)" \
        "$(od -An -c raw.bin)"
}

testAppendOutput() {
    local i
    printf 'old\n' >raw.bin
    for i in 1 2; do
        peer || return
        printf 'run%s\n' "$i" |
            timeout 20 "$SOCKCAT" connect -o raw.bin --append-output 127.0.0.1 "$PORT" \
            >/dev/null 2>err
        rc=$?; assertEquals "run $i: $(cat err)" 0 "$rc"
        th_wait_pid "$PEER_PID" 10
    done
    assertEquals "appended" "$(printf 'old\nrun1\nrun2\n')" "$(cat raw.bin)"
    peer || return
    printf 'new\n' | timeout 20 "$SOCKCAT" connect -o raw.bin 127.0.0.1 "$PORT" \
        >/dev/null 2>err
    th_wait_pid "$PEER_PID" 10
    assertEquals "truncated without --append-output" "new" "$(cat raw.bin)"
}

testKeepOpenNamesClients() {
    th_listen out err -k -x dump.txt -o raw.bin || return
    local p1 p2
    p1=$(python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"one\n"); c.shutdown(socket.SHUT_WR)
print(c.getsockname()[1]); c.recv(10)' "$TH_PORT")
    p2=$(python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"two!\n"); c.shutdown(socket.SHUT_WR)
print(c.getsockname()[1]); c.recv(10)' "$TH_PORT")
    local i
    for i in $(seq 1 200); do
        [ "$(wc -l <out)" -ge 2 ] && break
        sleep 0.025
    done
    kill "$TH_PID"
    th_wait_pid "$TH_PID"
    grep -q "^< \[127.0.0.1 $p1\] 00000000  6f 6e 65 0a " dump.txt
    rc=$?; assertTrue "-x names the first client: $(cat dump.txt)" "$rc"
    # The offset counts every client's bytes in that direction.
    grep -q "^< \[127.0.0.1 $p2\] 00000004  74 77 6f 21 0a " dump.txt
    rc=$?; assertTrue "-x names the second client: $(cat dump.txt)" "$rc"
    assertEquals "-o: a header line before each record" \
"< 127.0.0.1 $p1 4
one
< 127.0.0.1 $p2 5
two!" "$(cat raw.bin)"
}

testUnopenableFile() {
    PEER_ACCEPT_TIMEOUT=3 peer || return
    local opt
    for opt in -x -o; do
        timeout 10 "$SOCKCAT" connect "$opt" no/such/dir/log 127.0.0.1 "$PORT" \
            </dev/null >out 2>err
        assertEquals "$opt: exit status" 1 $?
        assertEquals "$opt: one line" \
            "sockcat: open no/such/dir/log: No such file or directory" "$(cat err)"
    done
    th_wait_pid "$PEER_PID" 10
    assertEquals "no connection was made" "none" "$(cat recv.bin)"
    timeout 10 "$SOCKCAT" connect --append-output 127.0.0.1 1 </dev/null >out 2>err
    assertEquals "--append-output alone" 2 $?
}

. "$th_shunit2"
