#!/bin/bash
# Load: `sockcat listen -k` with a thousand clients at once (bench/loadclient),
# once with plenty of file descriptors (everything must arrive, whole), once
# with `ulimit -n 256` (clients may be turned away, but sockcat must stay up,
# must not spin, and must deliver what it accepted).
#
# loadclient connects all clients, then each sends 100 bytes (one line naming
# the client) and half-closes; `loadclient -P` prints the same bytes, which is
# what stdout is compared with.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

: "${LOADCLIENT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/sc_loadclient}"

# sockcat's bound in th_listen and th_wait_pid's default.
TH_TIMEOUT=60
# loadclient's own deadline, and the bound around it.
LD_DEADLINE=40
LD_CLIENTS=1000

setUp() {
    LD_DIR=$(mktemp -d "${SHUNIT_TMPDIR}/load.XXXXXX")
    TH_PID=
}

tearDown() {
    if [ -n "${TH_PID:-}" ] && kill -0 "$TH_PID" 2>/dev/null; then
        kill "$TH_PID" 2>/dev/null
        th_wait_pid "$TH_PID" 5 >/dev/null 2>&1
    fi
    TH_PID=
}

# ld_ready: true when the load generator can run here (skips the test if not).
ld_ready() {
    if [ ! -x "$LOADCLIENT" ]; then
        fail "no load generator at '$LOADCLIENT' (build target sc_loadclient or set LOADCLIENT)"
        return 1
    fi
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((LD_CLIENTS + 64)) ]; then
        echo "hard open-file limit $(ulimit -Hn) is too low for $LD_CLIENTS clients" >&2
        startSkipping
        return 1
    fi
    return 0
}

# ld_sockcat_pid: the sockcat that the timeout in TH_PID runs.
ld_sockcat_pid() {
    local _ c
    for _ in $(seq 1 200); do
        c=$(cat /proc/"$TH_PID"/task/*/children 2>/dev/null | awk '{print $1; exit}')
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.01
    done
    return 1
}

# ld_cpu_ticks PID: user + system CPU time of PID, in clock ticks.
ld_cpu_ticks() {
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null
}

# ld_summary_field SUMMARY NAME: one field of loadclient's summary line.
ld_summary_field() {
    tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# ld_assert_no_sanitizer_report ERR
ld_assert_no_sanitizer_report() {
    assertFalse "sanitizer report in sockcat's stderr: $(grep -m1 -i sanitizer "$1")" \
        "grep -qi 'ERROR: .*Sanitizer' '$1'"
}

testThousandClientsAllArriveWhole() {
    local out=$LD_DIR/out err=$LD_DIR/err lc=$LD_DIR/lc lcerr=$LD_DIR/lc.err
    local rc summary size
    ld_ready || return 0
    th_listen "$out" "$err" -k || { fail "listener did not start"; return; }

    timeout $((LD_DEADLINE + 10)) "$LOADCLIENT" -v -t "$LD_DEADLINE" -c "$LD_CLIENTS" -b 100 \
        127.0.0.1 "$TH_PORT" >"$lc" 2>"$lcerr"
    rc=$?
    summary=$(cat "$lc")
    assertEquals "loadclient exit status ($summary; $(head -n 3 "$lcerr"))" 0 "$rc"
    assertEquals "clients ok ($summary)" "$LD_CLIENTS" "$(ld_summary_field "$summary" ok)"
    assertEquals "clients failed ($summary)" 0 "$(ld_summary_field "$summary" failed)"

    # A client counts as served at the server's EOF, which may come before
    # its bytes reach stdout.
    tc_wait_size "$out" $((LD_CLIENTS * 100))
    assertTrue "listener still running after the load" "kill -0 $TH_PID"
    size=$(stat -c %s "$out")
    assertEquals "bytes at stdout" $((LD_CLIENTS * 100)) "$size"

    timeout 20 "$LOADCLIENT" -P -c "$LD_CLIENTS" -b 100 | sort >"$LD_DIR/expected"
    sort "$out" >"$LD_DIR/got"
    assertTrue "each client's 100 bytes whole, intact, exactly once \
($(diff "$LD_DIR/expected" "$LD_DIR/got" | head -n 4 | tr '\n' '|'))" \
        "cmp -s '$LD_DIR/expected' '$LD_DIR/got'"

    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID" 10
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    TH_PID=
    ld_assert_no_sanitizer_report "$err"
}

testThousandClientsWithFewDescriptors() {
    local out=$LD_DIR/out err=$LD_DIR/err lc=$LD_DIR/lc lcerr=$LD_DIR/lc.err
    local ready=$LD_DIR/ready rc summary ok failed spid cpu0 cpu1 cpu2 hz limit
    ld_ready || return 0
    hz=$(getconf CLK_TCK)

    # th_listen, with the listener alone under `ulimit -n 256`
    ( ulimit -n 256 && exec timeout "$TH_TIMEOUT" "$SOCKCAT" listen -k -v --ready-fd 3 127.0.0.1 0 \
        </dev/null >"$out" 2>"$err" 3>"$ready" ) &
    TH_PID=$!
    th_wait_file "$ready" || { fail "listener did not start: $(head -c 300 "$err")"; return; }
    TH_PORT=$(head -n1 "$ready")
    spid=$(ld_sockcat_pid) || { fail "no sockcat process under $TH_PID"; return; }
    assertEquals "sockcat's open-file limit" 256 \
        "$(awk '/^Max open files/ { print $4 }' "/proc/$spid/limits")"
    cpu0=$(ld_cpu_ticks "$spid")

    timeout $((LD_DEADLINE + 10)) "$LOADCLIENT" -v -t "$LD_DEADLINE" -c "$LD_CLIENTS" -b 100 \
        127.0.0.1 "$TH_PORT" >"$lc" 2>"$lcerr"
    rc=$?
    summary=$(cat "$lc")
    # 0: all made it; 1: some were turned away. Not: usage error (2) or the
    # deadline (3), which would mean clients were left hanging.
    assertTrue "loadclient finished before its deadline, status $rc ($summary)" \
        "[ $rc -eq 0 ] || [ $rc -eq 1 ]"
    ok=$(ld_summary_field "$summary" ok)
    failed=$(ld_summary_field "$summary" failed)
    assertEquals "every client accounted for ($summary)" "$LD_CLIENTS" $((ok + failed))
    # Near its limit sockcat stops accepting rather than shedding clients:
    # they wait in the kernel's queue and are all served in the end.
    assertEquals "clients turned away ($summary)" 0 "$failed"
    assertTrue "-v says new clients wait at the limit" \
        "grep -q 'at the descriptor limit' '$err'"
    echo "  with ulimit -n 256: $summary" >&2

    assertTrue "listener still running after the load ($(head -c 300 "$err"))" "kill -0 $spid"
    tc_wait_size "$out" $((ok * 100))

    # Idle now: sockcat must not spin.
    cpu1=$(ld_cpu_ticks "$spid")
    sleep 1
    cpu2=$(ld_cpu_ticks "$spid")
    assertTrue "CPU while idle after the load: $(((cpu2 - cpu1) * 1000 / hz)) ms in 1 s" \
        "[ $((cpu2 - cpu1)) -le $((hz / 4)) ]"
    limit=2
    th_sanitized && limit=8
    assertTrue "CPU over the whole run: $(((cpu2 - cpu0) * 1000 / hz)) ms, limit ${limit} s" \
        "[ $((cpu2 - cpu0)) -lt $((limit * hz)) ]"

    # Every line at stdout is one a client sent, whole, at most once ...
    timeout 20 "$LOADCLIENT" -P -c "$LD_CLIENTS" -b 100 | sort >"$LD_DIR/expected"
    sort "$out" >"$LD_DIR/got"
    assertEquals "lines at stdout that no client sent, or sent twice \
($(comm -23 "$LD_DIR/got" "$LD_DIR/expected" | head -n 2 | tr '\n' '|'))" \
        0 "$(comm -23 "$LD_DIR/got" "$LD_DIR/expected" | wc -l)"
    assertEquals "stdout is whole lines" 0 $(( $(stat -c %s "$out") % 100 ))

    # ... and every client that loadclient counted as ok was delivered.
    sed -n 's/^loadclient: conn \([0-9]*\) failed:.*/conn \1 /p' "$lcerr" | sort -u >"$LD_DIR/failed"
    assertEquals "failure lines match the failed count" "$failed" "$(wc -l <"$LD_DIR/failed")"
    grep -v -F -f "$LD_DIR/failed" "$LD_DIR/expected" >"$LD_DIR/expected_ok"
    assertEquals "clients reported ok whose bytes are missing at stdout \
($(comm -23 "$LD_DIR/expected_ok" "$LD_DIR/got" | head -n 2 | cut -c1-16 | tr '\n' '|'))" \
        0 "$(comm -23 "$LD_DIR/expected_ok" "$LD_DIR/got" | wc -l)"

    kill -TERM "$spid"
    th_wait_pid "$TH_PID" 10
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    TH_PID=
    ld_assert_no_sanitizer_report "$err"
}

testIdleClientsCostLittleMemory() {
    # A thousand clients connected and silent, stdin open and silent: the
    # issue allows 4 KiB of RSS per idle client; reads use a shared pool, so
    # an idle client holds no buffer at all.
    local fifo=$LD_DIR/stdin err=$LD_DIR/err lcerr=$LD_DIR/lc.err spid base rss fds lcpid
    ld_ready || return 0
    if th_sanitized; then
        startSkipping
        return 0
    fi
    mkfifo "$fifo"
    exec 8<>"$fifo"
    TH_STDIN=$fifo th_listen /dev/null "$err" -k || { exec 8>&-; fail "listener did not start"; return; }
    spid=$(ld_sockcat_pid) || { exec 8>&-; fail "no sockcat process under $TH_PID"; return; }
    base=$(awk '/^VmRSS:/ {print $2}' "/proc/$spid/status")
    timeout $((LD_DEADLINE + 10)) "$LOADCLIENT" -t "$LD_DEADLINE" -H "$LD_DEADLINE" \
        -c "$LD_CLIENTS" -b 1 127.0.0.1 "$TH_PORT" >/dev/null 2>"$lcerr" &
    lcpid=$!
    for _ in $(seq 1 400); do
        grep -q holding "$lcerr" && break
        sleep 0.025
    done
    for _ in $(seq 1 400); do
        fds=$(ls "/proc/$spid/fd" | wc -l)
        [ "$fds" -gt "$LD_CLIENTS" ] && break
        sleep 0.025
    done
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$spid/status")
    assertTrue "all $LD_CLIENTS clients held by sockcat ($fds descriptors)" \
        "[ $fds -gt $LD_CLIENTS ]"
    assertTrue "RSS per idle client: $(((rss - base) * 1024 / LD_CLIENTS)) B (base $base KiB, now $rss KiB)" \
        "[ $(((rss - base) * 1024 / LD_CLIENTS)) -le 4096 ]"
    kill "$lcpid" 2>/dev/null
    wait "$lcpid" 2>/dev/null
    exec 8>&-
    kill -TERM "$TH_PID"
    th_wait_pid "$TH_PID" 10
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    TH_PID=
}

. "$th_shunit2"
