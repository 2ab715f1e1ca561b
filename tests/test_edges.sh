#!/bin/bash
# Edge cases found by trying to break sockcat: each test names the bug it
# keeps away.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

setUp() {
    cd "${SHUNIT_TMPDIR}" || return 1
    rm -rf edge && mkdir edge && cd edge || return 1
    TH_PID=
}

tearDown() {
    [ -n "${TH_PID:-}" ] && kill "$TH_PID" 2>/dev/null
    TH_PID=
}

# A python3 client: connects from SOURCE to PORT, sends TEXT, half-closes,
# prints what it receives.
edge_client() { # SOURCE ADDR PORT TEXT
    timeout 5 python3 - "$@" <<'PY'
import socket, sys
src, addr, port, text = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam)
s.bind((src, 0))
s.connect((addr, port))
s.sendall(text.encode())
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
PY
}

testOneShotRefusedClientDoesNotEndStdout() {
    # A client turned away by --allow must not close stdout: the one
    # allowed afterwards still gets its bytes through.
    TH_ADDR=127.0.0.1 th_listen out err -v --allow 127.0.0.2 || { fail "listen"; return; }
    edge_client 127.0.0.1 127.0.0.1 "$TH_PORT" "denied" 2>/dev/null
    edge_client 127.0.0.2 127.0.0.1 "$TH_PORT" "allowed-data" ||
        { fail "allowed client"; return; }
    th_wait_pid "$TH_PID"
    TH_PID=
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stdout has the allowed client's bytes" "allowed-data" "$(cat out)"
    assertTrue "the first client was refused" "grep -q 'refused 127.0.0.1 .*denied' err"
}

testMappedAddressRulesMatchIPv4Clients() {
    # --deny ::ffff:127.0.0.1 means the IPv4 client 127.0.0.1.
    TH_ADDR=:: th_listen out err -v -k --deny ::ffff:127.0.0.1 || { fail "listen"; return; }
    edge_client 127.0.0.1 127.0.0.1 "$TH_PORT" "from-v4" 2>/dev/null
    edge_client ::1 ::1 "$TH_PORT" "from-v6" || { fail "IPv6 client"; return; }
    th_wait_file out
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID"
    TH_PID=
    assertEquals "exit status" 143 "$TH_RC"
    assertEquals "only the IPv6 client got through" "from-v6" "$(cat out)"
    assertTrue "127.0.0.1 refused" "grep -q 'refused 127.0.0.1 .*denied' err"
}

testResetWhileSendingIsAnError() {
    # The peer reads 2 MiB of an endless stdin, then resets: stdin was not
    # delivered, so this is an error, whichever side notices first.
    python3 - >port <<'PY' &
import socket, struct, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
n = 0
while n < 2 * 1024 * 1024:
    n += len(c.recv(65536))
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
PY
    local peer=$!
    th_wait_file port || { fail "peer"; return; }
    timeout 10 "$SOCKCAT" connect 127.0.0.1 "$(cat port)" </dev/zero >out 2>err
    assertEquals "exit status" 1 "$?"
    assertTrue "reset reported: $(cat err)" \
        "grep -Eq '^sockcat: (read from|write to) 127.0.0.1 [0-9]+: Connection reset by peer$' err"
    wait "$peer"
}

testOneByteChunksStayBounded() {
    # Twenty clients send one byte per segment while nobody reads stdout:
    # memory is bounded by the high-water mark counting each chunk's cost,
    # not only its bytes (one-byte chunks once took 250 MB).
    if th_sanitized; then
        startSkipping
        return 0
    fi
    local fifo=stdout.fifo spid hwm
    mkfifo "$fifo"
    exec 7<>"$fifo"   # held open, never read
    th_listen "$fifo" err -k || { exec 7>&-; fail "listen"; return; }
    timeout 20 python3 - "$TH_PORT" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
for s in socks:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
end = time.time() + 4
while time.time() < end:
    for s in socks:
        try:
            s.send(b"x")
        except BlockingIOError:
            pass
PY
    spid=$(cat /proc/"$TH_PID"/task/*/children 2>/dev/null | awk '{print $1; exit}')
    hwm=$(th_peak_rss_kib "$spid")
    assertTrue "peak RSS ${hwm} KiB under 16 MiB" "[ ${hwm:-999999} -lt 16384 ]"
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID" 10
    TH_PID=
    exec 7>&-
}

testHelpToFullDeviceFails() {
    timeout 5 "$SOCKCAT" --help >/dev/full 2>err
    assertEquals "exit status" 1 "$?"
    assertEquals "message" "sockcat: write to stdout: No space left on device" "$(cat err)"
}

testPortMessages() {
    timeout 5 "$SOCKCAT" connect 127.0.0.1 no-such-service-here 2>err
    assertEquals "exit status, unknown service" 2 "$?"
    assertEquals "unknown service named" \
        "sockcat: invalid port 'no-such-service-here': no such TCP service" "$(head -n1 err)"
    timeout 5 "$SOCKCAT" listen -12 2>err
    assertEquals "exit status, -12" 2 "$?"
    assertEquals "-12 is a bad port, not options" \
        "sockcat: invalid port '-12': must be an integer from 0 to 65535" "$(head -n1 err)"
}

testDatagramStdinRefused() {
    # A UDP socket as stdin cannot be read as a stream: say so, don't hang.
    # Nor can a Unix SEQPACKET socket: read in the thread pool it could
    # block for ever and make sockcat unstoppable.
    local got kind
    for kind in udp seqpacket; do
        got=$(timeout 5 python3 - "$SOCKCAT" "$kind" <<'PY'
import socket, subprocess, sys
if sys.argv[2] == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
else:
    s, _other = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
r = subprocess.run([sys.argv[1], "connect", "127.0.0.1", "9"], stdin=s.fileno(),
                   stderr=subprocess.PIPE, timeout=4)
print(r.returncode, r.stderr.decode().strip())
PY
)
        assertEquals "$kind stdin: exit 1 and why" \
            "1 sockcat: open stdin: Operation not supported" "$got"
    done
}

testClientThatResetBeforeAcceptIsStillRead() {
    # A client sends, then resets before sockcat accepts it (sockcat is
    # stopped meanwhile): its bytes are still in the kernel and must reach
    # stdout, as they do with ncat.
    th_listen out err -k -v || { fail "listen"; return; }
    local spid
    spid=$(cat /proc/"$TH_PID"/task/*/children 2>/dev/null | awk '{print $1; exit}')
    kill -STOP "$spid"
    timeout 5 python3 -c "
import socket, struct
s = socket.create_connection(('127.0.0.1', $TH_PORT))
s.sendall(b'important\n')
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
s.close()"
    kill -CONT "$spid"
    th_wait_file out
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID"
    TH_PID=
    assertEquals "exit status" 143 "$TH_RC"
    assertEquals "its bytes reached stdout" "important" "$(cat out)"
}

. "$th_shunit2"
