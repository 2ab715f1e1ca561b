#!/bin/bash
# Timers and the endings that never strand anyone:
# - time values take fractions and ms/s/m/h; negative, NaN, infinite,
#   overflowing, empty or trailing junk are usage errors (exit 2);
# - -i ends an idle one-shot conversation with status 1 and "idle for SECS s",
#   closes an idle keep-open client (the server goes on) and forgets an idle
#   UDP sender; -q ends the wait for the peer after stdin's EOF (exit 0, also
#   how a UDP client stops waiting for replies);
# - --send-only (and -q 0) exit 0 against a server that never closes, once
#   every byte sent was acknowledged, and every byte arrived;
# - -k -m: a client that half-closed or was killed holds no slot;
# - keepalive probes reap a half-closed client that vanished (root: a
#   network namespace with a DROP rule).
# Timers are measured against a monotonic clock: never sooner than their
# setting, and within 10 % or 50 ms of it (plus process start-up; more
# under sanitizers).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20
TM_RUN="$TC_DIR/timer_run.py"
TM_PEER="$TC_DIR/misbehave.py"

# What starting sockcat and connecting may add to a timer measured from
# outside the process, in ms (starting a process takes a few hundred ms on
# a loaded machine, an ASan build over a second); the peer-side figure of
# testIdleOneShot holds the timer itself to 10 % or 50 ms, give or take
# 100 ms of the peer's own wake-ups.
if th_sanitized; then TM_SLACK=3000; else TM_SLACK=600; fi

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# tm_within SETTING_MS MEASURED_MS WHAT: no sooner than the setting, no later
# than 10 % or 50 ms (the larger) past it, plus the start-up slack.
tm_within() {
    local set=$1 got=$2 tol=$(( $1 / 10 > 50 ? $1 / 10 : 50 ))
    assertTrue "$3: fired after ${got} ms, set to ${set} ms (not sooner)" "[ $got -ge $set ]"
    assertTrue "$3: fired after ${got} ms, set to ${set} ms (at most +${tol} ms +${TM_SLACK} ms start-up)" \
        "[ $got -le $(( set + tol + TM_SLACK )) ]"
}

# tm_server [ARGS]: a server that reads all, never writes, never closes.
# Sets TM_PORT.
tm_server() {
    timeout -k 5 "$TH_TIMEOUT" python3 "$TM_PEER" server --ready "$TC_T/srv.port" "$@" \
        </dev/null >/dev/null 2>>"$TC_T/peer.err" &
    th_wait_file "$TC_T/srv.port" || return 1
    TM_PORT=$(head -n1 "$TC_T/srv.port")
}

# tm_time ARGS...: runs timer_run.py ARGS; sets TM_RC and TM_MS.
tm_time() {
    local line
    line=$(python3 "$TM_RUN" --limit "$TH_TIMEOUT" "$@")
    TM_RC=${line% *}
    TM_MS=${line#* }
}

tm_usage() {
    local want=$1
    shift
    timeout 10 "$SOCKCAT" "$@" </dev/null >out 2>err
    assertEquals "$*: exit status" 2 $?
    assertEquals "$*: message" "$want" "$(sed -n 1p err)"
}

testBadTimeValues() {
    local form="must be a number of seconds, or a number with a unit: ms, s, m or h" v
    for v in "" abc 1x 1e3 nan inf 0x10 " 1" 1.5.2 5sec; do
        tm_usage "sockcat: invalid idle timeout '$v': $form" connect -i "$v" 127.0.0.1 80
    done
    for v in -1 -inf -0; do
        tm_usage "sockcat: invalid idle timeout '$v': must not be negative" connect -i "$v" 127.0.0.1 80
    done
    tm_usage "sockcat: invalid idle timeout '0': must be more than 0" connect -i 0 127.0.0.1 80
    tm_usage "sockcat: invalid idle timeout '10000001': too large: at most 10000000 s" \
        connect -i 10000001 127.0.0.1 80
    tm_usage "sockcat: invalid idle timeout '99999999999999999999999h': too large: at most 10000000 s" \
        connect -i 99999999999999999999999h 127.0.0.1 80
    tm_usage "sockcat: invalid quit-after-eof time '-0.5': must not be negative" \
        connect -q -0.5 127.0.0.1 80
    tm_usage "sockcat: invalid quit-after-eof time 'NaN': $form" connect --quit-after-eof=NaN 127.0.0.1 80
    tm_usage "sockcat: invalid wait '1e999': must be a positive number of seconds" \
        connect -w 1e999 127.0.0.1 80
    tm_usage "sockcat: invalid wait '20000000': must be at most 10000000 seconds" \
        connect -w 20000000 127.0.0.1 80
    tm_usage "sockcat: invalid keepalive idle '0': must be more than 0" \
        connect --keepalive=0 127.0.0.1 80
    tm_usage "sockcat: invalid keepalive interval 'x': $form" \
        connect --keepalive=1,x 127.0.0.1 80
    tm_usage "sockcat: invalid keepalive count '0': must be a whole number from 1 to 127" \
        connect --keepalive=1,1,0 127.0.0.1 80
    tm_usage "sockcat: invalid keepalive '1,2,3,4': must be IDLE[,INTERVAL[,COUNT]]" \
        connect --keepalive=1,2,3,4 127.0.0.1 80
    tm_usage "sockcat: invalid keepalive idle '10h': must be at most 32767 s" \
        connect --keepalive=10h 127.0.0.1 80
    tm_usage "sockcat: conflicting options: -q and -k (a keep-open server ends on a signal)" \
        listen -q 1 -k 0
    tm_usage "sockcat: conflicting options: -u and --keepalive (UDP has no connection to probe)" \
        connect -u --keepalive 127.0.0.1 80
}

# Units and fractions work where seconds did: -w 250ms connects.
testUnitsAccepted() {
    local v
    for v in 250ms 0.25 .25s 1m 0.001h; do
        tc_peer_listen --report rep || { fail "peer"; return; }
        echo hi >in
        timeout 10 "$SOCKCAT" connect -w "$v" -q "$v" -i "$v" 127.0.0.1 "$TC_PEER_PORT" <in >out 2>err
        rc=$?; assertEquals "-w/-q/-i $v: exit status ($(cat err))" 0 "$rc"
        th_wait_pid "$TC_PEER_PID" 5
    done
}

# A value above zero, however small, is at least 1 ms: taken, not "0".
testTinyFractionAccepted() {
    local v rc
    for v in 0.0000000001 0.00000000000000000000001h; do
        timeout 10 "$SOCKCAT" connect -i "$v" -q "$v" 127.0.0.1 1 </dev/null >out 2>err
        rc=$?  # before $(cat ...) in the message sets $? to 0
        assertNotEquals "-i/-q $v: not a usage error ($(cat err))" 2 "$rc"
        assertFalse "-i/-q $v: no complaint about the value" "grep -q invalid err"
    done
}

# -i one-shot: a silent peer that never closes, a quiet stdin. Timed by the
# peer too, from its accept to sockcat's FIN: start-up is not in that.
testIdleOneShot() {
    tm_server --times times || { fail "server"; return; }
    tm_time --stdin-open --err err -- "$SOCKCAT" connect -i 0.3 127.0.0.1 "$TM_PORT"
    assertEquals "exit status" 1 "$TM_RC"
    assertEquals "message" "sockcat: idle for 0.3 s" "$(cat err)"
    tm_within 300 "$TM_MS" "-i 0.3"
    th_wait_file times
    # The peer's accept may return after sockcat's connect did (later still
    # when python is not scheduled at once), and its read of the FIN late too.
    local seen
    seen=$(awk '{printf "%d", ($2 - $1) * 1000 + 100}' times)
    TM_SLACK=100 tm_within 300 "$seen" "-i 0.3 as the peer saw it (+100 ms for its accept)"
}

# Traffic keeps a connection alive: -i is about silence, not age.
testIdleCountsTraffic() {
    tc_peer_listen --report rep || { fail "peer"; return; }
    mkfifo feed
    # 1.5 s of ticks 0.1 s apart against -i 1: a loaded machine may stretch a
    # gap by most of a second before the test breaks.
    (for i in $(seq 1 15); do printf 'tick %02d\n' "$i"; sleep 0.1; done) >feed &
    tm_time --stdin feed --err err -- "$SOCKCAT" connect -i 1 127.0.0.1 "$TC_PEER_PORT"
    assertEquals "exit status ($(cat err))" 0 "$TM_RC"
    th_wait_pid "$TC_PEER_PID" 5
    assertEquals "the peer got all 15 ticks (8 B each)" 120 "$(cut -d' ' -f1 rep)"
}

# -k -i: the idle client is closed, the server goes on and serves the next.
testIdleKeepOpen() {
    tc_listen closed out err -k -v -i 0.3 127.0.0.1 0 || { fail "listen"; return; }
    timeout 10 python3 "$TM_PEER" client --port "$TC_PORT" --hold 5 \
        >/dev/null 2>>peer.err &
    local client=$!
    th_wait_pid "$client" 5
    assertEquals "the silent client was closed by sockcat, not the hold" 0 "$TH_RC"
    assertTrue "says why: $(cat err)" "grep -q 'idle for 0.3 s' err"
    echo "next" | timeout 5 "$SOCKCAT" connect -q 0.2 127.0.0.1 "$TC_PORT" >/dev/null 2>cerr
    rc=$?; assertEquals "a newcomer is served ($(cat cerr))" 0 "$rc"
    tc_wait_size out 5 5
    assertEquals "its bytes reached stdout" "next" "$(cat out)"
    assertTrue "the server goes on" "tc_running $TC_PID"
}

# -u -k -i: the idle sender is forgotten (and says so with -v).
testIdleUdpForgetsSender() {
    tc_listen closed out err -u -k -v -i 0.3 127.0.0.1 0 || { fail "listen"; return; }
    python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b"one\n",("127.0.0.1",int(sys.argv[1])))' "$TC_PORT"
    local i
    for i in $(seq 1 80); do grep -q 'idle for 0.3 s' err && break; sleep 0.025; done
    assertTrue "the sender is forgotten: $(cat err)" "grep -q 'idle for 0.3 s' err"
    assertEquals "its datagram was written" "one" "$(cat out)"
    assertTrue "the server goes on" "tc_running $TC_PID"
}

# -q: after stdin's EOF, wait at most SECS for a peer that never closes.
testQuitAfterEof() {
    tm_server --report rep || { fail "server"; return; }
    echo hello >in
    tm_time --stdin in --err err -- "$SOCKCAT" connect -q 0.4 127.0.0.1 "$TM_PORT"
    assertEquals "exit status ($(cat err))" 0 "$TM_RC"
    tm_within 400 "$TM_MS" "-q 0.4"
    th_wait_file rep
    assertEquals "the peer got stdin" "$(tc_expect in | cut -d' ' -f1-2)" "$(cat rep)"
}

# -u -q: how a UDP client stops waiting for replies.
testUdpQuit() {
    timeout -k 5 "$TH_TIMEOUT" python3 "$TM_PEER" udp-echo --ready echo.port 2>>peer.err &
    th_wait_file echo.port || { fail "echo"; return; }
    printf 'ping\n' >in
    tm_time --stdin in --out out --err err -- "$SOCKCAT" connect -u -q 0.3 127.0.0.1 "$(cat echo.port)"
    assertEquals "exit status ($(cat err))" 0 "$TM_RC"
    assertEquals "the reply was printed" "ping" "$(cat out)"
    tm_within 300 "$TM_MS" "-u -q 0.3"
}

# --send-only against a server that never closes: exit 0 once every byte is
# acknowledged, never before they all arrived.
testSendOnlyNeverClosingServer() {
    tc_data big $((8 * 1024 * 1024))
    tm_server --report rep || { fail "server"; return; }
    tm_time --stdin big --err err -- "$SOCKCAT" connect -v --send-only 127.0.0.1 "$TM_PORT"
    assertEquals "exit status ($(cat err))" 0 "$TM_RC"
    assertTrue "ends on the acknowledgement: $(cat err)" "grep -q 'acknowledged everything sent' err"
    th_wait_file rep
    assertEquals "every byte arrived" "$(tc_expect big | cut -d' ' -f1-2)" "$(cat rep)"
    assertTrue "in well under the 20 s the server holds on (${TM_MS} ms)" "[ $TM_MS -lt 5000 ]"
}

# -q 0 is the same promise with stdout kept.
testQuitZeroWaitsForAck() {
    tc_data big $((4 * 1024 * 1024))
    tm_server --report rep || { fail "server"; return; }
    tm_time --stdin big --err err -- "$SOCKCAT" connect -q 0 127.0.0.1 "$TM_PORT"
    assertEquals "exit status ($(cat err))" 0 "$TM_RC"
    th_wait_file rep
    assertEquals "every byte arrived" "$(tc_expect big | cut -d' ' -f1-2)" "$(cat rep)"
}

# A --send-only server: the client never closes; sockcat exits once acknowledged.
testSendOnlyServer() {
    tc_data small 300000
    tc_listen small closed err --send-only 127.0.0.1 0 || { fail "listen"; return; }
    timeout 10 python3 -c '
import socket,sys,hashlib,time
c=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); h=hashlib.sha256(); n=0
while True:
    d=c.recv(65536)
    if not d: break
    h.update(d); n+=len(d)
print(n,h.hexdigest(),flush=True); time.sleep(8)' "$TC_PORT" >got 2>>peer.err &
    th_wait_pid "$TC_PID" 10
    assertEquals "exit status ($(cat err))" 0 "$TH_RC"
    th_wait_file got
    assertEquals "every byte arrived" "$(tc_expect small | cut -d' ' -f1-2)" "$(cat got)"
}

# -k -m 1: a client that half-closed keeps the broadcast but not the slot.
testHalfClosedHoldsNoSlot() {
    mkfifo feed
    exec 7<>feed
    tc_listen feed out err -k -m 1 -v 127.0.0.1 0 || { fail "listen"; return; }
    python3 "$TM_PEER" client --port "$TC_PORT" --send "first
" --half-close --ready c1 --hold 8 >/dev/null 2>>peer.err &
    th_wait_file c1
    tc_wait_size out 6 5
    echo "second" | timeout 5 "$SOCKCAT" connect -q 0.2 127.0.0.1 "$TC_PORT" >/dev/null 2>cerr
    tc_wait_size out 13 5
    assertEquals "both clients were served" "first
second" "$(cat out)"
    assertFalse "nobody was refused: $(cat err)" "grep -q refused err"
    exec 7>&-
}

# -k -m 1: a client killed with SIGKILL, then a newcomer is served at once.
testKilledClientFreesSlot() {
    mkfifo feed
    exec 7<>feed
    tc_listen feed out err -k -m 1 -v 127.0.0.1 0 || { fail "listen"; return; }
    python3 "$TM_PEER" client --port "$TC_PORT" --send "doomed
" --ready c1 --hold 20 >/dev/null 2>>peer.err &
    local victim=$!
    th_wait_file c1
    tc_wait_size out 7 5
    kill -9 "$victim"
    wait "$victim" 2>/dev/null
    local t0 rc
    t0=$(tc_ms)
    echo "newcomer" | timeout 5 "$SOCKCAT" connect -q 0.2 127.0.0.1 "$TC_PORT" >/dev/null 2>cerr
    rc=$?
    tc_wait_size out 16 5
    assertEquals "the newcomer connected ($(cat cerr))" 0 "$rc"
    assertEquals "and was served" "doomed
newcomer" "$(cat out)"
    local limit=5000
    th_sanitized && limit=8000
    assertTrue "within $limit ms ($(( $(tc_ms) - t0 )) ms)" "[ $(( $(tc_ms) - t0 )) -lt $limit ]"
    exec 7>&-
}

# Keepalive reaps a half-closed client that vanished without a word: in a
# network namespace, the client's packets are dropped after it half-closed.
testKeepaliveReapsVanishedClient() {
    if [ "$(id -u)" != 0 ] || ! unshare -n true 2>/dev/null || ! command -v iptables >/dev/null; then
        startSkipping
        echo "skipped: needs root, unshare -n and iptables" >&2
        return
    fi
    cat >reap.sh <<'SH'
set -e
ip link set lo up
mkfifo feed; exec 7<>feed
timeout 20 "$SOCKCAT" listen -k -v --keepalive=1,1,2 --ready-fd 3 127.0.0.1 0 <feed >out 2>err 3>ready &
for i in $(seq 200); do [ -s ready ] && break; sleep 0.025; done
port=$(cat ready)
timeout 20 python3 "$TM_PEER" client --port "$port" --half-close --ready c1 --hold 15 &
for i in $(seq 200); do [ -s c1 ] && break; sleep 0.025; done
cport=$(cat c1)
# From now on the client neither answers nor resets: it has vanished.
iptables -A INPUT -p tcp --dport "$cport" -j DROP
t0=$(date +%s%N)
for i in $(seq 400); do grep -q 'is gone' err && break; sleep 0.025; done
echo $(( ($(date +%s%N) - t0) / 1000000 )) >reaped_ms
SH
    SOCKCAT=$SOCKCAT TM_PEER=$TM_PEER timeout 30 unshare -n bash reap.sh >/dev/null 2>reap.err
    assertTrue "reaped: $(cat err 2>/dev/null) $(cat reap.err)" "grep -q 'is gone' err"
    assertTrue "within 8 s ($(cat reaped_ms 2>/dev/null) ms)" "[ $(cat reaped_ms 2>/dev/null || echo 99999) -lt 8000 ]"
}

. "$th_shunit2"
