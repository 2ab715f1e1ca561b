#!/bin/bash
# Happy Eyeballs (RFC 8305) when HOST has several addresses: families
# interleaved, the next attempt 250 ms after the last if none answered (at
# once when one fails), the first to connect wins, -w bounds the whole, -v
# names each attempt and the winner ("connected to HOST (ADDR) PORT").
# Each test runs in a private network and mount namespace (root only): a
# hosts file bind-mounted over /etc/hosts gives one name several addresses,
# and ip6tables/iptables DROP rules make some of them black holes.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

TH_TIMEOUT=20
TM_RUN="$TC_DIR/timer_run.py"
# Start-up and connecting, in ms: an ASan build takes over a second to start
# on a loaded machine, so there only the lower bounds and the order of
# magnitude are checked.
if th_sanitized; then HE_SLACK=3000; else HE_SLACK=600; fi

setUp() {
    tc_setup
    if [ "$(id -u)" != 0 ] || ! unshare -mn true 2>/dev/null ||
        ! command -v ip6tables >/dev/null || ! command -v iptables >/dev/null; then
        startSkipping
        echo "skipped: needs root, unshare -mn, iptables and ip6tables" >&2
    fi
}
tearDown() { tc_teardown; }

# he_run HOSTS RULES ARGS...: in fresh namespaces, /etc/hosts is HOSTS (lines
# "ADDR NAME"), RULES is run (DROP rules; $PORT is the port), a server
# accepts on every IPv4 address, PORT (and on fd00::2 when HE_V6_SERVER is set), and
# `sockcat connect ARGS... both.test PORT` runs with an empty stdin, timed.
# Sets HE_RC and HE_MS; stderr in `err`.
he_run() {
    local hosts=$1 rules=$2 line
    shift 2
    printf '%s\n' "$hosts" >hosts
    cat >ns.sh <<'SH'
set -e
ip link set lo up
ip -6 addr add fd00::1/128 dev lo nodad
ip -6 addr add fd00::2/128 dev lo nodad
ip -6 addr add fd00::3/128 dev lo nodad
mount --bind "$PWD/hosts" /etc/hosts
PORT=4000
# The IPv4 address sockcat will try first (getent would hide IPv4 here: only
# loopback has it, which AI_ADDRCONFIG does not count).
first_v4() {
    python3 -c 'import socket
print([a[4][0] for a in socket.getaddrinfo("both.test", 4000, 0, socket.SOCK_STREAM)
       if ":" not in a[4][0]][0])'
}
eval "$RULES"
python3 -c '
import socket, sys, threading
def serve(family, addr):
    s = socket.socket(family)
    s.bind((addr, 4000)); s.listen(8)
    while True:
        c, _ = s.accept(); c.close()
threading.Thread(target=serve, args=(socket.AF_INET, "0.0.0.0"), daemon=True).start()
if sys.argv[1]:
    threading.Thread(target=serve, args=(socket.AF_INET6, "fd00::2"), daemon=True).start()
open("up", "w").close()
threading.Event().wait(15)
' "${HE_V6_SERVER:-}" &
for i in $(seq 200); do [ -e up ] && break; sleep 0.025; done
python3 "$TM_RUN" --limit 15 --err err -- "$SOCKCAT" connect "$@" both.test 4000 >timing
SH
    RULES=$rules HE_V6_SERVER=${HE_V6_SERVER:-} TM_RUN=$TM_RUN SOCKCAT=$SOCKCAT timeout 30 unshare -mn bash ns.sh "$@" \
        >/dev/null 2>ns.err
    line=$(cat timing 2>/dev/null)
    HE_RC=${line% *}
    HE_MS=${line#* }
}

# The first address drops SYNs: the second one is tried 250 ms later and wins.
testBlackholedFirstAddress() {
    he_run "fd00::1 both.test
127.0.0.1 both.test" 'ip6tables -A INPUT -p tcp -d fd00::1 --syn -j DROP' -v -w 10
    assertEquals "exit status ($(cat err ns.err))" 0 "$HE_RC"
    assertEquals "-v names each attempt and the winner" "sockcat: trying fd00::1 4000
sockcat: trying 127.0.0.1 4000
sockcat: connected to both.test (127.0.0.1) 4000" "$(grep -E 'trying|connected' err)"
    assertTrue "connected after the 250 ms stagger (${HE_MS} ms)" "[ ${HE_MS:-0} -ge 250 ]"
    assertTrue "not after a connect timeout (${HE_MS} ms)" "[ ${HE_MS:-99999} -le $((250 + 50 + HE_SLACK)) ]"
}

# A refused attempt starts the next at once: no 250 ms wait.
testRefusedMovesOnAtOnce() {
    he_run "fd00::1 both.test
127.0.0.1 both.test" ':' -v
    assertEquals "exit status ($(cat err ns.err))" 0 "$HE_RC"
    assertTrue "says the first failed: $(cat err)" "grep -q 'connect to fd00::1 4000 failed: Connection refused' err"
    assertTrue "well before the stagger (${HE_MS} ms)" "[ ${HE_MS:-99999} -lt $((250 + HE_SLACK - 150)) ]"
}

# The families take turns: v6, v4, v6, v4 when the resolver gives v6 first.
testFamiliesInterleaved() {
    he_run "fd00::1 both.test
fd00::3 both.test
127.0.0.3 both.test
127.0.0.1 both.test" 'ip6tables -A INPUT -p tcp --syn -j DROP
        iptables -A INPUT -p tcp -d "$(first_v4)" --syn -j DROP' -v -w 10
    assertEquals "exit status ($(cat err ns.err))" 0 "$HE_RC"
    local families
    families=$(grep trying err | awk '{print ($3 ~ /:/) ? "v6" : "v4"}' | xargs)
    assertEquals "attempts in turns: $(grep trying err | xargs)" "v6 v4 v6 v4" "$families"
    assertTrue "connected on the fourth attempt (${HE_MS} ms)" \
        "[ ${HE_MS:-0} -ge 750 ] && [ ${HE_MS:-99999} -le $((750 + 75 + HE_SLACK)) ]"
}

# -w bounds the whole race, not each attempt.
testWaitBoundsTheWhole() {
    he_run "fd00::1 both.test
127.0.0.1 both.test" 'ip6tables -A INPUT -p tcp --syn -j DROP; iptables -A INPUT -p tcp --syn -j DROP' -w 0.6
    assertEquals "exit status" 1 "$HE_RC"
    assertEquals "message" "sockcat: connect to both.test 4000: Connection timed out" "$(cat err)"
    assertTrue "after -w 0.6 (${HE_MS} ms)" "[ ${HE_MS:-0} -ge 600 ] && [ ${HE_MS:-99999} -le $((600 + 60 + HE_SLACK)) ]"
}

# The first to connect wins even when an earlier attempt answers later:
# nothing else is left open (the winner carries the conversation).
testWinnerCarriesTheConversation() {
    HE_V6_SERVER=1
    he_run "fd00::1 both.test
fd00::2 both.test" 'ip6tables -A INPUT -p tcp -d fd00::1 --syn -j DROP' -v -q 0 -w 10
    unset HE_V6_SERVER
    assertEquals "exit status ($(cat err ns.err))" 0 "$HE_RC"
    assertTrue "connected to the second: $(cat err)" "grep -q 'connected to both.test (fd00::2) 4000' err"
}

. "$th_shunit2"
