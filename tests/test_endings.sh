#!/bin/bash
# How a conversation ends, and what each ending promises:
# - every ending but a signal writes out all that was received, however slow
#   the reader of stdout (a peer reset, the peer closing while stdin is a
#   terminal); a stop on a signal gives up on stdout after 3 s, or at once on
#   a second signal, and then says how many received bytes it dropped;
# - one-shot: a peer that closes before taking all of stdin is an error that
#   says how much was sent (the answer received is still written out), except
#   when stdin is a terminal;
# - --slow-client disconnect resets the connection, so the client can tell,
#   and counts it (-v summary, SIGUSR1, --stats json);
# - --slow-client drop: clients that never read pin a bounded amount of
#   memory in total, however many there are;
# - the "sent" figure counts the part of a chunk that a close cut short.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=40

# Longer than sockcat's flush limit for a stop on a signal (3 s): a reader
# of stdout that pauses this long made sockcat give up on stdout before.
SLOW_READER_PAUSE=4

# --slow-client drop with clients that never read: how many, and the peak
# RSS sockcat may reach with them (KiB).
STUCK_CLIENTS=1000
STUCK_RSS_LIMIT_KIB=$((64 * 1024))

oneTimeSetUp() {
    DATA="${SHUNIT_TMPDIR}/data"
    tc_data "$DATA" 600000
    BIG="${SHUNIT_TMPDIR}/big"
    tc_data "$BIG" $((10 * 1000 * 1000))
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# en_json_field FILE NAME: a field of the last line of FILE, parsed as JSON
# (fails if that line is not valid JSON).
en_json_field() {
    python3 -c 'import json,sys
print(json.loads(open(sys.argv[1]).read().splitlines()[-1])[sys.argv[2]])' "$1" "$2"
}

# en_prefix_sum FILE BYTES: the sha256 of the first BYTES bytes of FILE.
en_prefix_sum() { head -c "$2" "$1" | sha256sum | cut -d' ' -f1; }

# en_wait_grep FILE ERE [SECONDS]: waits (bounded) until a line of FILE matches.
en_wait_grep() {
    local i
    for i in $(seq 1 $((${3:-$TH_TIMEOUT} * 40))); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.025
    done
    return 1
}

# en_wait_all_read PORT: waits (bounded) until nothing is left in flight on
# the connection to the peer listening on PORT: all it sent is in sockcat's
# hands (read from the socket).
en_wait_all_read() {
    local i q
    for i in $(seq 1 400); do
        q=$( { ss -Htn state connected "dport = :$1" | awk '{print $2}'
               ss -Htn state connected "sport = :$1" | awk '{print $3}'; } |
            awk '{ s += $1; n++ } END { print (n == 2 ? s : -1) }')
        [ "$q" = 0 ] && return 0
        sleep 0.025
    done
    return 1
}

# en_tty_connect PORT OUT ERR: `sockcat connect 127.0.0.1 PORT` in the
# background with stdin a terminal (a new pseudo-terminal that nobody types
# on), stdout to OUT and stderr to ERR. Sets TC_PID; its status goes to rc.
en_tty_connect() {
    timeout -k 5 "$TH_TIMEOUT" python3 - "$SOCKCAT" "$1" "$2" "$3" <<'PY' &
import os, pty, subprocess, sys
sockcat, port, out, err = sys.argv[1:5]
master, slave = pty.openpty()
with open(out, "wb") as o, open(err, "wb") as e:
    p = subprocess.Popen([sockcat, "connect", "127.0.0.1", port],
                         stdin=slave, stdout=o, stderr=e)
os.close(slave)
rc = p.wait()
open("rc", "w").write("%d\n" % (rc if rc >= 0 else 128 - rc))
PY
    TC_PID=$!
}

#--------------------------------------------------------------------------
# Every ending but a signal writes all that was received to stdout.

testPeerResetWritesAllToSlowStdout() {
    # The peer sends 600 000 B and resets; the reader of stdout pauses longer
    # than the flush limit of a signal stop. All of it must reach stdout.
    mkfifo out.fifo
    tc_drain out.fifo out gate.out
    tc_peer_listen --no-read --send "$DATA" --then reset --done reset ||
        { fail "peer"; return; }
    tc_connect /dev/null out.fifo err 127.0.0.1 "$TC_PEER_PORT"
    th_wait_file reset || { fail "the peer did not reset"; return; }
    sleep "$SLOW_READER_PAUSE"  # the slow reader: no event to wait for
    touch gate.out
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 1 "$TH_RC"
    tc_hold out.eof 10
    assertEquals "every received byte on stdout" "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "message" \
        "sockcat: read from 127.0.0.1 $TC_PEER_PORT: Connection reset by peer" "$(cat err)"
}

testTerminalStopWritesAllToSlowStdout() {
    # stdin a terminal: the peer closing ends sockcat (exit 0), after all it
    # sent was written, however long the reader of stdout pauses.
    mkfifo out.fifo
    tc_drain out.fifo out gate.out
    tc_peer_listen --no-read --send "$DATA" --then close --done closed ||
        { fail "peer"; return; }
    en_tty_connect "$TC_PEER_PORT" out.fifo err
    th_wait_file closed || { fail "the peer did not close"; return; }
    sleep "$SLOW_READER_PAUSE"  # the slow reader: no event to wait for
    touch gate.out
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$(cat rc)"
    tc_hold out.eof 10
    assertEquals "every received byte on stdout" "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "no message" "" "$(cat err)"
}

testSignalStopSaysWhatStdoutDidNotTake() {
    # Nobody reads stdout; SIGTERM: sockcat waits 3 s for stdout, then gives
    # up on it, says how many received bytes were not written, and exits 143.
    local pid t0 ms dropped got
    mkfifo out.fifo
    tc_drain out.fifo out gate.out
    tc_peer_listen --no-read --send "$DATA" --then keep --sent sent --hold gate.peer ||
        { fail "peer"; return; }
    # The copying path: spliced, the bytes would wait in the kernel, not in
    # sockcat, and a stdout pipe would be enlarged to hold them all.
    tc_connect /dev/null out.fifo err --stats json --no-zerocopy 127.0.0.1 "$TC_PEER_PORT"
    th_wait_file sent || { fail "the peer could not send"; return; }
    pid=$(tc_child "$TC_PID")
    en_wait_all_read "$TC_PEER_PORT" || { fail "sockcat did not read it all"; return; }
    t0=$(tc_ms)
    kill -TERM "$pid"
    th_wait_pid "$TC_PID"
    ms=$(($(tc_ms) - t0))
    assertEquals "exit status" 143 "$TH_RC"
    assertTrue "gave up after about 3 s (took $ms ms)" "[ $ms -ge 2500 ] && [ $ms -lt 6000 ]"
    touch gate.out
    tc_hold out.eof 10
    got=$(stat -c %s out)
    dropped=$(sed -n 's/^sockcat: stopped on signal 15: \([0-9]*\) B received were not written to stdout$/\1/p' err)
    assertNotNull "the message: $(cat err)" "$dropped"
    assertEquals "written + dropped = received" 600000 $((got + ${dropped:-0}))
    assertEquals "stdout is what came first" "$(en_prefix_sum "$DATA" "$got")" "$(th_sum out)"
    assertEquals "two lines: the message, the stats" 2 "$(wc -l <err)"
    assertEquals "--stats json is valid" 600000 "$(en_json_field err received)"
}

testSecondSignalStopsAtOnce() {
    local pid t0 ms
    mkfifo out.fifo
    tc_drain out.fifo out gate.out
    tc_peer_listen --no-read --send "$DATA" --then keep --sent sent --hold gate.peer ||
        { fail "peer"; return; }
    tc_connect /dev/null out.fifo err -v --no-zerocopy 127.0.0.1 "$TC_PEER_PORT"
    th_wait_file sent || { fail "the peer could not send"; return; }
    pid=$(tc_child "$TC_PID")
    en_wait_all_read "$TC_PEER_PORT" || { fail "sockcat did not read it all"; return; }
    t0=$(tc_ms)
    kill -INT "$pid"
    # One signal at a time: two sent together may arrive as one.
    en_wait_grep err 'stopping on signal 2' 5 || { fail "first SIGINT not seen"; return; }
    kill -INT "$pid"
    th_wait_pid "$TC_PID"
    ms=$(($(tc_ms) - t0))
    assertEquals "exit status" 130 "$TH_RC"
    assertTrue "at once (took $ms ms)" "[ $ms -lt 2000 ]"
    assertTrue "the message: $(cat err)" \
        "grep -Eq '^sockcat: stopped on signal 2: [0-9]+ B received were not written to stdout$' err"
}

#--------------------------------------------------------------------------
# One-shot: stdin not delivered whole is no success.

EN_NOT_SENT='peer closed before all of stdin was sent \([0-9]+(\.[0-9]+)? (B|KiB|MiB|GiB) sent\)$'

testPortProbeBeforeTheReceiverIsAnError() {
    # `sockcat listen < file`, and a port probe connects and closes first:
    # the file went nowhere. Exit 1, and the line says how much was sent.
    local pid sent
    tc_listen "$BIG" out err --stats json 127.0.0.1 0 || { fail "listener"; return; }
    pid=$(tc_child "$TC_PID")
    # The probe is gone before sockcat even accepts it (as with a probe that
    # is quicker than the accept), so the order of events is always the same.
    kill -STOP "$pid"
    python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.close()' "$TC_PORT"
    kill -CONT "$pid"
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 1 "$TH_RC"
    assertTrue "the message: $(cat err)" \
        "head -n1 err | grep -Eq '^sockcat: write to 127\.0\.0\.1 [0-9]+: $EN_NOT_SENT'"
    sent=$(en_json_field err sent)
    assertTrue "less than the file was sent ($sent B)" "[ ${sent:-0} -lt $(stat -c %s "$BIG") ]"
    assertEquals "nothing on stdout" 0 "$(stat -c %s out)"
}

testServerClosingUnreadIsAnErrorAfterItsAnswer() {
    # A server answers and closes without reading our 10 MB: its answer is
    # written out whole, then sockcat exits 1 saying stdin was not all sent.
    local port
    timeout -k 5 "$TH_TIMEOUT" python3 - "$DATA" <<'PY' >port &
import fcntl, socket, struct, sys, termios, time
answer = open(sys.argv[1], "rb").read()
ls = socket.create_server(("127.0.0.1", 0))
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
c.sendall(answer)
# Let the answer arrive before closing: a close with unread bytes resets
# the connection, and a reset would throw away what is still unsent.
while struct.unpack("i", fcntl.ioctl(c, termios.TIOCOUTQ, b"\0" * 4))[0] > 0:
    time.sleep(0.005)
c.shutdown(socket.SHUT_WR)
c.close()
PY
    th_wait_file port || { fail "peer"; return; }
    TC_PEER_PORT=$(cat port)
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 1 "$TH_RC"
    assertEquals "the answer on stdout" "$(th_sum "$DATA")" "$(th_sum out)"
    assertTrue "the message: $(cat err)" \
        "grep -Eq '^sockcat: write to 127\.0\.0\.1 $TC_PEER_PORT: $EN_NOT_SENT' err"
    assertEquals "one line" 1 "$(wc -l <err)"
}

testStdinDeliveredWholeIsSuccess() {
    # The same server reading everything first: exit 0, no message.
    tc_peer_listen --send "$DATA" --send-after eof --report report ||
        { fail "peer"; return; }
    tc_connect "$BIG" out err 127.0.0.1 "$TC_PEER_PORT"
    th_wait_pid "$TC_PID"
    assertEquals "exit status" 0 "$TH_RC"
    assertEquals "the peer got stdin" "$(tc_expect "$BIG")" "$(tc_report report)"
    assertEquals "the answer on stdout" "$(th_sum "$DATA")" "$(th_sum out)"
    assertEquals "no message" "" "$(cat err)"
}

#--------------------------------------------------------------------------
# --slow-client disconnect: a reset, counted.

testSlowClientDisconnectIsAResetAndCounted() {
    local spid lpid cpid n
    mkfifo in.fifo out.fifo
    tc_feed in.fifo wait:gate.in file:"$BIG" file:"$BIG" file:"$BIG"
    tc_listen in.fifo /dev/null serr -k -v --slow-client disconnect --stats json 127.0.0.1 0 ||
        { fail "listener"; return; }
    lpid=$TC_PID
    spid=$(tc_child "$lpid")
    # The client: sockcat connect, whose stdout nobody reads for now.
    tc_drain out.fifo out gate.out
    tc_spawn /dev/null out.fifo cerr "$SOCKCAT" connect 127.0.0.1 "$TC_PORT"
    cpid=$TC_PID
    en_wait_grep serr 'connection from' || { fail "no client"; return; }
    touch gate.in
    en_wait_grep serr 'disconnected slow client' || { fail "never disconnected: $(cat serr)"; return; }
    touch gate.out
    th_wait_pid "$cpid"
    assertEquals "the client can tell: exit status" 1 "$TH_RC"
    assertEquals "the client's message" \
        "sockcat: read from 127.0.0.1 $TC_PORT: Connection reset by peer" "$(cat cerr)"
    tc_hold out.eof 10
    n=$(stat -c %s out)
    assertTrue "the client got part of the broadcast ($n B)" "[ $n -lt $((3 * 10000000)) ]"
    assertEquals "and what it got is whole" "$(en_prefix_sum <(cat "$BIG" "$BIG" "$BIG") "$n")" \
        "$(th_sum out)"
    kill -USR1 "$spid"
    en_wait_grep serr 'received in .*, 1 slow client disconnected$' ||
        fail "SIGUSR1 line: $(tail -n1 serr)"
    kill -TERM "$spid"
    th_wait_pid "$lpid"
    assertEquals "listener exit status" 143 "$TH_RC"
    assertEquals "--stats json: disconnected" 1 "$(en_json_field serr disconnected)"
    assertEquals "--stats json: connections" 1 "$(en_json_field serr connections)"
}

#--------------------------------------------------------------------------
# --slow-client drop: stuck clients pin bounded memory in total.

testDropBoundsMemoryOfClientsThatNeverRead() {
    local spid n=$STUCK_CLIENTS peak hard got
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt $((n + 100)) ]; then
        echo "skipped: $n clients need more descriptors than $hard"
        startSkipping
        return 0
    fi
    # Sanitizers cost memory of their own: a smaller crowd, no RSS figure.
    th_sanitized && n=100
    tc_listen /dev/zero /dev/null serr -k --slow-client drop --stats json 127.0.0.1 0 ||
        { fail "listener"; return; }
    spid=$(tc_child "$TC_PID")
    # Clients that never read. The first 200 come one every 20 ms: stdin is
    # endless and fast, so each stops at a different place in the broadcast
    # (each pinned a window of its own, 1 MiB, before); the rest at once.
    timeout -k 5 "$TH_TIMEOUT" python3 - "$TC_PORT" "$n" <<'PY' >crowd 2>crowd.err &
import os, resource, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    socks.append(s)
    if i < 200:
        time.sleep(0.02)
# One more client that reads: it is still served.
r = socket.create_connection(("127.0.0.1", port))
got, end = 0, time.monotonic() + 2
while time.monotonic() < end and got < 4 * 1024 * 1024:
    got += len(r.recv(65536))
print(got, flush=True)
while not os.path.exists("gate.crowd") and not os.path.exists("gate.all"):
    time.sleep(0.05)
PY
    local crowd=$!
    tc_wait_size crowd 1 || { fail "the clients: $(cat crowd.err)"; return; }
    got=$(cat crowd)
    peak=$(th_peak_rss_kib "$spid")
    echo "peak RSS of sockcat with $n clients that never read: $peak KiB"
    assertTrue "a reading client is still served ($got B)" "[ $got -gt 0 ]"
    if ! th_sanitized; then
        assertTrue "peak RSS with $n clients that never read: $peak KiB" \
            "[ ${peak:-999999999} -lt $STUCK_RSS_LIMIT_KIB ]"
    fi
    touch gate.crowd
    wait "$crowd"
    kill -TERM "$spid"
    th_wait_pid "$TC_PID"
    assertEquals "listener exit status" 143 "$TH_RC"
    assertEquals "--stats json: connections" $((n + 1)) "$(en_json_field serr connections)"
}

#--------------------------------------------------------------------------
# The "sent" figure: a chunk cut short by a close counts for what went out.

testSentCountsTheChunkACloseCutShort() {
    # A client that does not read holds sockcat's queue with a chunk half
    # written; SIGTERM closes the connection (the kernel still delivers what
    # it took, then the FIN). What the client then reads is exactly "sent".
    local spid sent bytes
    mkfifo in.fifo
    tc_feed in.fifo file:"$BIG" wait:gate.in
    tc_listen in.fifo /dev/null serr -k -v --stats json 127.0.0.1 0 ||
        { fail "listener"; return; }
    spid=$(tc_child "$TC_PID")
    tc_peer_connect "$TC_PORT" --read-when gate.read --report report
    en_wait_grep serr 'connection from' || { fail "no client"; return; }
    en_wait_send_q_stalled "$TC_PORT" || { fail "the queue never stalled"; return; }
    kill -TERM "$spid"
    th_wait_pid "$TC_PID"
    assertEquals "listener exit status" 143 "$TH_RC"
    touch gate.read
    bytes=$(tc_report report | cut -d' ' -f1)
    sent=$(en_json_field serr sent)
    assertEquals "sent = what the client read" "$bytes" "$sent"
    assertEquals "the client's end" eof "$(tc_report report | cut -d' ' -f3)"
    assertEquals "what it read is the start of stdin" \
        "$(en_prefix_sum "$BIG" "${bytes:-0}")" "$(tc_report report | cut -d' ' -f2)"
}

# en_wait_send_q_stalled PORT: waits (bounded) until the send queue of the
# connection sockcat accepted on PORT is non-empty and stays the same for
# a few looks in a row (the client's window is full).
en_wait_send_q_stalled() {
    local i q last= same=0
    for i in $(seq 1 400); do
        q=$(ss -Htn state connected "sport = :$1" | awk '{print $3; exit}')
        if [ -n "$q" ] && [ "$q" -gt 0 ] && [ "$q" = "$last" ]; then
            same=$((same + 1))
            [ $same -ge 4 ] && return 0
        else
            same=0
        fi
        last=$q
        sleep 0.05
    done
    return 1
}

. "$th_shunit2"
