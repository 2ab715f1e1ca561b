#!/bin/bash
# UDP (-u): datagram boundaries kept both ways, an ICMP port unreachable
# reported, listen -u taking the first sender only, listen -u -k
# demultiplexing senders and broadcasting stdin to them, -m and
# --allow/--deny per sender, IPv6, no end of stream (only a signal ends a
# UDP server), option pairs that make no sense, and real peers (python3,
# socat, ncat, nc.openbsd).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

setUp() { tc_setup; }
tearDown() {
    exec 7>&-
    tc_teardown
}

# udp_peer ARGS: the python peer below (send, receive, report).
udp_peer() { timeout 15 python3 -c "$UDP_PEER" "$@"; }

# shellcheck disable=SC2016
UDP_PEER='
import os, socket, sys, time
# usage: HOST PORT [--src ADDR] [--send TEXT]... [--file F] [--expect N] [--wait S] [--out F]
args = sys.argv[1:]
host, port = args[0], int(args[1])
sends, src, out, expect, wait, files = [], None, None, 0, 10.0, []
i = 2
while i < len(args):
    a = args[i]; v = args[i + 1]; i += 2
    if a == "--send": sends.append(v.encode())
    elif a == "--src": src = v
    elif a == "--file": files.append(v)
    elif a == "--expect": expect = int(v)
    elif a == "--wait": wait = float(v)
    elif a == "--out": out = v
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((src or ("::1" if fam == socket.AF_INET6 else "127.0.0.1"), 0))
for f in files:
    data = open(f, "rb").read()
    for k in range(0, len(data), 1000):
        sends.append(data[k:k + 1000])
for d in sends:
    s.sendto(d, (host, port))
    time.sleep(0.01)
got, sizes = b"", []
s.settimeout(wait)
try:
    while expect == 0 or len(got) < expect:
        d = s.recv(70000)
        got += d; sizes.append(len(d))
except socket.timeout:
    pass
if out:
    open(out, "wb").write(got)
print(" ".join(map(str, sizes)))
'

# udp_sink PORTFILE N OUT: binds 127.0.0.1 port 0 (written to PORTFILE) and
# writes the sizes of the first N datagrams to OUT, one line; OUT.seen grows
# by a byte per datagram as it comes.
udp_sink() {
    timeout 15 python3 - "$@" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(10)
sizes = []
try:
    while len(sizes) < int(sys.argv[2]):
        sizes.append(len(s.recv(70000)))
        with open(sys.argv[3] + ".seen", "a") as seen:
            seen.write(".")
except socket.timeout:
    pass
open(sys.argv[3], "w").write(" ".join(map(str, sizes)) + "\n")
EOF
}

# free_udp_port: a UDP port nobody listens on just now.
free_udp_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_grep FILE TEXT: waits (bounded, 15 s: python can be slow to start) until FILE holds TEXT.
wait_grep() {
    local i
    for i in $(seq 1 600); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.025
    done
    return 1
}

# server_on_fifo OUT ERR ARGS: `sockcat listen -u ARGS 127.0.0.1 0` with its
# stdin the FIFO held open on fd 7 (write to it with >&7); TH_PID, TH_PORT.
server_on_fifo() {
    mkfifo stdin.fifo
    exec 7<>stdin.fifo
    TH_STDIN=stdin.fifo th_listen "$@"
}

test_datagram_boundaries_kept_when_sending() {
    head -c 70000 /dev/urandom >big
    udp_sink port 2 sizes &
    th_wait_file port
    timeout 5 "$SOCKCAT" connect -u 127.0.0.1 "$(cat port)" <big 2>err
    assertEquals "a 70000-byte read is split at the IPv4 maximum" "65507 4493" "$(tc_report sizes)"
    rm -f port sizes sizes.seen
    udp_sink port 3 sizes &
    th_wait_file port
    # Each piece is written once the one before has arrived (sockcat read it).
    { printf '%0100d' 0; tc_wait_size sizes.seen 1; printf '%02000d' 0; tc_wait_size sizes.seen 2
      printf x; tc_wait_size sizes.seen 3; } |
        timeout 5 "$SOCKCAT" connect -u 127.0.0.1 "$(cat port)" 2>>err
    assertEquals "each read of stdin is one datagram" "100 2000 1" "$(tc_report sizes)"
}

test_both_directions_over_several_datagrams() {
    head -c 120000 /dev/urandom >to_client
    head -c 30000 /dev/urandom >to_server
    TH_STDIN=to_client th_listen out err -u
    local sizes
    sizes=$(udp_peer 127.0.0.1 "$TH_PORT" --file to_server --expect 120000 --out got)
    assertEquals "to the client, in datagrams of at most 65507" "65507 54493" "$sizes"
    assertEquals "client got stdin" "$(th_sum to_client)" "$(th_sum got)"
    tc_wait_size out 30000
    assertEquals "stdout got the client's datagrams" "$(th_sum to_server)" "$(th_sum out)"
    kill -TERM "$TH_PID"; th_wait_pid "$TH_PID"
    assertEquals "a signal ends a UDP server" 143 "$TH_RC"
}

test_sockcat_to_itself_both_ways() {
    head -c 50000 /dev/urandom >a
    head -c 40000 /dev/urandom >b
    TH_STDIN=a th_listen out.l err.l -u
    # A UDP client waits for replies after its stdin ends: stopped once both
    # sides have everything.
    mkfifo in.c
    timeout 20 "$SOCKCAT" connect -u 127.0.0.1 "$TH_PORT" <in.c >out.c 2>err.c &
    local client=$!
    { printf 'x'; tc_wait_size out.l 1; cat b; } >in.c
    tc_wait_size out.l 40001
    tc_wait_size out.c 50000
    kill "$client"; wait "$client"
    printf 'x' | cat - b >expect.l
    assertEquals "listen side" "$(th_sum expect.l)" "$(th_sum out.l)"
    assertEquals "connect side" "$(th_sum a)" "$(th_sum out.c)"
}

test_port_unreachable_is_an_error() {
    local port
    port=$(free_udp_port)
    (echo hi; sleep 3) | timeout 5 "$SOCKCAT" connect -u 127.0.0.1 "$port" >out 2>err
    assertEquals "exit status" 1 "$?"
    assertEquals "message" "sockcat: read from 127.0.0.1 $port: Connection refused" "$(cat err)"
}

test_connect_waits_for_replies_after_stdin_eof() {
    TH_STDIN=/dev/null th_listen out.l err.l -u -k
    timeout 2 "$SOCKCAT" connect -u 127.0.0.1 "$TH_PORT" </dev/null >out 2>err
    assertEquals "still waiting when the timeout struck" 124 "$?"
}

test_listen_once_takes_the_first_sender_only() {
    server_on_fifo out err -u -v
    udp_peer 127.0.0.1 "$TH_PORT" --send first --wait 0.1 >/dev/null
    # Same address, another port: another sender.
    udp_peer 127.0.0.1 "$TH_PORT" --send intruder --wait 0.1 >/dev/null
    wait_grep out first
    sleep 0.2
    assertEquals "only the first sender's datagram" "first" "$(cat out)"
    kill -TERM "$TH_PID"; th_wait_pid "$TH_PID"
    assertEquals 143 "$TH_RC"
}

test_listen_once_replies_to_the_first_sender() {
    printf 'reply' >r
    TH_STDIN=r th_listen out err -u
    assertEquals "reply" "5" "$(udp_peer 127.0.0.1 "$TH_PORT" --send hello --expect 5)"
    assertEquals "hello" "$(cat out)"
}

test_keep_open_demultiplexes_and_broadcasts() {
    server_on_fifo out err -u -k
    local i
    for i in 1 2 3; do
        udp_peer 127.0.0.1 "$TH_PORT" --send "hello $i;" --expect 10 --out "got.$i" >/dev/null &
    done
    for i in 1 2 3; do
        wait_grep out "hello $i;" || fail "client $i not seen"
    done
    echo broadcast >&7
    for i in 1 2 3; do
        wait_grep "got.$i" broadcast || fail "client $i got no broadcast"
    done
    assertEquals "each datagram whole" 3 "$(grep -o 'hello [123];' out | sort -u | wc -l)"
}

test_keep_open_cap_drops_new_senders() {
    server_on_fifo out err -u -k -m 2 -v
    udp_peer 127.0.0.1 "$TH_PORT" --send "one;" --wait 0.1 >/dev/null
    udp_peer 127.0.0.1 "$TH_PORT" --send "two;" --wait 0.1 >/dev/null
    udp_peer 127.0.0.1 "$TH_PORT" --send "three;" --wait 0.1 >/dev/null
    wait_grep err "over --max-conns 2"
    assertEquals "stdout" "one;two;" "$(cat out)"
    kill -TERM "$TH_PID"; th_wait_pid "$TH_PID"
    assertContains "counted" "$(cat err)" "ignored 1 datagrams from senders over --max-conns 2"
}

test_keep_open_allow_deny_per_sender() {
    TH_ADDR=0.0.0.0 server_on_fifo out err -u -k --deny 127.0.0.2
    udp_peer 127.0.0.1 "$TH_PORT" --src 127.0.0.2 --send "denied;" --wait 0.1 >/dev/null
    udp_peer 127.0.0.1 "$TH_PORT" --src 127.0.0.1 --send "allowed;" --wait 0.1 >/dev/null
    wait_grep out allowed
    sleep 0.1
    assertEquals "allowed;" "$(cat out)"
}

test_ipv6() {
    if ! python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
        startSkipping
        echo "no IPv6 loopback: skipped" >&2
    fi
    printf 'six' >r
    TH_ADDR=::1 TH_STDIN=r th_listen out err -u -6
    printf 'hello' | timeout 20 "$SOCKCAT" connect -u -6 ::1 "$TH_PORT" >out.c 2>err.c &
    local client=$!
    wait_grep out.c six
    kill "$client"; wait "$client"
    assertEquals "hello" "$(cat out)"
    assertEquals "six" "$(cat out.c)"
}

test_dual_stack_without_host() {
    local ready=ready port
    timeout 10 "$SOCKCAT" listen -u -k --ready-fd 3 0 </dev/null >out 2>err 3>"$ready" &
    th_wait_file "$ready"
    port=$(cat "$ready")
    assertNotEquals "port 0 reported" 0 "$port"
    udp_peer 127.0.0.1 "$port" --send "v4;" --wait 0.1 >/dev/null
    if python3 -c 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))' 2>/dev/null; then
        udp_peer ::1 "$port" --send "v6;" --wait 0.1 >/dev/null
        wait_grep out "v6;"
    fi
    assertContains "$(cat out)" "v4;"
}

test_server_keeps_running_after_stdin_eof() {
    TH_STDIN=/dev/null th_listen out err -u -k
    sleep 0.5
    assertTrue "still running" "kill -0 $TH_PID"
    udp_peer 127.0.0.1 "$TH_PORT" --send late --wait 0.1 >/dev/null
    wait_grep out late
    assertEquals "late" "$(cat out)"
    kill -TERM "$TH_PID"; th_wait_pid "$TH_PID"
    assertEquals "SIGTERM" 143 "$TH_RC"
}

test_source_address_and_port() {
    local port
    port=$(free_udp_port)
    TH_STDIN=/dev/null th_listen out err -u -v
    (printf hi; sleep 1) | timeout 2 "$SOCKCAT" connect -u -s 127.0.0.1 -p "$port" 127.0.0.1 "$TH_PORT" 2>/dev/null
    wait_grep err "datagram from 127.0.0.1 $port"
    assertContains "$(cat err)" "datagram from 127.0.0.1 $port"
}

test_conflicting_pairs_are_usage_errors() {
    local pair
    for pair in "listen -u --no-shutdown 1|--no-shutdown" "listen -u -k --slow-client drop 1|--slow-client" \
        "connect -u -w 1 h 1|-w"; do
        # shellcheck disable=SC2086
        "$SOCKCAT" ${pair%|*} 2>err </dev/null
        assertEquals "$pair" 2 "$?"
        assertContains "$pair" "$(head -n1 err)" "conflicting options: -u and ${pair#*|} ("
    done
}

test_socat_peers() {
    printf 'from-sockcat' >r
    TH_STDIN=r th_listen out err -u
    local got
    got=$(printf 'from-socat' | timeout 5 socat -t 1 - "UDP-SENDTO:127.0.0.1:$TH_PORT")
    assertEquals "socat UDP-SENDTO got the reply" "from-sockcat" "$got"
    assertEquals "from-socat" "$(cat out)"
    local port
    port=$(free_udp_port)
    timeout 5 socat -u "UDP-RECVFROM:$port,bind=127.0.0.1" OPEN:recv,creat &
    th_wait_listening "$port" -u || fail "socat did not bind UDP port $port"
    (printf 'to-recvfrom'; sleep 0.5) | timeout 2 "$SOCKCAT" connect -u 127.0.0.1 "$port"
    th_wait_file recv
    assertEquals "socat UDP-RECVFROM" "to-recvfrom" "$(cat recv)"
}

test_ncat_and_openbsd_nc_peers() {
    if ! command -v ncat >/dev/null || ! command -v nc.openbsd >/dev/null; then
        startSkipping
        echo "ncat or nc.openbsd missing: skipped" >&2
    fi
    printf 'to-ncat' >r
    TH_STDIN=r th_listen out err -u
    got=$( (printf 'from-ncat'; sleep 1) | timeout 2 ncat -u 127.0.0.1 "$TH_PORT")
    assertEquals "ncat -u got the reply" "to-ncat" "$got"
    assertEquals "from-ncat" "$(cat out)"
    kill "$TH_PID"; th_wait_pid "$TH_PID"
    TH_STDIN=r th_listen out2 err2 -u
    got=$( (printf 'from-nc'; sleep 1) | timeout 2 nc.openbsd -u 127.0.0.1 "$TH_PORT")
    assertEquals "nc.openbsd -u got the reply" "to-ncat" "$got"
    assertEquals "from-nc" "$(cat out2)"
}

. "$th_shunit2"
