#!/bin/bash
# stdin and stdout shared with others: a FIFO opened read-write keeps its
# access mode, a FIFO's last writer leaving as sockcat starts is still seen,
# a shared socket never turns O_NONBLOCK (not during the run, not after any
# signal), and kinds sockcat could not stop on (a datagram socket on stdout,
# a directory on stdin) are refused at start.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

oneTimeSetUp() {
    SMALL="${SHUNIT_TMPDIR}/small"
    DATA="${SHUNIT_TMPDIR}/data"
    tc_data "$SMALL" 1000
    tc_data "$DATA" $((4 * 1024 * 1024))
}

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# sc ARGS...: sockcat bounded by timeout.
sc() { timeout "$TH_TIMEOUT" "$SOCKCAT" "$@"; }

# fifo_bytes FIFO: how many bytes wait in FIFO (a reader opened and closed
# at once, without reading).
fifo_bytes() {
    python3 -c '
import fcntl, os, struct, sys, termios
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
print(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
os.close(fd)
' "$1"
}

# -- FIFOs opened read-write --------------------------------------------------

testStdinReadWriteFifoWaitsForWriters() {
    mkfifo in.fifo
    tc_peer_listen --save got || { fail "peer"; return; }
    # The FIFO is opened by sockcat's own shell, so timeout does not hold it.
    timeout "$TH_TIMEOUT" bash -c 'exec "$0" connect 127.0.0.1 "$1" 0<>in.fifo' \
        "$SOCKCAT" "$TC_PEER_PORT" >out 2>err &
    local pid=$!
    # sockcat holds the FIFO open for writing too: no EOF, and a writer
    # that comes later finds a reader.
    timeout 5 sh -c 'printf "later\n" >in.fifo'
    assertEquals "a later writer got through" 0 $?
    tc_wait_size got 6
    assertEquals "the peer got what the later writer wrote" "later" "$(cat got)"
    assertTrue "sockcat still reads stdin" "tc_running $pid"
    kill -TERM "$pid"
    wait "$pid"
    assertEquals "exit status after SIGTERM" 143 $?
}

testStdoutReadWriteFifoKeepsData() {
    mkfifo out.fifo
    tc_peer_listen --send "$SMALL" --then-when gate.peer ||
        { fail "peer"; return; }
    timeout "$TH_TIMEOUT" bash -c 'exec "$0" connect 127.0.0.1 "$1" 1<>out.fifo' \
        "$SOCKCAT" "$TC_PEER_PORT" </dev/null 2>err &
    local pid=$!
    # No reader yet: the bytes wait in the FIFO, which sockcat keeps open.
    local i n=0
    for i in $(seq 1 200); do
        n=$(fifo_bytes out.fifo)
        [ "$n" -ge 1000 ] && break
        tc_running "$pid" || break
        sleep 0.025
    done
    assertEquals "bytes waiting in the FIFO" 1000 "$n"
    # Open the reader's end here, so it is there before sockcat ends.
    exec 5<out.fifo
    timeout "$TH_TIMEOUT" cat <&5 >out &
    local reader=$!
    exec 5<&-
    touch gate.peer
    wait "$pid"
    assertEquals "exit status" 0 $?
    wait "$reader"
    assertEquals "the reader got it all" "$(th_sum "$SMALL")" "$(th_sum out)"
    assertEquals "stderr" "" "$(cat err)"
}

# -- a FIFO's last writer leaving as sockcat starts ----------------------------

# fifo_writer FIFO TRIGGER LOG: opens FIFO for writing, writes "hello", and
# closes it once LOG contains TRIGGER (or after 10 s).
fifo_writer() {
    python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"hello\n")
for _ in range(1000):
    try:
        if sys.argv[2] in open(sys.argv[3]).read():
            break
    except OSError:
        pass
    time.sleep(0.01)
os.close(fd)
' "$@"
}

# strace_works: strace can trace a child here (not in every container).
strace_works() {
    command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null
}

# leave_at TRIGGER INJECT: the FIFO's only writer closes when sockcat's
# trace shows TRIGGER, while strace delays poll() as INJECT says; sockcat
# must see the EOF and end.
leave_at() {
    local trigger=$1 inject=$2
    rm -f in.fifo trace rep
    mkfifo in.fifo
    tc_peer_listen --report rep || { fail "peer"; return; }
    fifo_writer in.fifo "$trigger" trace &
    (
        exec <in.fifo
        # LeakSanitizer cannot work under ptrace: leaks are checked elsewhere.
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
        exec timeout 10 strace -o trace -e trace=poll,openat \
            -e inject=poll:"$inject" \
            "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" >out 2>err
    )
    assertEquals "$trigger: exit status (124: EOF never seen)" 0 $?
    assertEquals "$trigger: the peer got stdin, then EOF" \
        "6 $(printf 'hello\n' | sha256sum | cut -d' ' -f1) eof" "$(tc_report rep)"
}

testStdinFifoLastWriterLeavesAsSockcatStarts() {
    if ! strace_works; then
        startSkipping
        echo "strace cannot trace here: skipped" >&2
        return
    fi
    # Between sockcat's poll() of the FIFO and what follows.
    leave_at 'poll(' delay_exit=500000
    # Between its private open of the FIFO and the poll().
    leave_at '/proc/self/fd/0' delay_enter=500000
}

testStdinFifoWriterLeavingEarlyLoop() {
    # Without strace: the writer closes right as sockcat starts, many times.
    local i rc bad=0
    for i in $(seq 1 10); do
        rm -f in.fifo rep
        mkfifo in.fifo
        tc_peer_listen --report rep || { fail "peer"; return; }
        printf 'x' >in.fifo &
        (exec <in.fifo; exec timeout 5 "$SOCKCAT" connect 127.0.0.1 "$TC_PEER_PORT" >out 2>err)
        rc=$?
        [ "$rc" = 0 ] || { bad=$((bad + 1)); echo "run $i: exit $rc" >&2; }
        wait
    done
    assertEquals "runs that did not end with status 0" 0 "$bad"
}

# -- shared sockets never turn O_NONBLOCK ---------------------------------------

# socket_flags_run SIGNAL: sockcat with stdin and stdout on sockets shared
# with this python process (sharing the descriptions, as a sibling would),
# connected to a peer; prints the flags seen during the run and after
# SIGNAL ended it, and sockcat's status.
socket_flags_run() {
    python3 - "$SOCKCAT" "$1" <<'EOF2'
import fcntl, os, signal, socket, subprocess, sys, time
def nb(s):
    return "nonblock" if fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK else "block"
sig = getattr(signal, sys.argv[2])
srv = socket.create_server(("127.0.0.1", 0))
ia, ib = socket.socketpair()
oa, ob = socket.socketpair()
p = subprocess.Popen([sys.argv[1], "connect", "127.0.0.1", str(srv.getsockname()[1])],
                     stdin=ia.fileno(), stdout=oa.fileno())
c, _ = srv.accept()
c.sendall(b"hello\n")
ob.settimeout(10)
got = ob.recv(100)
during = nb(ia) + "/" + nb(oa)
p.send_signal(sig)
try:
    rc = p.wait(10)
except subprocess.TimeoutExpired:
    p.kill(); rc = "hung"
print(got == b"hello\n", during, nb(ia) + "/" + nb(oa), rc)
EOF2
}

testSharedSocketsStayBlockingWhateverEndsSockcat() {
    local sig got
    for sig in SIGTERM SIGINT SIGHUP SIGQUIT SIGUSR2 SIGALRM; do
        got=$(socket_flags_run "$sig" 2>/dev/null)
        # Status: 128+N when sockcat handles the signal, -N when it dies of it.
        assertContains "$sig: data, flags during, flags after" "$got" \
            "True block/block block/block"
    done
}

testSharedSocketStdoutSlowReaderGetsAll() {
    # The peer sends 4 MiB at once; stdout's reader takes it slowly, so
    # sends find the socket full many times. All arrives, then EOF.
    tc_peer_listen --send "$DATA" || { fail "peer"; return; }
    local got
    got=$(python3 - "$SOCKCAT" "$TC_PEER_PORT" <<'EOF2'
import hashlib, socket, subprocess, sys, time
a, b = socket.socketpair()
a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
p = subprocess.Popen([sys.argv[1], "connect", "127.0.0.1", sys.argv[2]],
                     stdin=subprocess.DEVNULL, stdout=a.fileno())
a.close()
h, n = hashlib.sha256(), 0
b.settimeout(20)
while True:
    d = b.recv(7000)
    if not d:
        break
    h.update(d); n += len(d)
    if n < 256 * 1024:
        time.sleep(0.002)
print(n, h.hexdigest(), p.wait(20))
EOF2
)
    assertEquals "bytes, sha256, exit status" \
        "$(stat -c %s "$DATA") $(th_sum "$DATA") 0" "$got"
}

testUnreopenablePipeRestoredOnSignal() {
    if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
        startSkipping
        echo "needs root and unshare -m: skipped" >&2
        return
    fi
    if th_sanitized; then
        # The sanitizers read their options and, at exit, the leak check's
        # threads from /proc, which this test takes away: they end the run
        # with their own error (status 1) however sockcat ends.
        startSkipping
        echo "a sanitizer build needs /proc: skipped" >&2
        return
    fi
    tc_peer_listen --no-read || { fail "peer"; return; }
    # Without /proc the pipe cannot be reopened: sockcat shares the
    # description and must put its flags back when SIGHUP ends it.
    {
        tc_hold gate.in
    } | unshare -m bash -c '
        umount -l /proc || exit 3
        "$0" -v connect 127.0.0.1 "$1" <&0 >/dev/null 2>err &
        pid=$!
        for i in $(seq 1 400); do
            grep -q connected err 2>/dev/null && break
            sleep 0.025
        done
        kill -HUP $pid
        { wait $pid; } 2>/dev/null
        echo $? >rc
        python3 -c "import fcntl, os; print(\"nonblock\" if fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK else \"block\")" >flag
        touch gate.in
    ' "$SOCKCAT" "$TC_PEER_PORT"
    assertEquals "status (killed by SIGHUP)" 129 "$(cat rc)"
    assertEquals "the shared stdin pipe after SIGHUP" block "$(cat flag)"
}

# -- refused at start ----------------------------------------------------------

testStdoutDatagramSocketRefused() {
    local got
    got=$(python3 - "$SOCKCAT" <<'EOF'
import socket, subprocess, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
srv = socket.create_server(("127.0.0.1", 0))
p = subprocess.run([sys.argv[1], "connect", "127.0.0.1", str(srv.getsockname()[1])],
                   stdin=subprocess.DEVNULL, stdout=a.fileno(),
                   stderr=subprocess.PIPE, timeout=10)
print(p.returncode, p.stderr.decode().strip())
EOF
)
    assertEquals "status and message" \
        "1 sockcat: open stdout: Operation not supported" "$got"
}

testStdinDirectoryRefusedAtStart() {
    local port
    port=$(th_free_port)
    timeout 5 "$SOCKCAT" listen 127.0.0.1 "$port" </tmp >out 2>err
    assertEquals "exit status" 1 $?
    assertEquals "message" "sockcat: open stdin: Is a directory" "$(cat err)"
}

. "$th_shunit2"
