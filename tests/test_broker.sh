#!/bin/bash
# listen --broker and --chat: every client hears every other client (never
# itself) and stdout hears them all, stdin reaches every client, each
# sender's order holds; -m; --slow-client block, drop and disconnect with a
# client that stops reading; -U, -u and a dual-stack listener; a flooding
# client does not starve the others; --chat's prefixes, escaping, joins and
# leaves and long lines; the usage errors. Clients are python3 sockets,
# socat, ncat and sockcat itself.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

TH_TIMEOUT=20
BP="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/broker_peer.py"
BR_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

setUp() {
    B=$(mktemp -d "${SHUNIT_TMPDIR}/b.XXXXXX")
    PIDS=()
    mkfifo "$B/in"
    exec 5<>"$B/in"   # sockcat's stdin stays open; a test writes "go" into it
}

tearDown() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do th_wait_pid "$p" 5 >/dev/null 2>&1; done
    exec 5>&- 6>&- 7>&-
    rm -rf "$B"
}

# br_listen [options...] ADDR-OR-PATH: `sockcat listen --ready-fd 3 -v`
# with stdin from the fifo; sets BR_PID and BR_READY (the port or path).
br_listen() {
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen -v --ready-fd 3 "$@" \
        <"$B/in" >"$B/out" 2>"$B/err" 3>"$B/ready" &
    BR_PID=$!
    PIDS+=("$BR_PID")
    th_wait_file "$B/ready" || { cat "$B/err" >&2; return 1; }
    BR_READY=$(head -n1 "$B/ready")
}

# br_mesh ARGS...: broker_peer.py mesh against sockcat; sets BR_MESH (its line).
br_mesh() {
    BR_MESH=$(timeout $((TH_TIMEOUT + 5)) python3 "$BP" --timeout "$TH_TIMEOUT" mesh \
        --err "$B/err" --go "$B/in" "$@" 2>&1)
}

# br_stdout_in_order CLIENTS LINES: stdout has every "cI lJ" line, each
# sender's in order.
br_stdout_in_order() {
    awk -v n="$1" -v l="$2" '
        /^c[0-9]+ l[0-9]+$/ { s = substr($1, 2); q = substr($2, 2)
                              if (q != next_seq[s] + 0) bad++; next_seq[s] = q + 1; count++ }
        END { exit !(count == n * l && bad == 0) }' "$B/out"
}

# br_wait_count PATTERN N FILE: waits (bounded) until FILE has N lines matching.
br_wait_count() {
    local i
    for i in $(seq 1 400); do
        [ "$(grep -c -- "$1" "$3" 2>/dev/null)" -ge "$2" ] && return 0
        sleep 0.025
    done
    return 1
}

# br_wait_grep PATTERN FILE: waits (bounded) until FILE has a line matching.
br_wait_grep() {
    local i
    for i in $(seq 1 400); do
        grep -q -- "$1" "$2" 2>/dev/null && return 0
        sleep 0.025
    done
    return 1
}

testMeshOverTcp() {
    br_listen --broker 127.0.0.1 0 || { fail "no listener"; return; }
    br_mesh --target "tcp:127.0.0.1:$BR_READY" --clients 4 --lines 50
    assertEquals "every client has every other's lines, in order, none of its own" ok "$BR_MESH"
    br_stdout_in_order 4 50
    assertTrue "stdout has all 200 lines in each sender's order" $?
}

testMeshOverUnix() {
    br_listen --broker -U "$B/s.sock" || { fail "no listener"; return; }
    br_mesh --target "unix:$B/s.sock" --clients 3 --lines 30
    assertEquals "-U: every client has every other's lines" ok "$BR_MESH"
    br_stdout_in_order 3 30
    assertTrue "-U: stdout has every line" $?
}

testMeshOverUdp() {
    br_listen --broker -u 127.0.0.1 0 || { fail "no listener"; return; }
    br_mesh --target "udp:127.0.0.1:$BR_READY" --clients 3 --lines 20 --join "datagram from"
    assertEquals "-u: every client has every other's datagrams" ok "$BR_MESH"
    br_stdout_in_order 3 20
    assertTrue "-u: stdout has every line" $?
}

testMeshDualStack() {
    if ! python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
        startSkipping
        echo "no IPv6 loopback: skipped" >&2
    fi
    br_listen --broker 0 || { fail "no listener"; return; }
    br_mesh --target "tcp:127.0.0.1:$BR_READY" --target "tcp:[::1]:$BR_READY" --clients 4 --lines 20
    assertEquals "IPv4 and IPv6 clients hear each other" ok "$BR_MESH"
    grep -q 'connection from ::1 ' "$B/err" && grep -q 'connection from 127.0.0.1 ' "$B/err"
    assertTrue "both families joined the one listener" $?
}

# Clients that are other programs: socat and sockcat itself send a line each
# and hear the other's; ncat only listens.
testRealClients() {
    local tool
    for tool in socat ncat; do
        command -v $tool >/dev/null || { startSkipping; echo "no $tool: skipped" >&2; return; }
    done
    br_listen --broker 127.0.0.1 0 || { fail "no listener"; return; }
    timeout 10 ncat --recv-only 127.0.0.1 "$BR_READY" >"$B/ncat.out" 2>/dev/null &
    PIDS+=("$!")
    br_wait_grep 'connection from' "$B/err"
    mkfifo "$B/socat.in" "$B/self.in"
    exec 6<>"$B/socat.in" 7<>"$B/self.in"
    timeout 10 socat - "TCP:127.0.0.1:$BR_READY" <"$B/socat.in" >"$B/socat.out" &
    PIDS+=("$!")
    timeout 10 "$SOCKCAT" connect 127.0.0.1 "$BR_READY" <"$B/self.in" >"$B/self.out" &
    PIDS+=("$!")
    br_wait_count 'connection from' 3 "$B/err" || { fail "clients did not join: $(cat "$B/err")"; return; }
    echo "from socat" >&6
    echo "from sockcat" >&7
    br_wait_grep 'from sockcat' "$B/socat.out"
    rc=$?; assertTrue "socat hears sockcat: $(cat "$B/socat.out")" "$rc"
    br_wait_grep 'from socat' "$B/self.out"
    rc=$?; assertTrue "sockcat hears socat: $(cat "$B/self.out")" "$rc"
    br_wait_grep 'from sockcat' "$B/ncat.out" && br_wait_grep 'from socat' "$B/ncat.out"
    assertTrue "ncat hears both" $?
    assertFalse "socat never hears itself" "grep -q 'from socat' '$B/socat.out'"
    assertFalse "sockcat never hears itself" "grep -q 'from sockcat' '$B/self.out'"
    echo "to all" >&5
    br_wait_grep 'to all' "$B/ncat.out" && br_wait_grep 'to all' "$B/socat.out"
    rc=$?; assertTrue "stdin reaches every client: ncat [$(cat "$B/ncat.out")] socat [$(cat "$B/socat.out")] err [$(cat "$B/err")]" "$rc"
}

testMaxConns() {
    br_listen --broker -m 2 127.0.0.1 0 || { fail "no listener"; return; }
    python3 - "$BR_READY" "$B/err" <<'EOF'
import socket, sys, time
port, err = int(sys.argv[1]), sys.argv[2]
a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
deadline = time.time() + 10
while open(err).read().count("connection from") < 2 and time.time() < deadline:
    time.sleep(0.02)
c = socket.create_connection(("127.0.0.1", port))
c.settimeout(5)
try:
    third = c.recv(100)     # refused: closed at once
except ConnectionResetError:
    third = b""
a.sendall(b"one\n")
b.settimeout(5)
got = b.recv(100)
sys.exit(0 if third == b"" and got == b"one\n" else 1)
EOF
    assertTrue "-m 2: a third client is refused, the two talk" $?
    grep -q 'refused .*over --max-conns 2' "$B/err"
    rc=$?; assertTrue "the refusal is reported: $(cat "$B/err")" "$rc"
}

# A client that floods: a slow line from another still gets through at once.
testFloodDoesNotStarve() {
    br_listen --broker 127.0.0.1 0 || { fail "no listener"; return; }
    timeout 15 python3 - "$BR_READY" "$B/err" <<'EOF'
import select, socket, sys, threading, time
port, err = int(sys.argv[1]), sys.argv[2]
flood = socket.create_connection(("127.0.0.1", port))
talk = socket.create_connection(("127.0.0.1", port))
listen = socket.create_connection(("127.0.0.1", port))
deadline = time.time() + 10
while open(err).read().count("connection from") < 3 and time.time() < deadline:
    time.sleep(0.02)
stop = False
def pour():
    block = b"x" * 65535 + b"\n"
    while not stop:
        flood.sendall(block)
def drain(s):
    while not stop:
        if select.select([s], [], [], 0.2)[0]:
            s.recv(1 << 20)
threading.Thread(target=pour, daemon=True).start()
threading.Thread(target=drain, args=(flood,), daemon=True).start()
threading.Thread(target=drain, args=(talk,), daemon=True).start()
time.sleep(0.5)
talk.sendall(b"\nMARK\n")
start, seen, buf = time.time(), False, b""
listen.settimeout(0.5)
while time.time() - start < 8 and not seen:
    try:
        buf += listen.recv(1 << 20)
    except OSError:
        pass
    seen = b"\nMARK\n" in buf
    buf = buf[-64:]
stop = True
print("mark after %.2f s" % (time.time() - start), file=sys.stderr)
sys.exit(0 if seen else 1)
EOF
    assertTrue "a line from a quiet client gets through a flood" $?
}

# br_slow_case POLICY: a client that never reads while another sends 24 MiB
# to the broker; stdout must get all of it, and sockcat's memory stays near
# its marks. Sets BR_RSS (KiB) and BR_SENT_OK.
br_slow_case() {
    br_listen --broker --slow-client "$1" --stats json 127.0.0.1 0 || return 1
    python3 "$BP" --timeout 30 stuck --target "tcp:127.0.0.1:$BR_READY" --ready "$B/stuck" &
    PIDS+=("$!")
    th_wait_file "$B/stuck" || return 1
    br_wait_count 'connection from' 1 "$B/err" || return 1
    head -c $((24 * 1024 * 1024)) /dev/urandom >"$B/data"
    timeout 15 "$SOCKCAT" connect 127.0.0.1 "$BR_READY" <"$B/data" >/dev/null 2>"$B/sender.err" &
    BR_SENDER=$!
    PIDS+=("$BR_SENDER")
}

br_wait_stdout_bytes() {
    local i want
    want=$(stat -c %s "$B/data")
    for i in $(seq 1 600); do
        [ "$(stat -c %s "$B/out")" -ge "$want" ] && return 0
        sleep 0.025
    done
    return 1
}

# br_peak_rss_kib: sockcat's VmHWM (BR_PID is the timeout that runs it).
br_peak_rss_kib() { th_peak_rss_kib "$(pgrep -P "$BR_PID" | head -n1)"; }

br_json_field() { grep -o "\"$1\":[0-9]*" "$B/err" | tail -n1 | cut -d: -f2; }

testSlowClientDrop() {
    br_slow_case drop || { fail "setup"; return; }
    br_wait_stdout_bytes
    assertTrue "drop: stdout got every byte while one client was stuck" $?
    assertEquals "stdout is the sender's bytes" "$(th_sum "$B/data")" "$(th_sum "$B/out")"
    local rss
    rss=$(br_peak_rss_kib)
    kill "$BR_PID"; th_wait_pid "$BR_PID" 10
    local dropped
    dropped=$(br_json_field dropped)
    assertTrue "the stuck client's loss is counted: $(tail -n1 "$B/err")" "[ '${dropped:-0}' -gt 0 ]"
    if ! th_sanitized; then
        assertTrue "peak RSS ${rss} KiB stays near the marks" "[ '${rss:-0}' -lt 60000 ]"
    fi
}

testSlowClientDisconnect() {
    br_slow_case disconnect || { fail "setup"; return; }
    br_wait_stdout_bytes
    assertTrue "disconnect: stdout got every byte" $?
    br_wait_grep 'disconnected slow client' "$B/err"
    rc=$?; assertTrue "the stuck client is disconnected: $(cat "$B/err")" "$rc"
    assertEquals "stdout is the sender's bytes" "$(th_sum "$B/data")" "$(th_sum "$B/out")"
}

testSlowClientBlock() {
    br_slow_case block || { fail "setup"; return; }
    # Everyone waits for the stuck client: the sender cannot finish.
    sleep 1
    assertTrue "block: the sender waits" "kill -0 $BR_SENDER"
    local out rss
    out=$(stat -c %s "$B/out")
    assertTrue "block: stdout waits with the others (${out} B)" "[ $out -lt $((24 * 1024 * 1024)) ]"
    rss=$(br_peak_rss_kib)
    if ! th_sanitized; then
        assertTrue "peak RSS ${rss} KiB stays near the marks" "[ '${rss:-0}' -lt 30000 ]"
    fi
}

# Many clients all sending at once: each hears every other's lines in order,
# and sockcat holds what is queued, not a write for every client of every
# line it has passed on (about 20 MiB at 300 clients when it did).
testManyBusyClientsMemory() {
    local cc n=300 rss
    cc=$(command -v cc || command -v gcc || command -v clang)
    if [ -z "$cc" ]; then
        startSkipping
        echo "testManyBusyClientsMemory: no C compiler for bench/brokerclient.c" >&2
        return
    fi
    th_sanitized && n=60
    "$cc" -O2 -o "$B/client" "$BR_REPO/bench/brokerclient.c" || { fail "brokerclient"; return; }
    br_listen --broker 127.0.0.1 0 || { fail "no listener"; return; }
    timeout 60 "$B/client" -c "$n" -l 20 -w 5 -t 50 127.0.0.1 "$BR_READY" >"$B/client.out" 2>&1 &
    local client=$!
    PIDS+=("$client")
    br_wait_count 'connection from' "$n" "$B/err"
    assertTrue "every client joined" $?
    echo go >&5
    wait "$client"
    rc=$?
    assertEquals "every client heard every other, in order: $(tail -n1 "$B/client.out")" 0 "$rc"
    rss=$(br_peak_rss_kib)
    if ! th_sanitized; then
        assertTrue "peak RSS ${rss} KiB with $n busy clients" "[ '${rss:-0}' -lt 10000 ]"
    fi
}

# ---- --chat ----

testChat() {
    br_listen --chat 127.0.0.1 0 || { fail "no listener"; return; }
    timeout 15 python3 - "$BR_READY" "$B/err" <<'EOF' >"$B/chat.log" 2>&1
import socket, sys, time
port, err = int(sys.argv[1]), sys.argv[2]
def wait_for(s, want, limit=5):
    s.settimeout(0.2)
    buf, end = b"", time.time() + limit
    while want not in buf and time.time() < end:
        try:
            d = s.recv(65536)
            if not d:
                break
            buf += d
        except socket.timeout:
            pass
    return buf
a = socket.create_connection(("127.0.0.1", port))
wait_deadline = time.time() + 5
while "user 1" not in open(err).read() and time.time() < wait_deadline:
    time.sleep(0.02)
b = socket.create_connection(("127.0.0.1", port))
ok = True
def check(what, cond):
    global ok
    if not cond:
        print("FAIL:", what)
        ok = False
check("a hears b join", b"* user 2 joined\n" in wait_for(a, b"joined\n"))
a.sendall(b"hi \x1b[2J\x1b]0;x\x07 caf\xc3\xa9\tok \xc2\x9b\xff\\\r\n")
got = wait_for(b, b"\n")
check("escaped line %r" % got,
      got == b"<user 1> hi \\x1b[2J\\x1b]0;x\\x07 caf\xc3\xa9\tok \\xc2\\x9b\\xff\\\\\n")
check("no ESC reaches b", b"\x1b" not in got)
a.sendall(b"y" * 10000 + b"\n")
got = wait_for(b, b"y\n")
lines = got.split(b"\n")[:-1]
check("long line split in 3: %r" % [len(l) for l in lines],
      [len(l) for l in lines] == [9 + 4096, 9 + 4096, 9 + 1808])
a.sendall(b"z" * 4096 + b"\r\nafter\n")  # CR LF right after the limit: still one line
got = wait_for(b, b"after\n")
lines = got.split(b"\n")[:-1]
check("a line at the limit, CR LF ended: %r" % [len(l) for l in lines],
      [len(l) for l in lines] == [9 + 4096, 9 + 5])
b.sendall(b"bye")    # an unfinished last line, then b leaves
b.close()
got = wait_for(a, b"left\n")
check("a hears b's last words and its leaving: %r" % got,
      got == b"<user 2> bye\n* user 2 left\n")
check("a never hears itself", b"<user 1>" not in got)
sys.exit(0 if ok else 1)
EOF
    # The status first: $(cat ...) in the message would set $? to 0.
    local rc=$?
    assertTrue "chat: $(cat "$B/chat.log")" "$rc"
    br_wait_grep '^\* user 2 left$' "$B/out"
    assertTrue "stdout has the leave" $?
    grep -q '^<user 1> hi \\x1b\[2J' "$B/out"
    assertTrue "stdout has the escaped line" $?
    grep -q '^\* user 2 joined$' "$B/out"
    assertTrue "stdout has the join" $?
}

testChatEscapeAllBytes() {
    br_listen --chat 127.0.0.1 0 || { fail "no listener"; return; }
    timeout 15 python3 - "$BR_READY" "$B/err" <<'EOF'
import socket, sys, time
port, err = int(sys.argv[1]), sys.argv[2]
a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
deadline = time.time() + 5
while open(err).read().count("connection from") < 2 and time.time() < deadline:
    time.sleep(0.02)
every = bytes(b for b in range(256) if b != 10)
a.sendall(every + b"\n")
b.settimeout(5)
buf = b""
while not buf.endswith(b"\\xff\n"):
    d = b.recv(65536)
    if not d:
        break
    buf += d
line = buf.split(b"\n")[-2]
bad = [c for c in line if c < 0x20 and c != 9 or c == 0x7f]
sys.exit(0 if not bad and b"\x1b" not in line and line.startswith(b"<user 1> ") else 1)
EOF
    assertTrue "no control byte of all 256 reaches another client" $?
}

# ---- usage ----

br_usage() {
    local want=$1
    shift
    timeout 5 "$SOCKCAT" "$@" </dev/null >/dev/null 2>"$B/usage.err"
    assertEquals "$* exits 2" 2 $?
    grep -q -- "$want" "$B/usage.err"
    rc=$?; assertTrue "$*: '$want' in: $(cat "$B/usage.err")" "$rc"
}

testConflicts() {
    br_usage "conflicting options: --broker and --send-only" listen --broker --send-only 0
    br_usage "conflicting options: --broker and --recv-only" listen --broker --recv-only 0
    br_usage "conflicting options: --chat and --send-only" listen --chat --send-only 0
    br_usage "conflicting options: --chat and --recv-only" listen --chat --recv-only 0
    br_usage "option --broker: not valid with connect" connect --broker 127.0.0.1 1
    br_usage "option --chat: not valid with connect" connect --chat 127.0.0.1 1
}

. "$th_shunit2"
