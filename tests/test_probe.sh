#!/bin/bash
# The port probe (connect -z): open ports among closed ones on IPv4 and
# IPv6, ranges, comma lists and service names, results in port order, the
# exit status, bad port lists, -v reasons (refused, timed out), a probe
# that sends nothing and ends with a clean close, UDP (-u -z: open,
# open|filtered, closed by ICMP), a low descriptor limit, and speed.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

setUp() { tc_setup; }
rc=0
tearDown() { tc_teardown; }

# The ports a probe looks at are held by the test itself, so that no other
# program on the machine can make one open or closed behind its back:
#   o  a TCP listener that accepts and records what each client sent and
#      how it ended ("eof N" or "reset N") in accepted.log
#   x  a bound TCP socket that does not listen: connections are refused
#   f  a TCP listener whose accept queue is full: connections time out
#   u  a UDP socket that answers every datagram: open
#   s  a UDP socket that never answers: open|filtered
#   c  a UDP port bound and freed again: closed (ICMP port unreachable)
# hold FAMILY PATTERN: finds a run of consecutive ports, one per letter,
# writes the first one to ports.txt and holds them until gate.all exists.
hold() {
    timeout 30 python3 -c "$HOLD" "$@" >hold.out 2>&1 &
    th_wait_file ports.txt || return 1
    BASE=$(cat ports.txt)
}

# shellcheck disable=SC2016
HOLD='
import os, random, socket, sys, threading, time
fam = socket.AF_INET6 if sys.argv[1] == "6" else socket.AF_INET
host = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
pattern = sys.argv[2]
log = open("accepted.log", "a", buffering=1)

def take(port, kind):
    st = socket.SOCK_DGRAM if kind in "usc" else socket.SOCK_STREAM
    s = socket.socket(fam, st)
    s.bind((host, port))
    if kind == "o":
        s.listen(64)
    elif kind == "f":
        s.listen(0)
    return s

def grab():
    while True:
        base = random.randint(20000, 60000 - len(pattern))
        socks = []
        try:
            for i, kind in enumerate(pattern):
                socks.append(take(base + i, kind))
            return base, socks
        except OSError:
            for s in socks:
                s.close()

def serve(s):
    while True:
        c, _ = s.accept()
        got = 0
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    log.write("eof %d\n" % got)
                    break
                got += len(d)
        except ConnectionResetError:
            log.write("reset %d\n" % got)
        c.close()

def echo(s):
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(b"here", a)

base, socks = grab()
fillers = []
for kind, s in zip(pattern, socks):
    if kind == "o":
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    elif kind == "f":
        # Fill the accept queue: later connections get no answer at all.
        port = s.getsockname()[1]
        for _ in range(3):
            c = socket.socket(fam, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex((host, port))
            fillers.append(c)
        time.sleep(0.2)
    elif kind == "u":
        threading.Thread(target=echo, args=(s,), daemon=True).start()
    elif kind == "c":
        s.close()
open("ports.tmp", "w").write("%d\n" % base)
os.rename("ports.tmp", "ports.txt")
while not os.path.exists("gate.all"):
    time.sleep(0.05)
'

# probe ARGS: runs the probe, bounded; stdout in out, stderr in err, status in RC.
probe() {
    timeout 20 "$SOCKCAT" connect -z "$@" >out 2>err </dev/null
    RC=$?
}

# lines HOST P... [-- WHAT]: the expected stdout for open ports P...
open_lines() {
    local host=$1 p
    shift
    for p in "$@"; do
        echo "$host $p open"
    done
}

testTcpRangeIPv4() {
    hold 4 xoxxoxxxxo || return
    probe 127.0.0.1 "$BASE-$((BASE + 9))"
    assertEquals "exit status" 0 "$RC"
    assertEquals "open ports, in port order" \
        "$(open_lines 127.0.0.1 $((BASE + 1)) $((BASE + 4)) $((BASE + 9)))" "$(cat out)"
    assertEquals "nothing on stderr without -v" "" "$(cat err)"
}

testTcpRangeIPv6() {
    if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
        startSkipping
        echo "no IPv6 loopback here: skipped"
        return
    fi
    hold 6 ooxxxo || return
    probe ::1 "$BASE-$((BASE + 5))"
    assertEquals "exit status" 0 "$RC"
    assertEquals "open ports on ::1" \
        "$(open_lines ::1 "$BASE" $((BASE + 1)) $((BASE + 5)))" "$(cat out)"
}

testCommaListRangesAndOrder() {
    hold 4 oxoxxo || return
    # Out of order, overlapping and repeated: each port once, in port order.
    probe 127.0.0.1 "$((BASE + 5)),$((BASE + 1))-$((BASE + 3)),$BASE,$((BASE + 2))-$((BASE + 5)),$BASE"
    assertEquals "exit status" 0 "$RC"
    assertEquals "each open port once, in order" \
        "$(open_lines 127.0.0.1 "$BASE" $((BASE + 2)) $((BASE + 5)))" "$(cat out)"
}

testServiceName() {
    local name
    name=$(awk '$2 == "7/tcp" { print $1; exit }' /etc/services 2>/dev/null)
    if [ -z "$name" ]; then
        startSkipping
        echo "no service for port 7 in /etc/services: skipped"
        return
    fi
    hold 4 x || return
    probe -v 127.0.0.1 "$name,$BASE"
    grep -q "^sockcat: 127.0.0.1 7 (tcp) " err
    rc=$?; assertTrue "the service name became port 7: $(cat err)" "$rc"
    grep -q "^sockcat: 127.0.0.1 $BASE (tcp) closed: Connection refused" err
    rc=$?; assertTrue "the number after it is probed too" "$rc"
}

testNoneOpenExitsOne() {
    hold 4 xxx || return
    probe 127.0.0.1 "$BASE-$((BASE + 2))"
    assertEquals "exit status" 1 "$RC"
    assertEquals "nothing on stdout" "" "$(cat out)"
}

testBadPortLists() {
    local bad
    for bad in 9-1 0 65536 1- -5 a-b 1,,2 "" 1-70000 nosuchservice; do
        probe 127.0.0.1 "$bad"
        assertEquals "'$bad': usage error" 2 "$RC"
        assertEquals "'$bad': nothing on stdout" "" "$(cat out)"
        grep -q "^sockcat: invalid ports '" err || grep -q "^sockcat: .*port" err
        rc=$?; assertTrue "'$bad': says why: $(cat err)" "$rc"
    done
    probe 127.0.0.1 9-1
    assertEquals "the message for a backward range" \
        "sockcat: invalid ports '9-1': the range runs backwards" "$(head -n1 err)"
}

testVerboseReasons() {
    hold 4 oxf || return
    probe -v -w 0.5 127.0.0.1 "$BASE-$((BASE + 2))"
    assertEquals "exit status" 0 "$RC"
    assertEquals "stdout" "127.0.0.1 $BASE open" "$(cat out)"
    grep -q "^sockcat: 127.0.0.1 $((BASE + 1)) (tcp) closed: Connection refused$" err
    rc=$?; assertTrue "refused port named with its reason: $(cat err)" "$rc"
    grep -q "^sockcat: 127.0.0.1 $((BASE + 2)) (tcp) timed out: no answer within 500 ms$" err
    rc=$?; assertTrue "silent port named as timed out: $(cat err)" "$rc"
    grep -q "at a time" err
    rc=$?; assertTrue "-v says how many probes run at once" "$rc"
}

testSendsNothingClosesCleanly() {
    hold 4 o || return
    probe 127.0.0.1 "$BASE"
    assertEquals "exit status" 0 "$RC"
    local i
    for i in $(seq 1 100); do
        [ -s accepted.log ] && break
        sleep 0.02
    done
    assertEquals "the listener saw no data and a clean end" "eof 0" "$(cat accepted.log)"
}

testUdp() {
    hold 4 usc || return
    # -w 2: the answer comes from a python thread, which a loaded machine
    # may not run within half a second.
    probe -u -v -w 2 127.0.0.1 "$BASE-$((BASE + 2))"
    assertEquals "exit status" 0 "$RC"
    assertEquals "answering port open, silent one open|filtered" \
        "127.0.0.1 $BASE open
127.0.0.1 $((BASE + 1)) open|filtered" "$(cat out)"
    grep -q "^sockcat: 127.0.0.1 $((BASE + 2)) (udp) closed: Connection refused$" err
    rc=$?; assertTrue "ICMP unreachable: closed: $(cat err)" "$rc"
}

testUdpAllClosedExitsOne() {
    hold 4 ccc || return
    probe -u -w 2 127.0.0.1 "$BASE-$((BASE + 2))"
    assertEquals "exit status" 1 "$RC"
    assertEquals "nothing on stdout" "" "$(cat out)"
}

testUdpIPv6() {
    if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
        startSkipping
        echo "no IPv6 loopback here: skipped"
        return
    fi
    hold 6 uc || return
    probe -u -w 2 ::1 "$BASE,$((BASE + 1))"
    assertEquals "exit status" 0 "$RC"
    assertEquals "stdout" "::1 $BASE open" "$(cat out)"
}

testLowDescriptorLimit() {
    hold 4 oxxxxxxxxxo || return
    # 2000 ports around ours under ulimit -n 256: bounded in flight, all probed.
    local lo=$((BASE - 995)) hi=$((BASE + 1004))
    (ulimit -n 256 && exec timeout 20 "$SOCKCAT" connect -z -v 127.0.0.1 "$lo-$hi") \
        >out 2>err </dev/null
    RC=$?
    assertEquals "exit status: $(grep -v 'closed: Connection refused' err | head -3)" 0 "$RC"
    grep -qx "127.0.0.1 $BASE open" out && grep -qx "127.0.0.1 $((BASE + 10)) open" out
    rc=$?; assertTrue "our open ports found: $(cat out)" "$rc"
    grep -q "probing 2000 TCP ports of 127.0.0.1, 224 at a time" err
    rc=$?; assertTrue "in flight bounded by the limit: $(head -n1 err)" "$rc"
    assertEquals "every port reported once" 2000 \
        "$(( $(wc -l <out) + $(grep -c '(tcp) ' err) ))"
}

testThousandPortsQuickly() {
    if th_sanitized; then
        startSkipping
        echo "timing under sanitizers means nothing: skipped"
        return
    fi
    hold 4 o || return
    local start end
    start=$(date +%s%N)
    probe 127.0.0.1 "$((BASE - 500))-$((BASE + 499))"
    end=$(date +%s%N)
    assertEquals "exit status" 0 "$RC"
    # Well under half a second on a quiet machine; a loaded one gets slack.
    assertTrue "1000 ports took $(((end - start) / 1000000)) ms" \
        "[ $(((end - start) / 1000000)) -lt 3000 ]"
}

testConflicts() {
    local opt
    for opt in -C "-x f" "-o f" --send-only "-s 127.0.0.1"; do
        # shellcheck disable=SC2086
        probe $opt 127.0.0.1 80
        assertEquals "-z with $opt" 2 "$RC"
        grep -q "^sockcat: conflicting options: -z and " err
        rc=$?; assertTrue "-z with $opt: $(cat err)" "$rc"
    done
    timeout 5 "$SOCKCAT" listen -z 80 >out 2>err </dev/null
    assertEquals "listen -z" 2 $?
}

. "$th_shunit2"
