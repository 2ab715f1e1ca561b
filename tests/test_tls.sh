#!/bin/bash
# --ssl: sockcat as a TLS client against openssl s_server, ncat --ssl, socat
# OPENSSL-LISTEN, stunnel4 and itself, and as a TLS server for openssl
# s_client, ncat --ssl, socat OPENSSL and curl; data checked by sha256 in
# both directions. Verification by default (and its messages), pinning the
# self-signed certificate listen makes, client certificates, a peer that
# does not speak TLS, -w bounding the handshake, the end without
# close_notify, many clients on listen -k --ssl, OpenSSL mapped only by a run
# that uses TLS (and the message when it cannot be loaded), and the usage
# errors.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20

oneTimeSetUp() {
    C=${SHUNIT_TMPDIR}/certs
    mkdir -p "$C"
    # A server certificate for localhost and 127.0.0.1 that is its own
    # authority, and a client certificate likewise.
    th_make_cert "$C/server" "/CN=localhost" "DNS:localhost,IP:127.0.0.1" || return 1
    th_make_cert "$C/client" "/CN=sockcat-client" "DNS:client" || return 1
    head -c 1000000 /dev/urandom >"${SHUNIT_TMPDIR}/up"
    head -c 700000 /dev/urandom >"${SHUNIT_TMPDIR}/down"
    UP=${SHUNIT_TMPDIR}/up
    DOWN=${SHUNIT_TMPDIR}/down
}

# th_make_cert BASE SUBJECT SAN: BASE.pem (certificate) and BASE.key (EC P-256).
th_make_cert() {
    timeout 20 openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.pem" -days 2 -subj "$2" -addext "subjectAltName=$3" \
        2>/dev/null
}

setUp() {
    T=$(mktemp -d "${SHUNIT_TMPDIR}/t.XXXXXX")
    PIDS=()
    SC_STDIN=
}

tearDown() {
    local p
    # TERM, which timeout(1) passes on to what it runs (KILL would orphan that).
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$T"
}

# need PROGRAM: true if it is there; otherwise skip the rest of the test, saying so.
need() {
    command -v "$1" >/dev/null && return 0
    echo "skipped: $1 is not installed (tests/setup-debian.sh installs it)" >&2
    startSkipping
    return 1
}

# bg COMMAND...: runs it in the background, bounded, and remembers it. The
# explicit <&0 keeps the caller's stdin (a bare & would give it /dev/null).
bg() {
    timeout "$TH_TIMEOUT" "$@" <&0 &
    PIDS+=("$!")
    BG_PID=$!
}

# assert_both_ways WHAT CLIENT_GOT SERVER_GOT: the client received DOWN and the server UP.
assert_both_ways() {
    assertEquals "$1: the client received the server's bytes" "$(th_sum "$DOWN")" "$(th_sum "$2")"
    assertEquals "$1: the server received the client's bytes" "$(th_sum "$UP")" "$(th_sum "$3")"
}

# sc_client OUT ERR [options...] PORT: sockcat connect --ssl to localhost,
# stdin UP (or SC_STDIN); sets RC.
sc_client() {
    local out=$1 err=$2
    shift 2
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect --ssl "$@" <"${SC_STDIN:-$UP}" >"$out" 2>"$err"
    RC=$?
}

# hold_stdin_until_all_in OUT: points SC_STDIN at a fifo that gives UP, then
# stays open until OUT holds all of DOWN (bounded). For a server that ends
# the whole connection as soon as the client's side ends, what it has not
# sent yet left unsent.
hold_stdin_until_all_in() {
    mkfifo "$T/up"
    { cat "$UP"; tc_wait_size "$1" "$(stat -c %s "$DOWN")"; } >"$T/up" &
    PIDS+=("$!")
    SC_STDIN=$T/up
}

# sc_server OUT ERR [options...]: sockcat listen --ssl on 127.0.0.1, stdin DOWN; sets TH_PORT.
sc_server() {
    TH_STDIN=$DOWN th_listen "$@" --ssl
    PIDS+=("$TH_PID")
}

# --- sockcat as the client -----------------------------------------------------

testClientAgainstOpensslServer() {
    local port
    port=$(th_free_port)
    # s_server hangs up at the end of its stdin: keep that open until the
    # client's close_notify ends the connection.
    mkfifo "$T/in"
    { cat "$DOWN"; sleep 8; } >"$T/in" &
    PIDS+=("$!")
    bg openssl s_server -quiet -naccept 1 -accept "127.0.0.1:$port" \
        -cert "$C/server.pem" -key "$C/server.key" <"$T/in" >"$T/srv" 2>"$T/srv.err"
    th_wait_listening "$port"
    # It ends the connection at the client's close_notify.
    hold_stdin_until_all_in "$T/out"
    sc_client "$T/out" "$T/err" --ssl-trustfile "$C/server.pem" localhost "$port"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$BG_PID" 30
    assert_both_ways "openssl s_server" "$T/out" "$T/srv"
}

testClientAgainstNcat() {
    local port
    port=$(th_free_port)
    bg ncat --ssl --ssl-cert "$C/server.pem" --ssl-key "$C/server.key" -l 127.0.0.1 "$port" \
        <"$DOWN" >"$T/srv" 2>"$T/srv.err"
    th_wait_listening "$port"
    # It ends the connection at the client's close_notify.
    hold_stdin_until_all_in "$T/out"
    sc_client "$T/out" "$T/err" -v --ssl-trustfile "$C/server.pem" localhost "$port"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$BG_PID" 30
    assert_both_ways "ncat --ssl" "$T/out" "$T/srv"
    assertContains "-v tells the session" "$(cat "$T/err")" \
        "TLS with localhost $port: TLSv1.3"
    assertContains "-v tells the verification" "$(cat "$T/err")" "/CN=localhost: verified"
    # ncat closes without close_notify.
    assertContains "-v: no close_notify" "$(cat "$T/err")" "possible truncation"
}

testClientAgainstSocat() {
    local port
    port=$(th_free_port)
    bg socat -t 5 "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,cert=$C/server.pem,key=$C/server.key,verify=0" \
        STDIO <"$DOWN" >"$T/srv" 2>"$T/srv.err"
    th_wait_listening "$port"
    sc_client "$T/out" "$T/err" --ssl-trustfile "$C/server.pem" localhost "$port"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$BG_PID" 30
    assert_both_ways "socat OPENSSL-LISTEN" "$T/out" "$T/srv"
}

# stunnel4 terminates TLS in front of a plain sockcat listen.
testClientThroughStunnel() {
    need stunnel4 || return 0
    local port
    # stunnel ends the whole TLS connection once one side's stream ends, so the
    # plain side must not half-close before it has everything.
    TH_STDIN=$DOWN th_listen "$T/srv" "$T/srv.err" --no-shutdown
    PIDS+=("$TH_PID")
    local plain_pid=$TH_PID plain_port=$TH_PORT
    port=$(th_free_port)
    cat >"$T/stunnel.conf" <<EOF
foreground = yes
pid =
[tls]
accept = 127.0.0.1:$port
connect = 127.0.0.1:$plain_port
cert = $C/server.pem
key = $C/server.key
EOF
    bg stunnel4 "$T/stunnel.conf" >"$T/stunnel.log" 2>&1
    th_wait_listening "$port"
    sc_client "$T/out" "$T/err" --ssl-trustfile "$C/server.pem" localhost "$port"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$plain_pid" 30
    assert_both_ways "stunnel4" "$T/out" "$T/srv"
}

# --- sockcat as the server -----------------------------------------------------

testServerForOpensslClient() {
    sc_server "$T/srv" "$T/srv.err" --ssl-cert "$C/server.pem" --ssl-key "$C/server.key"
    timeout "$TH_TIMEOUT" openssl s_client -quiet -verify_return_error -CAfile "$C/server.pem" \
        -verify_hostname localhost -connect "127.0.0.1:$TH_PORT" <"$UP" >"$T/out" 2>"$T/err"
    th_wait_pid "$TH_PID" 30
    assertEquals "sockcat's exit status; stderr: $(cat "$T/srv.err")" 0 "$TH_RC"
    assert_both_ways "openssl s_client" "$T/out" "$T/srv"
}

testServerForNcat() {
    sc_server "$T/srv" "$T/srv.err" --ssl-cert "$C/server.pem" --ssl-key "$C/server.key"
    timeout "$TH_TIMEOUT" ncat --ssl --ssl-verify --ssl-trustfile "$C/server.pem" \
        localhost "$TH_PORT" <"$UP" >"$T/out" 2>"$T/err"
    rc=$?
    assertEquals "ncat's exit status: $(cat "$T/err")" 0 "$rc"
    th_wait_pid "$TH_PID" 30
    assertEquals "sockcat's exit status; stderr: $(cat "$T/srv.err")" 0 "$TH_RC"
    assert_both_ways "ncat --ssl" "$T/out" "$T/srv"
}

testServerForSocat() {
    sc_server "$T/srv" "$T/srv.err" --ssl-cert "$C/server.pem" --ssl-key "$C/server.key"
    timeout "$TH_TIMEOUT" socat -t 5 STDIO \
        "OPENSSL:localhost:$TH_PORT,cafile=$C/server.pem" <"$UP" >"$T/out" 2>"$T/err"
    rc=$?
    assertEquals "socat's exit status: $(cat "$T/err")" 0 "$rc"
    th_wait_pid "$TH_PID" 30
    assertEquals "sockcat's exit status; stderr: $(cat "$T/srv.err")" 0 "$TH_RC"
    assert_both_ways "socat OPENSSL" "$T/out" "$T/srv"
}

# curl fetches a page from sockcat listen --ssl: the answer is sockcat's stdin.
testServerForCurl() {
    printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n' >"$T/answer"
    cat "$DOWN" >>"$T/answer"
    TH_STDIN=$T/answer th_listen "$T/srv" "$T/srv.err" --ssl --ssl-cert "$C/server.pem" \
        --ssl-key "$C/server.key"
    PIDS+=("$TH_PID")
    timeout "$TH_TIMEOUT" curl -sS --cacert "$C/server.pem" -o "$T/out" \
        --data-binary "@$UP" -H 'Expect:' "https://localhost:$TH_PORT/upload" 2>"$T/err"
    rc=$?
    assertEquals "curl's exit status: $(cat "$T/err")" 0 "$rc"
    th_wait_pid "$TH_PID" 30
    assertEquals "sockcat's exit status; stderr: $(cat "$T/srv.err")" 0 "$TH_RC"
    assertEquals "curl received the body" "$(th_sum "$DOWN")" "$(th_sum "$T/out")"
    # What sockcat received: the request header, then the body curl sent.
    assertEquals "sockcat received the request line" "POST /upload HTTP/1.1" \
        "$(head -n1 "$T/srv" | tr -d '\r')"
    assertEquals "sockcat received curl's body" "$(th_sum "$UP")" \
        "$(sed '1,/^\r$/d' "$T/srv" | th_sum /dev/stdin)"
}

# Listen makes its own certificate; the client pins the fingerprint -v printed.
testSockcatToSockcatPinnedSelfSigned() {
    local pin
    sc_server "$T/srv" "$T/srv.err" -v
    pin=$(grep -o 'sha256:[0-9a-f]\{64\}' "$T/srv.err")
    assertNotEquals "listen -v prints the certificate's fingerprint" "" "$pin"
    sc_client "$T/out" "$T/err" -v --ssl-pin "$pin" 127.0.0.1 "$TH_PORT"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$TH_PID" 30
    assertEquals "listen's exit status; stderr: $(cat "$T/srv.err")" 0 "$TH_RC"
    assert_both_ways "sockcat --ssl" "$T/out" "$T/srv"
    assertContains "-v: the pin" "$(cat "$T/err")" "/CN=sockcat: matches --ssl-pin"
    assertNotContains "close_notify was sent" "$(cat "$T/err" "$T/srv.err")" "truncation"
}

testPinMismatchRefused() {
    sc_server "$T/srv" "$T/srv.err"
    sc_client "$T/out" "$T/err" --ssl-pin "sha256:$(printf '%064d' 0)" 127.0.0.1 "$TH_PORT"
    assertEquals "exit status" 1 "$RC"
    assertContains "the reason" "$(cat "$T/err")" \
        "sockcat: TLS handshake with 127.0.0.1 $TH_PORT: certificate does not match --ssl-pin"
    assertEquals "nothing written to stdout" 0 "$(stat -c %s "$T/out")"
}

# --- verification ----------------------------------------------------------------

testSelfSignedRefusedByDefault() {
    sc_server "$T/srv" "$T/srv.err" --ssl-cert "$C/server.pem" --ssl-key "$C/server.key"
    sc_client "$T/out" "$T/err" localhost "$TH_PORT"
    assertEquals "exit status" 1 "$RC"
    assertEquals "the message" \
        "sockcat: TLS handshake with localhost $TH_PORT: certificate verify failed: self-signed certificate" \
        "$(cat "$T/err")"
}

testHostNameChecked() {
    sc_server "$T/srv" "$T/srv.err" --ssl-cert "$C/server.pem" --ssl-key "$C/server.key"
    sc_client "$T/out" "$T/err" --ssl-trustfile "$C/server.pem" --ssl-servername other.example \
        127.0.0.1 "$TH_PORT"
    assertEquals "exit status" 1 "$RC"
    assertContains "the message" "$(cat "$T/err")" "certificate verify failed: hostname mismatch"
}

testNoVerifyWarnsAndConnects() {
    sc_server "$T/srv" "$T/srv.err"
    sc_client "$T/out" "$T/err" --ssl-no-verify 127.0.0.1 "$TH_PORT"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    assertEquals "one warning line" \
        "sockcat: warning: --ssl-no-verify: the server's certificate is not checked" \
        "$(cat "$T/err")"
    th_wait_pid "$TH_PID" 30
    assert_both_ways "--ssl-no-verify" "$T/out" "$T/srv"
}

# listen --ssl-verify --ssl-trustfile asks for a client certificate.
testClientCertificates() {
    sc_server "$T/srv" "$T/srv.err" -v --ssl-verify --ssl-trustfile "$C/client.pem"
    sc_client "$T/out" "$T/err" --ssl-no-verify --ssl-cert "$C/client.pem" \
        --ssl-key "$C/client.key" 127.0.0.1 "$TH_PORT"
    assertEquals "with a certificate: exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$TH_PID" 30
    assert_both_ways "client certificate" "$T/out" "$T/srv"
    assertContains "listen -v names the client" "$(cat "$T/srv.err")" \
        "/CN=sockcat-client: verified"

    sc_server "$T/srv2" "$T/srv2.err" --ssl-verify --ssl-trustfile "$C/client.pem"
    sc_client "$T/out2" "$T/err2" --ssl-no-verify 127.0.0.1 "$TH_PORT"
    th_wait_pid "$TH_PID" 30
    assertEquals "without one: listen's exit status" 1 "$TH_RC"
    assertContains "without one: listen says why" "$(cat "$T/srv2.err")" \
        "TLS handshake with 127.0.0.1"
    assertEquals "without one: nothing received" 0 "$(stat -c %s "$T/srv2")"
}

# --- peers that do not speak TLS, endings ------------------------------------------

testPlainServerNamed() {
    local port
    port=$(th_free_port)
    bg python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); c.recv(4096); c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"); c.close()
' "$port"
    th_wait_listening "$port"
    sc_client "$T/out" "$T/err" localhost "$port"
    assertEquals "exit status" 1 "$RC"
    assertContains "the message" "$(cat "$T/err")" \
        "sockcat: TLS handshake with localhost $port: wrong version number (the peer does not speak TLS)"
}

testPlainClientOnListen() {
    sc_server "$T/srv" "$T/srv.err"
    echo "hello" | timeout 5 "$SOCKCAT" connect 127.0.0.1 "$TH_PORT" >/dev/null 2>&1
    th_wait_pid "$TH_PID" 30
    assertEquals "listen's exit status" 1 "$TH_RC"
    assertContains "the message" "$(cat "$T/srv.err")" "(the peer does not speak TLS)"
}

# A server that accepts and says nothing: -w bounds the handshake.
testSilentServerBoundedByWait() {
    local port start
    port=$(th_free_port)
    bg python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); time.sleep(10)
' "$port"
    th_wait_listening "$port"
    start=$(date +%s%N)
    sc_client "$T/out" "$T/err" -n -w 2 127.0.0.1 "$port"
    assertEquals "exit status" 1 "$RC"
    assertEquals "the message" "sockcat: TLS handshake with 127.0.0.1 $port: Connection timed out" \
        "$(cat "$T/err")"
    assertTrue "gave up within 8 s" "[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 8000 ]"
}

# A TLS server that sends its data and closes the socket without close_notify.
testEndWithoutCloseNotify() {
    local port
    port=$(th_free_port)
    bg python3 -c '
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); t = ctx.wrap_socket(c, server_side=True)
t.sendall(b"all of it\n")
# A FIN without close_notify; then what sockcat sends is read to its end,
# so that closing does not reset the connection under the data.
c2 = socket.socket(fileno=t.detach()); c2.shutdown(socket.SHUT_WR)
while c2.recv(65536): pass
c2.close()
' "$port" "$C/server.pem" "$C/server.key"
    th_wait_listening "$port"
    timeout "$TH_TIMEOUT" "$SOCKCAT" connect -v --ssl --ssl-trustfile "$C/server.pem" \
        localhost "$port" </dev/null >"$T/out" 2>"$T/err"
    assertEquals "exit status (the data came)" 0 "$?"
    assertEquals "the data" "all of it" "$(cat "$T/out")"
    assertContains "-v says so" "$(cat "$T/err")" \
        "the connection ended without close_notify (possible truncation)"
}

# --- many clients --------------------------------------------------------------------

testKeepOpenManyClients() {
    local i n=20 ok=0
    TH_STDIN=/dev/null th_listen "$T/srv" "$T/srv.err" -k --ssl
    PIDS+=("$TH_PID")
    for i in $(seq 1 $n); do
        (printf 'client %s\n' "$i" | timeout 60 "$SOCKCAT" connect --ssl --ssl-no-verify \
            127.0.0.1 "$TH_PORT" >/dev/null 2>&1) &
    done
    for i in $(seq 1 2400); do
        ok=$(grep -c '^client ' "$T/srv" 2>/dev/null)
        [ "$ok" -ge $n ] && break
        sleep 0.025
    done
    assertEquals "lines from every client" $n "$ok"
    assertEquals "each client's line whole" $n "$(sort -u "$T/srv" | grep -c '^client [0-9]*$')"
}

# Over a Unix socket (-U) the same.
testUnixSocket() {
    local pin
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen -v --ssl --ready-fd 3 -U "$T/s.sock" \
        <"$DOWN" >"$T/srv" 2>"$T/srv.err" 3>"$T/ready" &
    PIDS+=("$!")
    local server=$!
    th_wait_file "$T/ready"
    pin=$(grep -o 'sha256:[0-9a-f]\{64\}' "$T/srv.err")
    sc_client "$T/out" "$T/err" --ssl-pin "$pin" -U "$T/s.sock"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    th_wait_pid "$server" 30
    assertEquals "listen's exit status" 0 "$TH_RC"
    assert_both_ways "-U --ssl" "$T/out" "$T/srv"
}

testAlpnAndCiphers() {
    sc_server "$T/srv" "$T/srv.err" -v --ssl-alpn h2,http/1.1
    sc_client "$T/out" "$T/err" -v --ssl-no-verify --ssl-alpn http/1.1,other 127.0.0.1 "$TH_PORT"
    assertEquals "exit status; stderr: $(cat "$T/err")" 0 "$RC"
    assertContains "the protocol both know" "$(cat "$T/err")" ", ALPN http/1.1;"
    th_wait_pid "$TH_PID" 30
    sc_server "$T/srv2" "$T/srv2.err" --ssl-ciphers ECDHE+AESGCM
    echo | timeout "$TH_TIMEOUT" openssl s_client -tls1_2 -connect "127.0.0.1:$TH_PORT" \
        >"$T/out2" 2>&1
    assertContains "TLS 1.2 with the cipher asked" "$(cat "$T/out2")" \
        "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384"
    sc_client "$T/out3" "$T/err3" --ssl-ciphers bogus 127.0.0.1 9
    assertEquals "a cipher list OpenSSL refuses: status" 1 "$RC"
    assertEquals "a cipher list OpenSSL refuses" "sockcat: --ssl-ciphers bogus: no cipher match" \
        "$(cat "$T/err3")"
}

# --- usage -------------------------------------------------------------------------------

# --- OpenSSL is opened on the first TLS use ------------------------------------

# sockcat_of PID: the sockcat that timeout(1), PID, runs.
sockcat_of() { pgrep -P "$1" | head -n1; }

# openssl_mapped PID: the OpenSSL libraries PID has mapped, on one line.
openssl_mapped() {
    grep -Eo 'lib(ssl|crypto)\.so[.0-9]*' "/proc/$1/maps" | sort -u | tr '\n' ' '
}

# A listen without TLS maps neither libssl nor libcrypto: their relocated data
# alone cost every run about 470 KiB of private memory (1.8 MiB of RSS). One
# with --ssl maps both.
testOpensslMappedOnlyForTls() {
    local pid anon
    th_listen "$T/plain" "$T/plain.err" -k
    PIDS+=("$TH_PID")
    pid=$(sockcat_of "$TH_PID")
    assertNotNull "(premise) the plain listener runs" "$pid" || return
    assertEquals "listen without TLS: OpenSSL mapped" "" "$(openssl_mapped "$pid")"
    anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$pid/status")
    if th_sanitized; then
        echo "idle listen: RssAnon ${anon} KiB (sanitized build: not judged)" >&2
    else
        # 170 KiB without OpenSSL, 640 KiB with it.
        assertTrue "idle listen: RssAnon ${anon} KiB is under 400 KiB" \
            "[ ${anon:-999999} -lt 400 ]"
    fi
    sc_server "$T/srv" "$T/srv.err" -k
    pid=$(sockcat_of "$TH_PID")
    assertNotNull "(premise) the TLS listener runs" "$pid" || return
    assertEquals "listen --ssl: OpenSSL mapped" "libcrypto.so.3 libssl.so.3 " \
        "$(openssl_mapped "$pid")"
}

# Without a usable libssl.so.3, --ssl fails with one line saying why, and
# everything else works as before.
testOpensslUnusable() {
    local out rc mode
    mkdir "$T/lib"
    : >"$T/lib/libssl.so.3"  # found first through LD_LIBRARY_PATH, and no library
    for mode in "connect --ssl 127.0.0.1 9" "listen --ssl 127.0.0.1 0"; do
        # shellcheck disable=SC2086
        out=$(LD_LIBRARY_PATH=$T/lib timeout 5 "$SOCKCAT" $mode 2>&1 </dev/null)
        rc=$?
        assertEquals "$mode: status" 1 "$rc"
        assertEquals "$mode: one line" 1 "$(printf '%s\n' "$out" | wc -l)"
        assertContains "$mode: the message" "$out" \
            "sockcat: load OpenSSL: $T/lib/libssl.so.3: "
    done
    th_listen "$T/srv" "$T/srv.err"
    PIDS+=("$TH_PID")
    echo hello | LD_LIBRARY_PATH=$T/lib timeout 5 "$SOCKCAT" connect 127.0.0.1 "$TH_PORT" \
        >"$T/out" 2>"$T/err"
    rc=$?
    assertEquals "plain connect: status; stderr: $(cat "$T/err")" 0 "$rc"
    th_wait_pid "$TH_PID" 10
    assertEquals "plain connect: the listener received its bytes" "hello" "$(cat "$T/srv")"
}

testUsageErrors() {
    local out
    out=$(timeout 5 "$SOCKCAT" connect --ssl -u 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "--ssl -u: status" 2 "$?"
    assertContains "--ssl -u" "$out" "conflicting options: -u and --ssl"
    out=$(timeout 5 "$SOCKCAT" connect --ssl-cert x.pem 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "--ssl-cert alone: status" 2 "$?"
    assertContains "--ssl-cert alone" "$out" "option --ssl-cert: needs --ssl"
    out=$(timeout 5 "$SOCKCAT" connect --ssl --ssl-pin sha1:00 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "bad pin: status" 2 "$?"
    assertContains "bad pin" "$out" "invalid pin 'sha1:00'"
    out=$(timeout 5 "$SOCKCAT" listen --ssl --ssl-no-verify 9 2>&1 </dev/null)
    assertEquals "listen --ssl-no-verify: status" 2 "$?"
    out=$(timeout 5 "$SOCKCAT" connect --ssl --ssl-cert "$T/none.pem" 127.0.0.1 9 2>&1 </dev/null)
    assertEquals "missing certificate file: status" 1 "$?"
    assertContains "missing certificate file" "$out" \
        "sockcat: --ssl-cert $T/none.pem: No such file or directory"
}

. "$th_shunit2"
