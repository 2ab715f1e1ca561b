#!/bin/bash
# Keep-open listen mode, `sockcat listen -k`: many clients at once, each
# client's chunks to stdout whole and in order, stdin broadcast to every
# client, half-close at stdin EOF, --recv-only, --max-conns, --allow/--deny,
# --slow-client, backpressure from a slow stdout, SIGTERM/SIGINT and -v.
#
# Clients are socat, ncat, nc.openbsd and ko_tool.py (python). stdin is
# /dev/null or a FIFO held open by ko_stdin_fifo, so the test decides when
# bytes and EOF arrive. Readiness comes from sockcat's -v lines, never from
# fixed sleeps.

. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_keepopen.sh"

# sockcat's own bound in th_listen, and th_wait_pid's default.
TH_TIMEOUT=60
# Bound of each client and helper wait.
KO_LIMIT=30

# Memory a keep-open sockcat may add on top of its idle peak while tens of
# MiB are held back by a slow peer (KiB).
KO_RSS_GROWTH_KIB=$((20 * 1024))

setUp() { ko_setup; }
tearDown() { ko_cleanup; }

# ko_assert_rss_bounded WHAT BASE_KIB PEAK_KIB
ko_assert_rss_bounded() {
    if th_sanitized; then
        return 0
    fi
    assertTrue "$1: peak RSS known (base '$2', peak '$3')" \
        "[ -n '$2' ] && [ -n '$3' ]"
    assertTrue "$1: peak RSS grew by $(($3 - $2)) KiB, more than \
$KO_RSS_GROWTH_KIB KiB" "[ $(($3 - $2)) -le $KO_RSS_GROWTH_KIB ]"
}

# ko_assert_alive WHAT: sockcat is still running.
ko_assert_alive() {
    assertTrue "$1: listener still running" "kill -0 $TH_PID"
}

#--------------------------------------------------------------------------
# Many clients, coming and going.

testClientsComeAndGoListenerStays() {
    local out=$KO_DIR/out err=$KO_DIR/err i port base_conn base_closed base_lines
    th_listen "$out" "$err" -k -v || { fail "listener did not start"; return; }

    # Sequential clients of every kind; some end with a reset.
    for i in 1 2 3; do
        printf 'socat-%d\n' "$i" |
            timeout 10 socat -u - "TCP:127.0.0.1:$TH_PORT"
        printf 'ncat-%d\n' "$i" |
            timeout 10 ncat --send-only 127.0.0.1 "$TH_PORT"
        printf 'nc-%d\n' "$i" |
            timeout 10 nc.openbsd -N 127.0.0.1 "$TH_PORT" >/dev/null
        ko_client "py$i" 127.0.0.1 "$TH_PORT" --send-text "py-$i\\n" --shut
        ko_wait_client "py$i"
        ko_client "rst$i" 127.0.0.1 "$TH_PORT" --send-text "rst-$i\\n" --rst
        ko_wait_client "rst$i"
        ko_assert_alive "after wave $i"
    done
    ko_wait_count "$out" '^(socat|ncat|nc|py)-[1-3]$' 12 ||
        fail "not every client's line reached stdout"
    for i in 1 2 3; do
        for kind in socat ncat nc py; do
            assertEquals "$kind-$i on stdout once" 1 \
                "$(ko_count "$out" "^$kind-$i\$")"
        done
    done

    # Fifty clients connected at the same time, from one process.
    ko_wait_count "$err" '^sockcat: closed ' 15 ||
        fail "not every sequential client was reported closed"
    base_conn=$(ko_count "$err" '^sockcat: connection from ')
    base_closed=$(ko_count "$err" '^sockcat: closed ')
    # The 50 may get ports the sequential clients had: look only at what follows.
    base_lines=$(wc -l <"$err")
    ko_bg python3 "$KO_TOOL" --timeout "$KO_LIMIT" multi 127.0.0.1 \
        "$TH_PORT" 50 --prefix multi --port-file "$KO_DIR/multi.port" \
        --release "$KO_DIR/multi.release" --status "$KO_DIR/multi.status"
    ko_wait_count "$err" '^sockcat: connection from ' $((base_conn + 50)) ||
        fail "50 concurrent clients were not all accepted"
    ko_wait_count "$out" '^multi-[0-9]+$' 50 ||
        fail "not every concurrent client's line reached stdout"
    assertEquals "none of the 50 was closed while they were connected" \
        "$base_closed" "$(ko_count "$err" '^sockcat: closed ')"
    touch "$KO_DIR/multi.release"
    ko_wait_count "$err" '^sockcat: closed ' $((base_closed + 50)) ||
        fail "the 50 clients' departures were not all reported"
    tail -n "+$((base_lines + 1))" "$err" >"$KO_DIR/err.multi"
    for port in $(tr -d '[],' <"$KO_DIR/multi.port"); do
        assertEquals "client port $port: one connection and one close" \
            "1 1" "$(ko_count "$KO_DIR/err.multi" "^sockcat: connection from 127\\.0\\.0\\.1 $port\$") $(ko_count "$KO_DIR/err.multi" "^sockcat: closed 127\\.0\\.0\\.1 $port\$")"
    done
    ko_assert_alive "after 50 concurrent clients left"

    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

#--------------------------------------------------------------------------
# Fan-in: chunks whole, per-client order.

testClientChunksWholeAndInOrder() {
    local out=$KO_DIR/out err=$KO_DIR/err go=$KO_DIR/go t msg
    th_listen "$out" "$err" -k -v || { fail "listener did not start"; return; }

    # Six clients send numbered lines, one write per line, all at once once
    # every one of them is connected. A client never has more outstanding
    # than one read takes (python: 300 lines, ~12 KiB; socat, ncat and nc
    # read their stdin 8 KiB at a time: 150 lines, ~6 KiB), so a read ends
    # on a line boundary however late it comes, and writing each read whole
    # keeps every line whole.
    for t in py1 py2 py3; do
        ko_client "$t" 127.0.0.1 "$TH_PORT" --go "$go" \
            --send-lines "$t:300" --delay-ms 1 --shut
    done
    ko_bg bash -c 'python3 "$1" lines socat 150 --delay-ms 1 --go "$2" |
        socat -u - "TCP:127.0.0.1:$3"' _ "$KO_TOOL" "$go" "$TH_PORT"
    ko_bg bash -c 'python3 "$1" lines ncat 150 --delay-ms 1 --go "$2" |
        ncat --send-only 127.0.0.1 "$3"' _ "$KO_TOOL" "$go" "$TH_PORT"
    ko_bg bash -c 'python3 "$1" lines nc 150 --delay-ms 1 --go "$2" |
        nc.openbsd -N 127.0.0.1 "$3" >/dev/null' _ "$KO_TOOL" "$go" "$TH_PORT"
    ko_wait_count "$err" '^sockcat: connection from ' 6 ||
        { fail "six clients were not all accepted"; return; }
    touch "$go"
    ko_wait_count "$err" '^sockcat: closed ' 6 ||
        fail "six clients were not all reported closed"
    ko_wait_size "$out" 1
    msg=$(ko_tool check-lines "$out" py1:300 py2:300 py3:300 socat:150 \
        ncat:150 nc:150)
    assertTrue "every line whole, every client's lines in order: $msg" $?
    ko_assert_alive "after the six clients"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

#--------------------------------------------------------------------------
# Fan-out: stdin to every client, half-close at stdin EOF.

testStdinBroadcastToEveryClient() {
    local out=$KO_DIR/out err=$KO_DIR/err fifo=$KO_DIR/stdin sha name
    ko_stdin_fifo "$fifo"
    TH_STDIN=$fifo th_listen "$out" "$err" -k -v ||
        { fail "listener did not start"; return; }

    ko_client py1 127.0.0.1 "$TH_PORT"
    ko_client py2 127.0.0.1 "$TH_PORT"
    ko_bg socat -u "TCP:127.0.0.1:$TH_PORT" "CREATE:$KO_DIR/socat.out"
    local socat_pid=$KO_LAST
    ko_bg bash -c 'exec ncat --recv-only 127.0.0.1 "$1" >"$2" </dev/null' _ \
        "$TH_PORT" "$KO_DIR/ncat.out"
    local ncat_pid=$KO_LAST
    ko_bg bash -c 'exec nc.openbsd -d 127.0.0.1 "$1" >"$2" </dev/null' _ \
        "$TH_PORT" "$KO_DIR/nc.out"
    local nc_pid=$KO_LAST
    ko_wait_count "$err" '^sockcat: connection from ' 5 ||
        { fail "five clients were not all accepted"; return; }

    ko_tool feed "$fifo" --seed 7 --bytes $((4 << 20)) \
        --status "$KO_DIR/feed.status" ||
        fail "feeding 4 MiB into stdin did not finish"
    ko_stdin_eof
    sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha"])' \
        "$KO_DIR/feed.status")
    ko_wait_client py1 && ko_wait_client py2
    th_wait_pid "$socat_pid" 20
    th_wait_pid "$ncat_pid" 20
    th_wait_pid "$nc_pid" 20
    for name in py1 py2 socat ncat nc; do
        assertEquals "$name received exactly stdin (4 MiB)" "$sha" \
            "$(th_sum "$KO_DIR/$name.out")"
    done
    assertEquals "py1 saw EOF after the broadcast" eof "$(ko_field py1 end)"
    ko_assert_alive "after the receivers left"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

testStdinEofHalfClosesClientsWhoCanStillSend() {
    local out=$KO_DIR/out err=$KO_DIR/err fifo=$KO_DIR/stdin
    ko_stdin_fifo "$fifo"
    TH_STDIN=$fifo th_listen "$out" "$err" -k -v ||
        { fail "listener did not start"; return; }

    ko_client a 127.0.0.1 "$TH_PORT" --after-eof --send-text 'after-eof-a\n'
    ko_client b 127.0.0.1 "$TH_PORT" --after-eof --send-text 'after-eof-b\n'
    ko_wait_count "$err" '^sockcat: connection from ' 2 ||
        { fail "two clients were not accepted"; return; }
    ko_put "$fifo" 'hello all\n'
    ko_stdin_eof
    ko_wait_client a 10 && ko_wait_client b 10 ||
        fail "the clients did not see EOF after stdin's EOF"
    assertEquals "a got the broadcast, then EOF" "hello all" \
        "$(cat "$KO_DIR/a.out")"
    assertEquals "a: end of its input" eof "$(ko_field a end)"
    assertEquals "b got the broadcast, then EOF" "hello all" \
        "$(cat "$KO_DIR/b.out")"
    assertEquals "b: end of its input" eof "$(ko_field b end)"
    ko_wait_grep "$out" '^after-eof-a$' 10 ||
        fail "a's bytes sent after its EOF did not reach stdout"
    ko_wait_grep "$out" '^after-eof-b$' 10 ||
        fail "b's bytes sent after its EOF did not reach stdout"

    # A client arriving after stdin's EOF gets EOF at once, and is heard.
    ko_client late 127.0.0.1 "$TH_PORT" --after-eof --send-text 'late\n'
    ko_wait_client late 10 || fail "the late client did not see EOF"
    assertEquals "late client: EOF" eof "$(ko_field late end)"
    assertTrue "late client: EOF within 2 s ($(ko_field late end_after) s)" \
        "ko_within late 2"
    assertEquals "late client received nothing" 0 "$(ko_field late received)"
    ko_wait_grep "$out" '^late$' 10 ||
        fail "the late client's bytes did not reach stdout"
    ko_assert_alive "after stdin EOF and three clients"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    assertEquals "stdout holds the clients' lines" \
        "after-eof-a after-eof-b late" \
        "$(sort "$out" | tr '\n' ' ' | sed 's/ $//')"
}

testRecvOnlyNeverReadsStdin() {
    local out=$KO_DIR/out err=$KO_DIR/err fifo=$KO_DIR/stdin
    ko_stdin_fifo "$fifo"
    TH_STDIN=$fifo th_listen "$out" "$err" -k -v --recv-only ||
        { fail "listener did not start"; return; }
    ko_put "$fifo" 'not-for-you\n'
    ko_client a 127.0.0.1 "$TH_PORT" --send-text 'first\n' \
        --hold "$KO_DIR/a.hold"
    ko_wait_grep "$out" '^first$' 10 ||
        fail "the client's bytes did not reach stdout"
    # Another round trip through the event loop, then look at the FIFO.
    ko_client b 127.0.0.1 "$TH_PORT" --send-text 'second\n' \
        --hold "$KO_DIR/a.hold"
    ko_wait_grep "$out" '^second$' 10 ||
        fail "the second client's bytes did not reach stdout"
    assertEquals "the 12 bytes written to stdin are still unread" 12 \
        "$(ko_tool fionread "$fifo")"
    touch "$KO_DIR/a.hold"
    ko_wait_client a 10 && ko_wait_client b 10
    assertEquals "a received nothing" 0 "$(ko_field a received)"
    assertEquals "b received nothing" 0 "$(ko_field b received)"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

#--------------------------------------------------------------------------
# --max-conns

testMaxConnsRefusesTheExtraClientAtOnce() {
    local out=$KO_DIR/out err=$KO_DIR/err fifo=$KO_DIR/stdin port
    ko_stdin_fifo "$fifo"
    TH_STDIN=$fifo th_listen "$out" "$err" -k -v -m 2 ||
        { fail "listener did not start"; return; }
    ko_client a 127.0.0.1 "$TH_PORT" --send-text 'from-a\n' \
        --hold "$KO_DIR/a.hold" --rst
    ko_client b 127.0.0.1 "$TH_PORT" --send-text 'from-b\n' \
        --hold "$KO_DIR/b.hold"
    ko_wait_count "$err" '^sockcat: connection from ' 2 ||
        { fail "two clients were not accepted"; return; }

    ko_client c 127.0.0.1 "$TH_PORT" --send-text 'from-c\n'
    ko_wait_client c 10 || fail "the third client was not closed"
    port=$(ko_port c)
    assertTrue "third client: closed by the listener ($(ko_field c end))" \
        "[[ '$(ko_field c end)' =~ ^(eof|reset)$ ]]"
    assertTrue "third client: closed within 2 s ($(ko_field c end_after) s)" \
        "ko_within c 2"
    assertEquals "third client received nothing" 0 "$(ko_field c received)"
    ko_wait_grep "$err" \
        "^sockcat: refused 127\\.0\\.0\\.1 $port: over --max-conns 2\$" 5 ||
        fail "no 'refused ... over --max-conns 2' line for port $port"

    # One leaves (with a reset: a FIN alone is a half-close, after which
    # sockcat keeps broadcasting to it): the next one is served.
    port=$(ko_port a)
    touch "$KO_DIR/a.hold"
    ko_wait_grep "$err" "^sockcat: closed 127\\.0\\.0\\.1 $port\$" 10 ||
        fail "a's departure was not reported"
    ko_client d 127.0.0.1 "$TH_PORT" --send-text 'from-d\n' \
        --hold "$KO_DIR/d.hold"
    port=$(ko_port d)
    ko_wait_grep "$err" "^sockcat: connection from 127\\.0\\.0\\.1 $port\$" \
        10 || fail "the client after a's departure was not accepted"
    ko_wait_grep "$out" '^from-d$' 10 ||
        fail "the client after a's departure was not heard"
    ko_put "$fifo" 'to-b-and-d\n'
    ko_wait_size "$KO_DIR/d.out" 11 10
    touch "$KO_DIR/b.hold" "$KO_DIR/d.hold"
    ko_wait_client b 10 && ko_wait_client d 10
    assertEquals "d stayed connected" open "$(ko_field d end)"
    assertEquals "d got the broadcast" to-b-and-d "$(cat "$KO_DIR/d.out")"
    assertEquals "d was not refused" 0 \
        "$(ko_count "$err" "refused 127\\.0\\.0\\.1 $port")"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    assertEquals "stdout: a, b and d, never c" "from-a from-b from-d" \
        "$(sort "$out" | tr '\n' ' ' | sed 's/ $//')"
}

#--------------------------------------------------------------------------
# --allow / --deny

# ko_acl_case LISTEN_ADDR OK_HOST OK_SRC NO_HOST NO_SRC OPTIONS...: a
# listener on LISTEN_ADDR (-: no HOST, dual-stack) with OPTIONS must serve
# a client connecting to OK_HOST from OK_SRC and turn away one connecting
# to NO_HOST from NO_SRC (empty SRC: the kernel's choice) before any byte
# is exchanged.
ko_acl_case() {
    local laddr=$1 okhost=$2 oksrc=$3 nohost=$4 nosrc=$5
    shift 5
    local what="listen $laddr $*" out=$KO_DIR/out err=$KO_DIR/err
    local fifo=$KO_DIR/stdin port
    ko_stdin_fifo "$fifo"
    if [ "$laddr" = - ]; then
        TH_STDIN=$fifo ko_listen_any "$out" "$err" -k -v "$@"
    else
        TH_ADDR=$laddr TH_STDIN=$fifo th_listen "$out" "$err" -k -v "$@"
    fi || { fail "$what: listener did not start"; return; }

    ko_client ok "$okhost" "$TH_PORT" ${oksrc:+--src "$oksrc"} \
        --send-text 'allowed-data\n'
    ko_wait_grep "$err" '^sockcat: connection from ' 10 ||
        fail "$what: allowed client ($okhost from ${oksrc:-default}) not accepted"
    ko_client no "$nohost" "$TH_PORT" ${nosrc:+--src "$nosrc"} \
        --send-text 'denied-data\n'
    ko_wait_client no 10 || fail "$what: denied client was not closed"
    port=$(ko_port no)
    assertTrue "$what: denied client closed ($(ko_field no end))" \
        "[[ '$(ko_field no end)' =~ ^(eof|reset)$ ]]"
    assertTrue "$what: denied client closed within 2 s ($(ko_field no end_after) s)" \
        "ko_within no 2"
    ko_wait_grep "$err" \
        "^sockcat: refused [0-9a-f:.]+ $port: denied by --allow/--deny\$" 5 ||
        fail "$what: no 'refused ... denied by --allow/--deny' for port $port"
    ko_wait_grep "$out" '^allowed-data$' 10 ||
        fail "$what: the allowed client was not heard"

    ko_put "$fifo" 'broadcast\n'
    ko_stdin_eof
    ko_wait_client ok 10 || fail "$what: allowed client saw no EOF"
    assertEquals "$what: allowed client got the broadcast" broadcast \
        "$(cat "$KO_DIR/ok.out")"
    assertEquals "$what: denied client got nothing" 0 \
        "$(ko_field no received)"
    ko_stop TERM
    assertEquals "$what: exit status after SIGTERM" 143 "$TH_RC"
    assertEquals "$what: only the allowed client on stdout" allowed-data \
        "$(cat "$out")"
}

testAllowIPv4Address() {
    ko_acl_case 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.2 \
        --allow 127.0.0.1
}

testDenyIPv4Prefix() {
    ko_acl_case 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.2 \
        --deny 127.0.0.2/31
}

testAllowRepeatedAndDenyWins() {
    # .1 and .2 are both in the /30; --deny takes .2 back out.
    ko_acl_case 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.1 127.0.0.2 \
        --allow 10.0.0.0/8 --allow 127.0.0.0/30 --deny 127.0.0.2
}

testAllowIPv6OnDualStack() {
    ko_acl_case - ::1 '' 127.0.0.1 '' --allow ::1
}

testDenyIPv6PrefixOnDualStack() {
    ko_acl_case - 127.0.0.1 '' ::1 '' --deny ::1/128
}

testAllowIPv4PrefixOnDualStack() {
    # An IPv4 client of a dual-stack listener matches IPv4 rules.
    ko_acl_case - 127.0.0.1 '' ::1 '' --allow 127.0.0.0/8
}

#--------------------------------------------------------------------------
# --slow-client: one client ("slow") never reads until released, another
# ("fast") reads everything. Stdin is a FIFO fed with a seeded stream.

# ko_slow_start POLICY: listener and the two clients; sets KO_BASE_RSS.
ko_slow_start() {
    local fifo=$KO_DIR/stdin
    ko_stdin_fifo "$fifo"
    TH_STDIN=$fifo th_listen "$KO_DIR/out" "$KO_DIR/err" -k -v \
        --slow-client "$1" || return 1
    ko_client fast 127.0.0.1 "$TH_PORT" --out /dev/null
    ko_client slow 127.0.0.1 "$TH_PORT" --out /dev/null --no-read \
        --release "$KO_DIR/slow.release" --rcvbuf 65536
    ko_wait_count "$KO_DIR/err" '^sockcat: connection from ' 2 || return 1
    KO_BASE_RSS=$(ko_rss_kib)
}

# ko_feed_field KEY: a field of the feeder's status.
ko_feed_field() { ko_jfield "$KO_DIR/feed.status" "$1"; }

testSlowClientBlockPausesStdinAndLosesNothing() {
    local peak
    ko_slow_start block || { fail "listener or clients did not start"; return; }
    # Feed until sockcat stops reading stdin (at most 160 MiB), then wait
    # for the slow client to start reading, then 1 MiB more and EOF.
    KO_LIMIT=60 ko_bg python3 "$KO_TOOL" --timeout 60 feed "$KO_DIR/stdin" --seed 3 \
        --until-stall $((160 << 20)) --after $((1 << 20)) \
        --stall-file "$KO_DIR/feed.stall" --resume "$KO_DIR/slow.release" \
        --status "$KO_DIR/feed.status"
    ko_wait_size "$KO_DIR/feed.stall" 1 40 ||
        fail "stdin was never paused while a client did not read"
    peak=$(ko_rss_kib)
    touch "$KO_DIR/slow.release"
    ko_wait_size "$KO_DIR/feed.status" 1 40 ||
        { fail "feeding stdin did not finish once the client read"; return; }
    ko_stdin_eof
    ko_wait_client fast 30 && ko_wait_client slow 30
    assertEquals "stdin was paused" true "$(ko_feed_field stalled)"
    assertEquals "fast client: every byte of stdin, in order" \
        "$(ko_feed_field sha)" "$(ko_field fast sha_received)"
    assertEquals "slow client: every byte of stdin, in order" \
        "$(ko_feed_field sha)" "$(ko_field slow sha_received)"
    assertEquals "fast client: EOF at the end" eof "$(ko_field fast end)"
    ko_assert_rss_bounded "block" "$KO_BASE_RSS" "$peak"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

testSlowClientDropKeepsOthersWhole() {
    local peak port dropped received written
    ko_slow_start drop || { fail "listener or clients did not start"; return; }
    ko_tool feed "$KO_DIR/stdin" --seed 4 --bytes $((16 << 20)) \
        --rate 8 --stall-secs 3 --status "$KO_DIR/feed.status" ||
        fail "feeding 16 MiB did not finish"
    peak=$(ko_rss_kib)
    ko_stdin_eof
    ko_wait_client fast 30 || fail "the fast client saw no EOF"
    assertEquals "stdin was never paused" false "$(ko_feed_field stalled)"
    written=$(ko_feed_field written)
    assertEquals "fast client: all 16 MiB" "$written" \
        "$(ko_field fast received)"
    assertEquals "fast client: every byte of stdin, in order" \
        "$(ko_feed_field sha)" "$(ko_field fast sha_received)"
    port=$(ko_port slow)
    touch "$KO_DIR/slow.release"
    ko_wait_client slow 30 || fail "the slow client saw no EOF"
    ko_wait_grep "$KO_DIR/err" "^sockcat: closed 127\\.0\\.0\\.1 $port\$" 10
    ko_assert_rss_bounded "drop" "$KO_BASE_RSS" "$peak"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    received=$(ko_field slow received)
    assertNotEquals "-v: a 'dropped N B of broadcast for 127.0.0.1 $port (slow client)' line" \
        0 "$(ko_count "$KO_DIR/err" "^sockcat: dropped [0-9]+ B of broadcast for 127\\.0\\.0\\.1 $port \\(slow client\\)\$")"
    # Whatever the unit, what the slow client got and what was reported
    # dropped add up to stdin (within the rounding of the unit).
    dropped=$(grep -E "^sockcat: dropped .* for 127\\.0\\.0\\.1 $port " \
        "$KO_DIR/err" | awk '
        { n = $3; u = $4
          m = (u == "KiB") ? 1024 : (u == "MiB") ? 1048576 : (u == "GiB") ? 1073741824 : 1
          total += n * m; slack += (m > 1) ? m * 0.005 : 0 }
        END { printf "%d %d\n", total, slack }')
    assertTrue "-v reports bytes dropped for the slow client" \
        "[ ${dropped%% *} -gt 0 ]"
    assertTrue "slow client: received $received + reported dropped ${dropped%% *} = stdin $written (give or take ${dropped##* })" \
        "[ $(( received + ${dropped%% *} - written )) -le ${dropped##* } ] && [ $(( written - received - ${dropped%% *} )) -le ${dropped##* } ]"
}

testSlowClientDisconnect() {
    local peak port
    ko_slow_start disconnect ||
        { fail "listener or clients did not start"; return; }
    ko_tool feed "$KO_DIR/stdin" --seed 5 --bytes $((16 << 20)) \
        --rate 8 --stall-secs 3 --status "$KO_DIR/feed.status" ||
        fail "feeding 16 MiB did not finish"
    peak=$(ko_rss_kib)
    ko_stdin_eof
    ko_wait_client fast 30 || fail "the fast client saw no EOF"
    assertEquals "stdin was never paused" false "$(ko_feed_field stalled)"
    assertEquals "fast client: every byte of stdin, in order" \
        "$(ko_feed_field sha)" "$(ko_field fast sha_received)"
    port=$(ko_port slow)
    ko_wait_grep "$KO_DIR/err" \
        "^sockcat: disconnected slow client 127\\.0\\.0\\.1 $port\$" 10 ||
        fail "no 'disconnected slow client' line for port $port"
    touch "$KO_DIR/slow.release"
    ko_wait_client slow 30 || fail "the slow client was not disconnected"
    assertTrue "slow client: connection ended ($(ko_field slow end))" \
        "[[ '$(ko_field slow end)' =~ ^(eof|reset)$ ]]"
    assertTrue "slow client: got less than stdin" \
        "[ $(ko_field slow received) -lt $(ko_feed_field written) ]"
    ko_assert_rss_bounded "disconnect" "$KO_BASE_RSS" "$peak"
    ko_assert_alive "after disconnecting the slow client"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
}

#--------------------------------------------------------------------------
# Backpressure from stdout, signals.

# ko_reader_field PART KEY: a field of the stdout reader's status for one
# client's alphabet (PART) or, with PART "-", for the whole.
ko_reader_field() {
    python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
print(s[sys.argv[3]] if sys.argv[2] == "-" else s["parts"][sys.argv[2]][sys.argv[3]])' \
        "$KO_DIR/reader.status" "$1" "$2"
}

testSlowStdoutPausesClients() {
    local outfifo=$KO_DIR/stdout err=$KO_DIR/err base peak size=$((24 << 20))
    mkfifo "$outfifo"
    # stdout's reader reads nothing until released.
    KO_LIMIT=60 ko_bg python3 "$KO_TOOL" --timeout 60 reader "$outfifo" \
        --release "$KO_DIR/resume" --demux lower --demux upper \
        --status "$KO_DIR/reader.status"
    th_listen "$outfifo" "$err" -k -v || { fail "listener did not start"; return; }
    base=$(ko_rss_kib)
    ko_client a 127.0.0.1 "$TH_PORT" --out /dev/null --sndbuf 131072 \
        --send-stream "lower:11:$size" --stall-secs 1.5 \
        --stall-file "$KO_DIR/a.stall" --shut
    ko_client b 127.0.0.1 "$TH_PORT" --out /dev/null --sndbuf 131072 \
        --send-stream "upper:12:$size" --stall-secs 1.5 \
        --stall-file "$KO_DIR/b.stall" --shut
    ko_wait_size "$KO_DIR/a.stall" 1 30 ||
        fail "client a was never paused while stdout was not read"
    ko_wait_size "$KO_DIR/b.stall" 1 30 ||
        fail "client b was never paused while stdout was not read"
    peak=$(ko_rss_kib)
    touch "$KO_DIR/resume"
    ko_wait_client a 60 && ko_wait_client b 60 ||
        fail "the clients did not finish once stdout was read"
    ko_wait_count "$err" '^sockcat: closed ' 2 10
    ko_stop TERM 30
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    ko_wait_size "$KO_DIR/reader.status" 1 10 ||
        { fail "stdout's reader did not see EOF"; return; }
    assertEquals "a: every byte sent" "$size" "$(ko_field a sent)"
    assertEquals "a's bytes on stdout, whole and in order" \
        "$(ko_field a sha_sent)" "$(ko_reader_field lower sha)"
    assertEquals "b: every byte sent" "$size" "$(ko_field b sent)"
    assertEquals "b's bytes on stdout, whole and in order" \
        "$(ko_field b sha_sent)" "$(ko_reader_field upper sha)"
    assertEquals "nothing else on stdout" $((2 * size)) \
        "$(ko_reader_field - total)"
    ko_assert_rss_bounded "stdout paused" "$base" "$peak"
}

testSigtermStopsAcceptingAndFlushesStdout() {
    local outfifo=$KO_DIR/stdout err=$KO_DIR/err received lower upper closed
    mkfifo "$outfifo"
    KO_LIMIT=60 ko_bg python3 "$KO_TOOL" --timeout 60 reader "$outfifo" \
        --release "$KO_DIR/resume" --out "$KO_DIR/out" \
        --status "$KO_DIR/reader.status"
    th_listen "$outfifo" "$err" -k -v --stats json ||
        { fail "listener did not start"; return; }
    # Two clients fill sockcat up while stdout is not read.
    ko_client a 127.0.0.1 "$TH_PORT" --out /dev/null --sndbuf 131072 \
        --send-stream "lower:21:$((8 << 20))" --stall-secs 1 \
        --stall-file "$KO_DIR/a.stall" --hold "$KO_DIR/hold"
    ko_client b 127.0.0.1 "$TH_PORT" --out /dev/null --sndbuf 131072 \
        --send-stream "upper:22:$((8 << 20))" --stall-secs 1 \
        --stall-file "$KO_DIR/b.stall" --hold "$KO_DIR/hold"
    ko_wait_size "$KO_DIR/a.stall" 1 30 && ko_wait_size "$KO_DIR/b.stall" 1 30 ||
        fail "the clients were never paused while stdout was not read"

    # The listening socket goes at once, while stdout is still full; then
    # stdout is read again and everything received must come out.
    ko_signal TERM
    ko_wait_unlistened "$TH_PORT" 1
    closed=$?
    ko_assert_alive "while stdout is still not read"
    touch "$KO_DIR/resume"
    th_wait_pid "$TH_PID" 30
    TH_PID=
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    assertTrue "the listening socket closed within 1 s of SIGTERM" "$closed"
    touch "$KO_DIR/hold"
    ko_wait_size "$KO_DIR/reader.status" 1 10 ||
        { fail "stdout's reader did not see EOF"; return; }

    received=$(ko_tool json "$err" received)
    assertTrue "--stats json line after SIGTERM: $received" $?
    assertEquals "everything received is on stdout" "$received" \
        "$(stat -c %s "$KO_DIR/out")"
    lower=$(ko_tool check-prefix "$KO_DIR/out" lower 21)
    assertTrue "a's share of stdout is what it sent: $lower" $?
    upper=$(ko_tool check-prefix "$KO_DIR/out" upper 22)
    assertTrue "b's share of stdout is what it sent: $upper" $?
    assertTrue "stdout got something before the signal ($lower + $upper)" \
        "[ $((${lower:-0} + ${upper:-0})) -gt 0 ]"
}

testSigintExits130AfterWritingStdout() {
    local out=$KO_DIR/out err=$KO_DIR/err
    th_listen "$out" "$err" -k -v || { fail "listener did not start"; return; }
    ko_client a 127.0.0.1 "$TH_PORT" --send-text 'hello-int\n' \
        --hold "$KO_DIR/hold"
    ko_wait_grep "$out" '^hello-int$' 10 || fail "the client was not heard"
    ko_stop INT
    assertEquals "exit status after SIGINT" 130 "$TH_RC"
    assertEquals "stdout" hello-int "$(cat "$out")"
    assertEquals "-v totals line at exit" 1 "$(ko_count "$err" "$KO_SUMMARY_RE")"
    touch "$KO_DIR/hold"
    ko_wait_client a 10
    assertTrue "the client's connection ended ($(ko_field a end))" \
        "[[ '$(ko_field a end)' =~ ^(eof|reset|open)$ ]]"
}

#--------------------------------------------------------------------------
# -v

# ko_verbose_case LISTEN_ADDR CLIENT_HOST NAME
ko_verbose_case() {
    local out=$KO_DIR/out.$1 err=$KO_DIR/err.$1 port re
    TH_ADDR=$1 th_listen "$out" "$err" -k -v ||
        { fail "listener on $1 did not start"; return; }
    re=$(printf '%s' "$2" | sed 's/\./\\./g')
    assertEquals "listening line" "sockcat: listening on $1 $TH_PORT" \
        "$(head -n1 "$err")"
    ko_client "v$3" "$2" "$TH_PORT" --hold "$KO_DIR/v$3.hold"
    port=$(ko_port "v$3")
    ko_wait_grep "$err" "^sockcat: connection from $re $port\$" 10 ||
        fail "no 'connection from $2 $port' line"
    touch "$KO_DIR/v$3.hold"
    ko_wait_grep "$err" "^sockcat: closed $re $port\$" 10 ||
        fail "no 'closed $2 $port' line"
    ko_stop TERM
    assertEquals "exit status after SIGTERM" 143 "$TH_RC"
    assertEquals "-v totals line, last" 1 \
        "$(tail -n1 "$err" | ko_count /dev/stdin "$KO_SUMMARY_RE")"
}

testVerboseReportsEachClientIPv4() {
    ko_verbose_case 127.0.0.1 127.0.0.1 4
}

testVerboseReportsEachClientIPv6() {
    ko_verbose_case ::1 ::1 6
}

#--------------------------------------------------------------------------
# Usage errors of the keep-open options.

testKeepOpenUsageErrors() {
    ko_usage_error "-m 0" listen -k -m 0 127.0.0.1 0
    ko_usage_error "-m two" listen -k -m two 127.0.0.1 0
    ko_usage_error "--slow-client sometimes" listen -k \
        --slow-client sometimes 127.0.0.1 0
    KO_FIRST='^sockcat: option (-k|--keep-open): not valid with connect$' \
        ko_usage_error "-k with connect" connect -k 127.0.0.1 9
    KO_FIRST='^sockcat: option (-m|--max-conns): not valid with connect$' \
        ko_usage_error "-m with connect" connect -m 2 127.0.0.1 9
    KO_FIRST='^sockcat: option --allow: not valid with connect$' \
        ko_usage_error "--allow with connect" connect --allow 127.0.0.1 \
        127.0.0.1 9
    KO_FIRST='^sockcat: option --slow-client: not valid with connect$' \
        ko_usage_error "--slow-client with connect" connect \
        --slow-client drop 127.0.0.1 9
    ko_usage_error "--allow 10.0.0.0/33" listen -k --allow 10.0.0.0/33 \
        127.0.0.1 0
    ko_usage_error "--allow non/sense" listen -k --allow non/sense 127.0.0.1 0
    ko_usage_error "--deny ::1/129" listen -k --deny ::1/129 127.0.0.1 0
    ko_usage_error "--deny 10.0.0.1/" listen -k --deny 10.0.0.1/ 127.0.0.1 0
    ko_usage_error "--allow 300.1.1.1" listen -k --allow 300.1.1.1 \
        127.0.0.1 0
}

. "$th_shunit2"
