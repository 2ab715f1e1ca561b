# Helpers for the core one-shot suites (usage, connect, listen, bridge, stdio,
# errors, memory). Source it after th_lib.sh. Every wait here is bounded.
#
# Conventions: each test runs in its own directory under ${SHUNIT_TMPDIR}
# (tc_setup, from setUp); gates are plain files the test creates to let a
# background helper go on; peer.py writes reports as "BYTES SHA256 END".

TC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TC_PEER="$TC_DIR/peer.py"

# tc_setup: a fresh working directory for one test; call it from setUp.
tc_setup() {
    TC_T=$(mktemp -d "${SHUNIT_TMPDIR}/t.XXXXXX")
    cd "$TC_T" || return 1
}

# tc_teardown: releases every gate and ends the background jobs this test
# started (by their ids); call it from tearDown.
tc_teardown() {
    local pid pids i
    touch "$TC_T"/gate.all 2>/dev/null
    pids=$(jobs -p)
    for pid in $pids; do
        kill "$pid" 2>/dev/null
    done
    for i in $(seq 1 100); do
        tc_any_running $pids || break
        sleep 0.05
    done
    for pid in $pids; do
        kill -9 "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    cd "${SHUNIT_TMPDIR}" || return 1
}

# tc_any_running PID...: true while one of the PIDs still runs.
tc_any_running() {
    local pid
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null && return 0
    done
    return 1
}

# tc_hold GATE [SECONDS]: waits until the file GATE (or gate.all in the same
# directory) exists; fails after SECONDS (default TH_TIMEOUT).
tc_hold() {
    local i all
    all="$(dirname "$1")/gate.all"
    for i in $(seq 1 $(( ${2:-$TH_TIMEOUT} * 50 ))); do
        [ -e "$1" ] || [ -e "$all" ] && return 0
        sleep 0.02
    done
    return 1
}

# tc_data FILE BYTES: FILE filled with BYTES random bytes.
tc_data() { head -c "$2" /dev/urandom >"$1"; }

# tc_expect FILE [END]: the peer report that means "FILE arrived whole, then
# END" (default eof).
tc_expect() { echo "$(stat -c %s "$1") $(th_sum "$1") ${2:-eof}"; }

# tc_report FILE: waits for a peer report and prints it ("" if none came).
tc_report() {
    th_wait_file "$1" 2>/dev/null
    cat "$1" 2>/dev/null
}

# tc_running PID: true while the background job PID still runs.
tc_running() { kill -0 "$1" 2>/dev/null; }

# tc_wait_gone PID SECONDS: waits until PID has ended or SECONDS passed
# (whichever comes first; it does not end PID).
tc_wait_gone() {
    local i
    for i in $(seq 1 $(($2 * 40))); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.025
    done
    return 1
}

# tc_wait_size FILE BYTES: waits (bounded) until FILE has at least BYTES.
tc_wait_size() {
    local i
    for i in $(seq 1 $((TH_TIMEOUT * 40))); do
        [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.025
    done
    return 1
}

# tc_peer_listen ARGS...: starts `peer.py listen ARGS...` in the background;
# sets TC_PEER_PID and TC_PEER_PORT once it listens.
tc_peer_listen() {
    local ready
    ready="$TC_T/peer-ready.$RANDOM$RANDOM"
    timeout -k 5 "$TH_TIMEOUT" python3 "$TC_PEER" listen --ready "$ready" \
        --timeout "$TH_TIMEOUT" "$@" </dev/null >/dev/null \
        2>>"$TC_T/peer.err" &
    TC_PEER_PID=$!
    th_wait_file "$ready" || return 1
    TC_PEER_PORT=$(head -n1 "$ready")
}

# tc_peer_connect PORT ARGS...: starts `peer.py connect --port PORT ARGS...`
# in the background; sets TC_PEER_PID.
tc_peer_connect() {
    local port=$1
    shift
    timeout -k 5 "$TH_TIMEOUT" python3 "$TC_PEER" connect --port "$port" \
        --timeout "$TH_TIMEOUT" "$@" </dev/null >/dev/null \
        2>>"$TC_T/peer.err" &
    TC_PEER_PID=$!
}

# tc_spawn IN OUT ERR CMD...: runs CMD in the background, bounded by
# timeout, with stdin from IN, stdout to OUT and stderr to ERR (IN or OUT
# "closed": the descriptor is closed). The files are opened by the child
# itself, so that timeout does not hold them: a reader of OUT sees EOF as
# soon as CMD closes its stdout. Sets TC_PID (timeout's, which lives as long
# as CMD does).
tc_spawn() {
    local in=$1 out=$2 err=$3
    shift 3
    timeout -k 5 "$TH_TIMEOUT" bash -c '
        in=$1 out=$2 err=$3
        shift 3
        if [ "$in" = closed ]; then exec <&-; else exec <"$in"; fi ||
            exit 126
        if [ "$out" = closed ]; then exec >&-; else exec >"$out"; fi ||
            exit 126
        exec "$@" 2>"$err"' tc_spawn "$in" "$out" "$err" "$@" \
        </dev/null >/dev/null &
    TC_PID=$!
}

# tc_child PID: the (first) child process of PID, e.g. sockcat under the
# timeout that tc_spawn started.
tc_child() {
    local c
    c=$(cat "/proc/$1/task/$1/children" 2>/dev/null)
    echo "${c%% *}"
}

# tc_listen IN OUT ERR ARGS...: starts `sockcat listen --ready-fd 3 ARGS...`
# (ARGS name the port, and the host if any) with tc_spawn; sets TC_PID, and
# TC_PORT once it listens.
tc_listen() {
    local in=$1 out=$2 err=$3 ready
    shift 3
    ready="$TC_T/ready.$RANDOM$RANDOM"
    tc_spawn "$in" "$out" "$err" "$SOCKCAT" listen --ready-fd 3 "$@" 3>"$ready"
    th_wait_file "$ready" || return 1
    TC_PORT=$(head -n1 "$ready")
}

# tc_connect IN OUT ERR ARGS...: starts `sockcat connect ARGS...` with
# tc_spawn; sets TC_PID.
tc_connect() {
    local in=$1 out=$2 err=$3
    shift 3
    tc_spawn "$in" "$out" "$err" "$SOCKCAT" connect "$@"
}

# tc_feed FIFO STEP...: a background writer for FIFO that runs its steps in
# order and then closes it: wait:GATE waits for a gate, file:PATH copies a
# file, touch:PATH creates a marker.
tc_feed() {
    local fifo=$1
    shift
    (
        for step in "$@"; do
            case $step in
            wait:*) tc_hold "${step#wait:}" || exit 1 ;;
            file:*) cat "${step#file:}" || exit 1 ;;
            touch:*) touch "${step#touch:}" ;;
            esac
        done
    ) >"$fifo" &
}

# tc_drain FIFO OUT [GATE]: a background reader for FIFO that (after GATE, if
# given) copies everything into OUT and creates OUT.eof when it saw EOF.
tc_drain() {
    local fifo=$1 out=$2 gate=${3:-}
    (
        [ -z "$gate" ] || tc_hold "$gate" || exit 1
        cat >"$out"
        touch "$out.eof"
    ) <"$fifo" &
}

# tc_count_line FILE SENT RECEIVED: the last line of FILE is the -v byte
# count line with these amounts (EREs, e.g. "1000 B", "2\.00 KiB").
tc_count_line() {
    local rate='[0-9]+(\.[0-9]+)? (B|KiB|MiB|GiB)/s'
    tail -n1 "$1" | grep -Eq \
        "^sockcat: $2 sent, $3 received in [0-9]+\.[0-9]+ s \($rate\)\$"
}

# tc_ms: a monotonic-enough clock in milliseconds.
tc_ms() { echo $(( $(date +%s%N) / 1000000 )); }
