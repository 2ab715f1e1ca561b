#!/bin/bash
# Names and addresses: /etc/hosts that lists a name twice, a resolver that
# never answers (-w and signals still end sockcat on time), link-local
# addresses with a zone, errors that name the option at fault, long host
# names in messages. The namespace tests need root (unshare); they skip
# otherwise.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

# Debian's default /etc/hosts: localhost on two lines, one of them IPv6.
DEBIAN_HOSTS='127.0.0.1	localhost
127.0.1.1	debhost
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters'

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# Bounds on "ends in time", in ms: start-up and exit under sanitizers (ASan's
# leak check runs at exit) take longer, more so on a loaded machine.
if th_sanitized; then TR_LATE_MS=6000 TR_AT_ONCE_MS=5000; else TR_LATE_MS=3000 TR_AT_ONCE_MS=1500; fi

# tr_can_unshare FLAGS...: true when we may make these namespaces.
tr_can_unshare() {
    [ "$(id -u)" = 0 ] && timeout 10 unshare "$@" true 2>/dev/null
}

# tr_skip_unless_unshare FLAGS...: skips the test (with a reason) unless we
# may make these namespaces; true when it skipped.
tr_skip_unless_unshare() {
    tr_can_unshare "$@" && return 1
    echo "skipped: needs root and unshare $*" >&2
    startSkipping
    return 0
}

# "${TR_WITH_HOSTS[@]}" HOSTS CMD...: runs CMD in a private mount namespace
# in which /etc/hosts is the file HOSTS (a command, for timeout and tc_spawn).
TR_WITH_HOSTS=(unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"')

# tr_elapsed_ms START_MS: milliseconds since START_MS.
tr_elapsed_ms() { echo $(($(tc_ms) - $1)); }

testListenIPv4LocalhostWithDebianHosts() {
    tr_skip_unless_unshare -m && return
    printf '%s\n' "$DEBIAN_HOSTS" >hosts
    printf 'to the client\n' >in
    printf 'to the server\n' >sent
    tc_spawn in out err "${TR_WITH_HOSTS[@]}" "$PWD/hosts" \
        "$SOCKCAT" listen -4 -v --ready-fd 3 localhost 0 3>ready
    th_wait_file ready || { fail "not listening: $(cat err)"; return; }
    TC_PORT=$(head -n1 ready)
    timeout 10 python3 "$TC_PEER" connect --port "$TC_PORT" \
        --send sent --save got --timeout 10 2>>peer.err
    rc=$?; assertEquals "peer: exit status ($(cat peer.err))" 0 "$rc"
    th_wait_pid "$TC_PID" 10
    assertEquals "exit status ($(cat err))" 0 "$TH_RC"
    assertEquals "listened once on 127.0.0.1" 1 \
        "$(grep -c "^sockcat: listening on 127.0.0.1 $TC_PORT\$" err)"
    assertEquals "the server got the bytes" "$(th_sum sent)" "$(th_sum out)"
    assertEquals "the client got the bytes" "$(th_sum in)" "$(th_sum got)"
}

testListenLocalhostWithDebianHostsServesBothFamilies() {
    tr_skip_unless_unshare -m && return
    printf '%s\n' "$DEBIAN_HOSTS" >hosts
    tc_spawn /dev/null out err "${TR_WITH_HOSTS[@]}" "$PWD/hosts" \
        "$SOCKCAT" listen -k -v --ready-fd 3 localhost 0 3>ready
    th_wait_file ready || { fail "not listening: $(cat err)"; return; }
    TC_PORT=$(head -n1 ready)
    assertContains "IPv4" "$(cat err)" "listening on 127.0.0.1 $TC_PORT"
    assertContains "IPv6" "$(cat err)" "listening on ::1 $TC_PORT"
    kill "$(tc_child "$TC_PID")" 2>/dev/null
    th_wait_pid "$TC_PID" 10
}

# ---- a resolver that never answers ----

# tr_blackhole SCRIPT: runs SCRIPT with bash in private network and mount
# namespaces whose only name server (127.0.0.1:53) takes queries and never
# answers. SCRIPT may call tr_wait_query: it returns once a query came.
tr_blackhole() {
    printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:2\n' >resolv.conf
    cat >blackhole.py <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(sys.argv[1], "w").write("ready\n")
while True:
    s.recv(512)
    with open(sys.argv[2], "a") as f:
        f.write("query\n")
EOF
    timeout -k 5 60 unshare -mn bash -c '
        ip link set lo up && mount --bind resolv.conf /etc/resolv.conf || exit 125
        python3 blackhole.py dns.ready dns.queries 2>>peer.err &
        dns=$!
        for i in $(seq 1 400); do [ -s dns.ready ] && break; sleep 0.025; done
        tr_wait_query() {
            for i in $(seq 1 400); do [ -s dns.queries ] && return 0; sleep 0.025; done
            return 1
        }
        tc_ms() { echo $(( $(date +%s%N) / 1000000 )); }
        '"$1"'
        kill "$dns"' 2>>script.err
}

testWaitEndsAHangingLookup() {
    tr_skip_unless_unshare -mn && return
    tr_blackhole '
        t0=$(tc_ms)
        timeout 30 "$SOCKCAT" connect -w 1 example.test 80 </dev/null >out 2>err
        echo "$? $(( $(tc_ms) - t0 ))" >result'
    local rc ms
    read -r rc ms <result
    assertEquals "exit status" 1 "$rc"
    assertEquals "message" \
        "sockcat: connect to example.test 80: Connection timed out" \
        "$(cat err)"
    assertTrue "ends after 1 s (took $ms ms)" "[ $ms -ge 900 ] && [ $ms -lt $TR_LATE_MS ]"
    assertTrue "the name server was asked" "[ -s dns.queries ]"
}

testSignalEndsAHangingLookup() {
    tr_skip_unless_unshare -mn && return
    tr_blackhole '
        for sig in INT TERM; do
            timeout 30 "$SOCKCAT" connect example.test 80 </dev/null \
                >out.$sig 2>err.$sig &
            pid=$!
            tr_wait_query || echo "no query" >>err.$sig
            sleep 0.2  # the look-up is under way: the query came
            t0=$(tc_ms)
            pkill -$sig -P "$pid"
            wait "$pid"
            echo "$? $(( $(tc_ms) - t0 ))" >result.$sig
            rm -f dns.queries
        done'
    local rc ms
    read -r rc ms <result.INT
    assertEquals "SIGINT: exit status ($(cat err.INT))" 130 "$rc"
    assertTrue "SIGINT: ends at once (took $ms ms)" "[ $ms -lt $TR_AT_ONCE_MS ]"
    read -r rc ms <result.TERM
    assertEquals "SIGTERM: exit status ($(cat err.TERM))" 143 "$rc"
    assertTrue "SIGTERM: ends at once (took $ms ms)" "[ $ms -lt $TR_AT_ONCE_MS ]"
}

testSignalEndsAHangingListenLookup() {
    tr_skip_unless_unshare -mn && return
    tr_blackhole '
        timeout 30 "$SOCKCAT" listen example.test 8080 </dev/null >out 2>err &
        pid=$!
        tr_wait_query || echo "no query" >>err
        sleep 0.2
        t0=$(tc_ms)
        pkill -TERM -P "$pid"
        wait "$pid"
        echo "$? $(( $(tc_ms) - t0 ))" >result'
    local rc ms
    read -r rc ms <result
    assertEquals "exit status ($(cat err))" 143 "$rc"
    assertTrue "ends at once (took $ms ms)" "[ $ms -lt $TR_AT_ONCE_MS ]"
}

# ---- link-local addresses with a zone ----

# tr_linklocal SCRIPT: runs SCRIPT with bash in a private network namespace
# in which fe80::1 and fe80::2 are on interface $IF (lo, or a dummy one when
# lo refuses link-local addresses). Returns 125 when none can be set up.
tr_linklocal() {
    timeout -k 5 60 unshare -n bash -c '
        ip link set lo up || exit 125
        IF=lo
        if ! ip addr add fe80::1/64 dev lo nodad 2>/dev/null; then
            IF=d0
            ip link add d0 type dummy 2>/dev/null && ip link set d0 up &&
                ip addr add fe80::1/64 dev d0 nodad || exit 125
        fi
        ip addr add fe80::2/64 dev $IF nodad || exit 125
        export IF
        '"$1" 2>>script.err
}

# A peer on fe80::1%$IF: tells who connected, answers "pong" after EOF.
LL_PEER='
import socket, sys
ifname, port_file, who = sys.argv[1:4]
s = socket.socket(socket.AF_INET6)
s.bind(("fe80::1", 0, 0, socket.if_nametoindex(ifname)))
s.listen()
open(port_file, "w").write("%d\n" % s.getsockname()[1])
s.settimeout(20)
c, addr = s.accept()
open(who, "w").write(addr[0] + "\n")
data = b""
while True:
    b = c.recv(65536)
    if not b:
        break
    data += b
c.sendall(b"pong " + data)
c.close()
'

testConnectToALinkLocalAddressFromOne() {
    tr_skip_unless_unshare -n && return
    printf '%s' "$LL_PEER" >llpeer.py
    tr_linklocal '
        python3 llpeer.py "$IF" ll.port ll.who 2>>peer.err &
        for i in $(seq 1 400); do [ -s ll.port ] && break; sleep 0.025; done
        port=$(cat ll.port)
        echo "$IF $port" >ll.where
        echo ping | timeout 20 "$SOCKCAT" connect -v -s "fe80::2%$IF" \
            "fe80::1%$IF" "$port" >out 2>err
        echo $? >result'
    if [ $? = 125 ]; then
        echo "skipped: no interface takes a link-local address here" >&2
        startSkipping
        return
    fi
    local ifname port
    read -r ifname port <ll.where
    assertEquals "exit status ($(cat err))" 0 "$(cat result)"
    assertEquals "the peer answered" "pong ping" "$(cat out)"
    assertEquals "from the -s address" "fe80::2" "$(cat ll.who)"
    assertContains "-v names the zone" "$(cat err)" \
        "sockcat: connected to fe80::1%$ifname $port"
}

testListenOnALinkLocalAddress() {
    tr_skip_unless_unshare -n && return
    tr_linklocal '
        echo hello >in
        timeout 20 "$SOCKCAT" listen -v --ready-fd 3 "fe80::1%$IF" 0 \
            <in >out 2>err 3>ready &
        pid=$!
        for i in $(seq 1 400); do [ -s ready ] && break; sleep 0.025; done
        port=$(head -n1 ready)
        echo "$IF $port" >ll.where
        python3 -c "
import socket, sys
c = socket.create_connection((\"fe80::1%$IF\", $port), timeout=10)
c.sendall(b\"hi\n\"); c.shutdown(socket.SHUT_WR)
sys.stdout.buffer.write(c.makefile(\"rb\").read())" >got 2>>peer.err
        wait "$pid"
        echo $? >result'
    if [ $? = 125 ]; then
        echo "skipped: no interface takes a link-local address here" >&2
        startSkipping
        return
    fi
    local ifname port
    read -r ifname port <ll.where
    assertEquals "exit status ($(cat err))" 0 "$(cat result)"
    assertEquals "the server got the bytes" "hi" "$(cat out)"
    assertEquals "the client got the bytes" "hello" "$(cat got)"
    assertContains "-v names the zone" "$(cat err)" \
        "sockcat: listening on fe80::1%$ifname $port"
}

# ---- errors that name the option at fault ----

testSourceOfTheOtherFamilyThanANumericHost() {
    timeout 10 "$SOCKCAT" connect -s ::1 127.0.0.1 80 </dev/null >out 2>err
    assertEquals "exit status" 2 $?
    assertEquals "message" \
        "sockcat: -s ::1: source address is IPv6 but 127.0.0.1 is IPv4" \
        "$(head -n1 err)"
}

testSourceOfTheOtherFamilyThanMinus4() {
    timeout 10 "$SOCKCAT" connect -4 -s ::1 localhost 80 </dev/null >out 2>err
    assertEquals "exit status" 2 $?
    assertEquals "message" \
        "sockcat: conflicting options: -4 and -s ::1 (an IPv6 address)" \
        "$(head -n1 err)"
}

testSourceOfTheOtherFamilyThanAName() {
    tr_skip_unless_unshare -m && return
    printf '127.0.0.1 localhost\n127.0.0.1 v4only.test\n' >hosts
    timeout 10 "${TR_WITH_HOSTS[@]}" "$PWD/hosts" \
        "$SOCKCAT" connect -s ::1 v4only.test 80 </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: -s ::1: source address is IPv6 but v4only.test is IPv4" \
        "$(cat err)"
}

testSourceAddressNotLocal() {
    local port
    port=$(th_free_port)
    timeout 10 "$SOCKCAT" connect -s 192.0.2.1 127.0.0.1 "$port" </dev/null \
        >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: bind to source address 192.0.2.1 (-s): Cannot assign requested address" \
        "$(cat err)"
}

testPrivilegedSourcePortAsAUser() {
    local start run=()
    start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
    if [ "$(id -u)" = 0 ]; then
        run=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        "${run[@]}" true 2>/dev/null || run=()
    fi
    if [ "$start" -le 80 ] || { [ "$(id -u)" = 0 ] && [ ${#run[@]} = 0 ]; }; then
        echo "skipped: port 80 needs no privilege here, or no unprivileged user" >&2
        startSkipping
        return
    fi
    timeout 10 "${run[@]}" "$SOCKCAT" connect -p 80 127.0.0.1 "$(th_free_port)" \
        </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: bind to source port 80 (-p): Permission denied" "$(cat err)"
}

testSourcePortInUse() {
    tc_peer_listen || { fail "peer"; return; }
    local busy=$TC_PEER_PORT
    tc_peer_listen || { fail "peer"; return; }
    timeout 10 "$SOCKCAT" connect -p "$busy" 127.0.0.1 "$TC_PEER_PORT" \
        </dev/null >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" \
        "sockcat: bind to source port $busy (-p): Address already in use" \
        "$(cat err)"
}

testAmbiguousLongOption() {
    timeout 10 "$SOCKCAT" connect --so x 80 </dev/null >out 2>err
    assertEquals "exit status" 2 $?
    assertEquals "message" \
        "sockcat: option '--so' is ambiguous; possibilities: --source --source-port" \
        "$(head -n1 err)"
}

testAbbreviatedLongOptionNamedInFull() {
    timeout 10 "$SOCKCAT" connect --verb=2 x 80 </dev/null >out 2>err
    assertEquals "exit status" 2 $?
    assertEquals "message" "sockcat: option --verbose: takes no argument" \
        "$(head -n1 err)"
}

# ---- long host names ----

testLongHostKeepsThePort() {
    tr_skip_unless_unshare -m && return
    local label host port
    label=$(printf 'a%.0s' $(seq 60))
    host="$label.$label.$label.$label.example"
    printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$host" >hosts
    port=$(th_free_port)
    timeout 10 "${TR_WITH_HOSTS[@]}" "$PWD/hosts" \
        "$SOCKCAT" connect "$host" "$port" </dev/null >out 2>err
    assertEquals "connect: exit status" 1 $?
    assertContains "connect: the port and the reason stay" "$(cat err)" \
        " $port: Connection refused"
    assertContains "connect: both ends of the host stay" "$(cat err)" \
        "sockcat: connect to aaaaaaaaaa"
    assertContains "connect: both ends of the host stay" "$(cat err)" \
        "aaaaaaaaaa.example $port"

    tc_peer_listen || { fail "peer"; return; }
    timeout 10 "${TR_WITH_HOSTS[@]}" "$PWD/hosts" \
        "$SOCKCAT" listen "$host" "$TC_PEER_PORT" </dev/null >out 2>err
    assertEquals "listen: exit status" 1 $?
    assertContains "listen: the port and the reason stay" "$(cat err)" \
        ".example $TC_PEER_PORT: Address already in use"
}

. "$th_shunit2"
