#!/bin/bash
# `sockcat listen` (one-shot): one client, the listening socket closed at
# once, -v lines, the real port with port 0, dual-stack without HOST, -4/-6,
# a file served to clients that send nothing, and real clients (python3,
# socat, curl).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"
    FILE="${SHUNIT_TMPDIR}/file"
    SMALL="${SHUNIT_TMPDIR}/small"
    tc_data "$DATA" $((1024 * 1024))
    tc_data "$FILE" $((4 * 1024 * 1024))
    tc_data "$SMALL" 1000
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# try_connect HOST PORT: prints "connected", "refused" or the error.
try_connect() {
    timeout 10 python3 - "$1" "$2" <<'EOF'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam)
s.settimeout(5)
try:
    s.connect((host, port))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print(e)
EOF
}

# wait_line FILE TEXT: waits (bounded) until FILE has a line equal to TEXT.
wait_line() {
    local i
    for i in $(seq 1 200); do
        grep -qxF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.025
    done
    return 1
}

# no_listener PORT: waits (bounded, 1 s) until nothing listens on PORT.
no_listener() {
    local i
    for i in $(seq 1 40); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . || return 0
        sleep 0.025
    done
    return 1
}

testOneShotServesOneClient() {
    tc_listen /dev/null out err -v 127.0.0.1 0 || { fail "listen"; return; }
    tc_peer_connect "$TC_PORT" --addr addr --send "$SMALL" --report rep \
        --hold gate.c1
    th_wait_file addr || { fail "first client"; return; }
    local from
    from="sockcat: connection from 127.0.0.1 $(cut -d' ' -f1 addr)"
    assertTrue "connection from the first client" "wait_line err '$from'"
    assertTrue "the listening socket is closed at once" \
        "no_listener $TC_PORT"
    assertEquals "a second client is refused" "refused" \
        "$(try_connect 127.0.0.1 "$TC_PORT")"
    touch gate.c1
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stdout got the first client's bytes" \
        "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "the first client got EOF" "0 $(th_sum /dev/null) eof" \
        "$(tc_report rep)"
}

testVerboseLines() {
    tc_listen "$SMALL" out err -v 127.0.0.1 0 || { fail "listen"; return; }
    assertNotEquals "port 0 became a real port" 0 "$TC_PORT"
    assertTrue "listening line, before any client" \
        "wait_line err 'sockcat: listening on 127.0.0.1 $TC_PORT'"
    head -c 2048 "$DATA" >data2k
    tc_peer_connect "$TC_PORT" --addr addr --send data2k --report rep
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "listening line" "sockcat: listening on 127.0.0.1 $TC_PORT" \
        "$(sed -n 1p err)"
    assertEquals "connection line" \
        "sockcat: connection from 127.0.0.1 $(cut -d' ' -f1 addr)" \
        "$(sed -n 2p err)"
    assertTrue "the byte-count line ends the run: $(tail -n1 err)" \
        "tc_count_line err '1000 B' '2\.00 KiB'"
    assertEquals "the client got stdin" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
}

# dual_stack CLIENTHOST: `listen 0` without HOST serves a client from
# CLIENTHOST.
dual_stack() {
    tc_listen "$SMALL" out err -v 0 || { fail "listen"; return; }
    assertTrue "listening on :: (dual-stack)" \
        "wait_line err 'sockcat: listening on :: $TC_PORT'"
    tc_peer_connect "$TC_PORT" --host "$1" --send "$DATA" --report rep
    th_wait_pid "$TC_PID"
    assertEquals "[$1] exit status" 0 "$TH_RC"
    assertEquals "[$1] stdout" "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "[$1] the client got stdin" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
}

testDualStackIPv4Client() { dual_stack 127.0.0.1; }
testDualStackIPv6Client() { dual_stack ::1; }

testIPv6Loopback() {
    tc_listen "$SMALL" out err -6 -v ::1 0 || { fail "listen"; return; }
    assertTrue "listening on ::1" \
        "wait_line err 'sockcat: listening on ::1 $TC_PORT'"
    assertEquals "no IPv4 client" "refused" \
        "$(try_connect 127.0.0.1 "$TC_PORT")"
    tc_peer_connect "$TC_PORT" --host ::1 --addr addr --send "$DATA" \
        --report rep
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertContains "connection line" "$(cat err)" \
        "sockcat: connection from ::1 $(cut -d' ' -f1 addr)"
    assertEquals "stdout" "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "the client got stdin" "$(tc_expect "$SMALL")" \
        "$(tc_report rep)"
}

testIPv6OnlyWithoutHost() {
    tc_listen "$SMALL" out err -6 0 || { fail "listen"; return; }
    assertEquals "no IPv4 client with -6" "refused" \
        "$(try_connect 127.0.0.1 "$TC_PORT")"
    tc_peer_connect "$TC_PORT" --host ::1 --send "$DATA" --report rep
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testIPv4OnlyWithoutHost() {
    tc_listen "$SMALL" out err -4 -v 0 || { fail "listen"; return; }
    assertTrue "listening on 0.0.0.0" \
        "wait_line err 'sockcat: listening on 0.0.0.0 $TC_PORT'"
    assertEquals "no IPv6 client with -4" "refused" \
        "$(try_connect ::1 "$TC_PORT")"
    tc_peer_connect "$TC_PORT" --send "$DATA" --report rep
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "stdout" "$(th_sum "$DATA")" "$(th_sum out)"
}

testFileToClientThatHalfClosesAtOnce() {
    # `sockcat listen PORT < file`, no HOST.
    tc_listen "$FILE" out err 0 || { fail "listen"; return; }
    # No --send: the client half-closes as soon as it is connected.
    tc_peer_connect "$TC_PORT" --report rep
    assertEquals "the client got the whole file, then EOF" \
        "$(tc_expect "$FILE")" "$(tc_report rep)"
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "nothing on stdout" 0 "$(stat -c %s out)"
    assertEquals "stderr" "" "$(cat err)"
}

testFileToSocatClient() {
    tc_listen "$FILE" out err 127.0.0.1 0 || { fail "listen"; return; }
    timeout "$TH_TIMEOUT" socat -t "$TH_TIMEOUT" - "TCP:127.0.0.1:$TC_PORT" \
        </dev/null >got 2>err.s
    assertEquals "socat: exit status" 0 $?
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "socat got the whole file" "$(th_sum "$FILE")" \
        "$(th_sum got)"
    assertEquals "stderr" "" "$(cat err)"
}

testBothWaysWithSocatClient() {
    tc_listen "$FILE" out err 127.0.0.1 0 || { fail "listen"; return; }
    timeout "$TH_TIMEOUT" socat -t "$TH_TIMEOUT" - "TCP:127.0.0.1:$TC_PORT" \
        <"$DATA" >got 2>err.s
    assertEquals "socat: exit status" 0 $?
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "socat got stdin" "$(th_sum "$FILE")" "$(th_sum got)"
    assertEquals "stdout got socat's bytes" "$(th_sum "$DATA")" \
        "$(th_sum out)"
}

testHttpResponseToCurl() {
    if ! command -v curl >/dev/null; then
        startSkipping
        return
    fi
    {
        printf 'HTTP/1.0 200 OK\r\n'
        printf 'Content-Type: application/octet-stream\r\n'
        printf 'Content-Length: %d\r\n' "$(stat -c %s "$DATA")"
        printf 'Connection: close\r\n\r\n'
        cat "$DATA"
    } >response
    tc_listen response out err 127.0.0.1 0 || { fail "listen"; return; }
    timeout "$TH_TIMEOUT" curl -sS --max-time "$TH_TIMEOUT" -o body \
        "http://127.0.0.1:$TC_PORT/some/path" 2>err.curl
    local rc=$?
    assertEquals "curl: exit status ($(cat err.curl))" 0 "$rc"
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "curl got the body" "$(th_sum "$DATA")" "$(th_sum body)"
    assertEquals "stdout has curl's request" "GET /some/path HTTP/1.1" \
        "$(head -n1 out | tr -d '\r')"
    assertEquals "stderr" "" "$(cat err)"
}

testSockcatClient() {
    tc_listen "$FILE" out err 127.0.0.1 0 || { fail "listen"; return; }
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect 127.0.0.1 "$TC_PORT" \
        <"$DATA" >got 2>err.c
    assertEquals "connect: exit status" 0 $?
    th_wait_pid "$TC_PID"
    assertEquals "listen: exit status" 0 "$TH_RC"
    assertEquals "listen -> connect" "$(th_sum "$FILE")" "$(th_sum got)"
    assertEquals "connect -> listen" "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err err.c)"
}

. "$th_shunit2"
