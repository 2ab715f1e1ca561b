#!/bin/bash
# --proxy: sockcat connect through tinyproxy (HTTP CONNECT, with and without
# Basic auth), ncat -l --proxy-type http, microsocks (SOCKS5, with and
# without a password) and dante (SOCKS4, SOCKS4a); data checked by sha256 in
# both directions; --proxy-dns; bytes the server sends right behind the
# proxy's answer; refusals and malformed answers named; --ssl inside the
# tunnel; -w bounding a proxy that never answers; usage errors.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

TH_TIMEOUT=40

oneTimeSetUp() {
    head -c 400000 /dev/urandom >"${SHUNIT_TMPDIR}/up"
    head -c 300000 /dev/urandom >"${SHUNIT_TMPDIR}/down"
    UP=${SHUNIT_TMPDIR}/up
    DOWN=${SHUNIT_TMPDIR}/down
}

setUp() {
    T=$(mktemp -d "${SHUNIT_TMPDIR}/t.XXXXXX")
    PIDS=()
}

tearDown() {
    local p
    # TERM, which timeout(1) passes on to what it runs (KILL would orphan that).
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$T"
}

need() {
    # Daemons such as danted live in sbin, outside an ordinary user's PATH.
    PATH=$PATH:/usr/sbin:/sbin command -v "$1" >/dev/null && return 0
    echo "skipped: $1 is not installed (tests/setup-debian.sh installs it)" >&2
    startSkipping
    return 1
}

# bg COMMAND...: in the background, bounded, keeping the caller's stdin.
bg() {
    timeout "$TH_TIMEOUT" "$@" <&0 &
    PIDS+=("$!")
    BG_PID=$!
}

# target: a server on 127.0.0.1 that sends DOWN as soon as a client comes,
# keeps what it receives (UP's length of it) in $T/srv, then closes.
# Sets TARGET_PORT and TARGET_PID.
target() {
    rm -f "$T/target.port" "$T/srv"
    bg python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
c.sendall(open(sys.argv[2], "rb").read())
want, got = int(sys.argv[3]), bytearray()
while len(got) < want:
    d = c.recv(65536)
    if not d: break
    got += d
open(sys.argv[4], "wb").write(got)
c.close()
' "$T/target.port" "$DOWN" "$(stat -c %s "$UP")" "$T/srv" </dev/null
    TARGET_PID=$BG_PID
    th_wait_file "$T/target.port" || return 1
    TARGET_PORT=$(cat "$T/target.port")
}

# through OPTIONS...: sockcat connect with OPTIONS to the target, stdin UP;
# it does not half-close (some proxies drop the tunnel at a half-close).
# Checks both directions and the exit status.
through() {
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --no-shutdown "$@" <"$UP" >"$T/out" 2>"$T/err"
    RC=$?
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$TARGET_PID" 30
    assertEquals "the client received the server's bytes" "$(th_sum "$DOWN")" "$(th_sum "$T/out")"
    assertEquals "the server received the client's bytes" "$(th_sum "$UP")" "$(th_sum "$T/srv")"
}

tinyproxy_start() {
    local port=$1
    shift
    {
        echo "Port $port"
        echo "Listen 127.0.0.1"
        echo "Timeout 30"
        echo "Allow 127.0.0.1"
        echo "LogLevel Critical"
        for line in "$@"; do echo "$line"; done
    } >"$T/tinyproxy.conf"
    bg tinyproxy -d -c "$T/tinyproxy.conf" </dev/null >"$T/tinyproxy.log" 2>&1
    th_wait_listening "$port"
}

# A proxy in python that answers CONNECT with $1 (backslash escapes), then
# the bytes of file $2 if given, in one send, and closes. Sets FAKE_PORT.
fake_proxy() {
    bg python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
req = b""
while b"\r\n\r\n" not in req:
    d = c.recv(4096)
    if not d: sys.exit(1)
    req += d
open(sys.argv[3], "wb").write(req)
answer = sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1")
if len(sys.argv) > 4:
    answer += open(sys.argv[4], "rb").read()
c.sendall(answer)
c.shutdown(socket.SHUT_WR)
while c.recv(4096): pass
' "$T/fake.port" "$1" "$T/request" ${2:+"$2"} </dev/null
    th_wait_file "$T/fake.port" || return 1
    FAKE_PORT=$(cat "$T/fake.port")
}

# --- HTTP CONNECT ----------------------------------------------------------------------

testTinyproxy() {
    need tinyproxy || return 0
    local port
    port=$(th_free_port)
    tinyproxy_start "$port"
    target
    through -v --proxy "127.0.0.1:$port" 127.0.0.1 "$TARGET_PORT"
    assertContains "-v names the tunnel" "$(cat "$T/err")" \
        "proxy 127.0.0.1 $port: tunnel to 127.0.0.1 $TARGET_PORT open"
}

testTinyproxyBasicAuth() {
    need tinyproxy || return 0
    local port
    port=$(th_free_port)
    tinyproxy_start "$port" "BasicAuth alice s3cret"
    target
    through --proxy "127.0.0.1:$port" --proxy-auth alice:s3cret localhost "$TARGET_PORT"

    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$port" --proxy-auth alice:wrong \
        127.0.0.1 9 </dev/null >"$T/out2" 2>"$T/err2"
    assertEquals "wrong password: exit status" 1 "$?"
    # tinyproxy answers a wrong password with 401, not 407.
    assertContains "wrong password: the proxy's answer named" "$(cat "$T/err2")" \
        "sockcat: proxy 127.0.0.1 $port: HTTP 40"
}

testNcatHttpProxy() {
    local port
    port=$(th_free_port)
    bg ncat -l 127.0.0.1 "$port" --proxy-type http </dev/null >/dev/null 2>&1
    th_wait_listening "$port"
    target
    through --proxy "127.0.0.1:$port" 127.0.0.1 "$TARGET_PORT"
}

# The server's first bytes came in the same packet as the proxy's answer.
testBytesBehindTheAnswerKept() {
    fake_proxy 'HTTP/1.1 200 Connection established\r\nX-A: b\r\n\r\nbanner right behind\n'
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$FAKE_PORT" example.org 443 \
        </dev/null >"$T/out" 2>"$T/err"
    rc=$?
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$rc"
    assertEquals "the bytes behind the answer" "banner right behind" "$(cat "$T/out")"
    assertEquals "the request" "CONNECT example.org:443 HTTP/1.1" "$(head -n1 "$T/request" | tr -d '\r')"
}

# Far more than fits the answer's buffer came in the read that ended the answer.
testManyBytesBehindTheAnswerKept() {
    fake_proxy 'HTTP/1.1 200 OK\r\n\r\n' "$DOWN"
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$FAKE_PORT" example.org 443 \
        </dev/null >"$T/out" 2>"$T/err"
    rc=$?
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$rc"
    assertEquals "the bytes behind the answer" "$(th_sum "$DOWN")" "$(th_sum "$T/out")"
}

testRefusalNamed() {
    fake_proxy 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$FAKE_PORT" example.org 443 \
        </dev/null >"$T/out" 2>"$T/err"
    assertEquals "exit status" 1 "$?"
    assertEquals "the message" "sockcat: proxy 127.0.0.1 $FAKE_PORT: HTTP 403 Forbidden" "$(cat "$T/err")"
}

testMalformedAnswer() {
    fake_proxy 'SSH-2.0-OpenSSH_9.2\r\n\r\n'
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$FAKE_PORT" example.org 443 \
        </dev/null >"$T/out" 2>"$T/err"
    assertEquals "exit status" 1 "$?"
    assertEquals "the message" "sockcat: proxy 127.0.0.1 $FAKE_PORT: not an HTTP proxy's answer" \
        "$(cat "$T/err")"
    assertEquals "nothing on stdout" 0 "$(stat -c %s "$T/out")"
}

# A proxy that accepts and never answers: -w bounds the whole.
testSilentProxyBoundedByWait() {
    local port
    port=$(th_free_port)
    bg python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); time.sleep(10)
' "$port" </dev/null
    th_wait_listening "$port"
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect -w 1 --proxy "127.0.0.1:$port" example.org 443 \
        </dev/null >"$T/out" 2>"$T/err"
    assertEquals "exit status" 1 "$?"
    assertEquals "the message" "sockcat: proxy 127.0.0.1 $port: Connection timed out" "$(cat "$T/err")"
}

# --- SOCKS -----------------------------------------------------------------------------

testMicrosocksSocks5() {
    need microsocks || return 0
    local port
    port=$(th_free_port)
    bg microsocks -i 127.0.0.1 -p "$port" </dev/null >/dev/null 2>&1
    th_wait_listening "$port"
    target
    through --proxy "127.0.0.1:$port" --proxy-type socks5 127.0.0.1 "$TARGET_PORT"
    # The target listens on IPv4 only: -4 keeps the local look-up of localhost there.
    target
    through -4 --proxy "127.0.0.1:$port" --proxy-type socks5 --proxy-dns local localhost "$TARGET_PORT"
}

testMicrosocksSocks5Password() {
    need microsocks || return 0
    local port
    port=$(th_free_port)
    bg microsocks -i 127.0.0.1 -p "$port" -u bob -P pw </dev/null >/dev/null 2>&1
    th_wait_listening "$port"
    target
    through --proxy "127.0.0.1:$port" --proxy-type socks5 --proxy-auth bob:pw 127.0.0.1 "$TARGET_PORT"

    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$port" --proxy-type socks5 \
        --proxy-auth bob:nope 127.0.0.1 9 </dev/null >/dev/null 2>"$T/err2"
    assertEquals "wrong password: exit status" 1 "$?"
    assertEquals "wrong password: the message" \
        "sockcat: proxy 127.0.0.1 $port: SOCKS5: user or password refused" "$(cat "$T/err2")"
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$port" --proxy-type socks5 \
        127.0.0.1 9 </dev/null >/dev/null 2>"$T/err3"
    assertEquals "no password: exit status" 1 "$?"
    assertContains "no password: the message" "$(cat "$T/err3")" \
        "sockcat: proxy 127.0.0.1 $port: SOCKS5: no acceptable authentication method"
}

dante_start() {
    local port=$1
    cat >"$T/danted.conf" <<EOF
logoutput: $T/danted.log
internal: 127.0.0.1 port = $port
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 protocol: tcp }
EOF
    bg "$(PATH=$PATH:/usr/sbin:/sbin command -v danted)" -f "$T/danted.conf" </dev/null >/dev/null 2>&1
    th_wait_listening "$port"
}

# SOCKS4a: a python proxy checks the request carries the name, then relays the answer.
testSocks4aRequest() {
    bg python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
c, _ = s.accept()
req = b""
while req.count(b"\0") < 2 or len(req) < 9:
    d = c.recv(4096)
    if not d: sys.exit(1)
    req += d
open(sys.argv[2], "wb").write(req)
c.sendall(b"\0\x5a\0\0\0\0\0\0after the answer\n")
c.shutdown(socket.SHUT_WR)
while c.recv(4096): pass
' "$T/fake.port" "$T/request" </dev/null
    th_wait_file "$T/fake.port"
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --proxy "127.0.0.1:$(cat "$T/fake.port")" \
        --proxy-type socks4a --proxy-auth joe:x example.org 443 </dev/null >"$T/out" 2>"$T/err"
    rc=$?
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$rc"
    assertEquals "the bytes behind the answer" "after the answer" "$(cat "$T/out")"
    assertEquals "the request: version 4, CONNECT, port 443, 0.0.0.1, user, name" \
        "04 01 01 bb 00 00 00 01 6a 6f 65 00 65 78 61 6d 70 6c 65 2e 6f 72 67 00" \
        "$(od -An -tx1 "$T/request" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')"
}

testDanteSocks4() {
    need danted || return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "skipped: danted here needs root" >&2
        startSkipping
        return
    fi
    local port
    port=$(th_free_port)
    dante_start "$port" || { startSkipping; return; }
    target
    through --proxy "127.0.0.1:$port" --proxy-type socks4 127.0.0.1 "$TARGET_PORT"
    # dante has no SOCKS4a (it answers 91): that is the fake proxy's and microsocks' part.
}

# --- TLS inside the tunnel -----------------------------------------------------------------

testSslThroughProxy() {
    need microsocks || return 0
    local port pin
    port=$(th_free_port)
    bg microsocks -i 127.0.0.1 -p "$port" </dev/null >/dev/null 2>&1
    th_wait_listening "$port"
    # microsocks ends the whole tunnel once one side's stream ends (it has no
    # half-close), so the server must not half-close (close_notify, FIN) after
    # DOWN while the client may still be sending UP; the polls below and
    # tearDown end both.
    TH_STDIN=$DOWN th_listen "$T/srv" "$T/srv.err" -v --ssl --no-shutdown
    PIDS+=("$TH_PID")
    pin=$(grep -o 'sha256:[0-9a-f]\{64\}' "$T/srv.err")
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --no-shutdown --ssl --ssl-pin "$pin" \
        --proxy "127.0.0.1:$port" --proxy-type socks5 127.0.0.1 "$TH_PORT" <"$UP" >"$T/out" 2>"$T/err" &
    local client=$!
    PIDS+=("$client")
    # The server has everything once the client's bytes are all there.
    local i
    for i in $(seq 1 400); do
        [ "$(stat -c %s "$T/srv" 2>/dev/null)" = "$(stat -c %s "$UP")" ] && break
        sleep 0.025
    done
    for i in $(seq 1 400); do
        [ "$(stat -c %s "$T/out" 2>/dev/null)" = "$(stat -c %s "$DOWN")" ] && break
        sleep 0.025
    done
    assertEquals "TLS in the tunnel: the client received" "$(th_sum "$DOWN")" "$(th_sum "$T/out")"
    assertEquals "TLS in the tunnel: the server received" "$(th_sum "$UP")" "$(th_sum "$T/srv")"
}

# --- usage -----------------------------------------------------------------------------------

testUsageErrors() {
    local out
    out=$(timeout 5 "$SOCKCAT" connect --proxy-type socks5 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "--proxy-type alone: status" 2 "$?"
    assertContains "--proxy-type alone" "$out" "option --proxy-type: needs --proxy"
    out=$(timeout 5 "$SOCKCAT" connect --proxy 127.0.0.1 --proxy-type socks9 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "bad type: status" 2 "$?"
    assertContains "bad type" "$out" "invalid proxy type 'socks9'"
    out=$(timeout 5 "$SOCKCAT" connect --proxy 127.0.0.1 --proxy-type socks4 --proxy-dns remote \
        127.0.0.1 9 2>&1 </dev/null)
    assertEquals "socks4 remote dns: status" 2 "$?"
    out=$(timeout 5 "$SOCKCAT" connect --proxy 127.0.0.1:x 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "bad proxy port: status" 2 "$?"
    out=$(timeout 5 "$SOCKCAT" listen --proxy 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "listen --proxy: status" 2 "$?"
    out=$(timeout 5 "$SOCKCAT" connect -U --proxy 127.0.0.1 /tmp/x 2>&1 </dev/null)
    assertEquals "-U --proxy: status" 2 "$?"
}

. "$th_shunit2"
