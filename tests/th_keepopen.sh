# Helpers for test_keepopen.sh and test_stats.sh. Source it after th_lib.sh.
#
# Every helper is bounded. Background processes started here are remembered
# in KO_BG and ended by ko_cleanup (call it from tearDown).

KO_TOOL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/ko_tool.py"
: "${KO_LIMIT:=20}"
KO_BG=()

# ko_setup: a fresh work directory in KO_DIR for one test.
ko_setup() {
    KO_DIR=$(mktemp -d "${SHUNIT_TMPDIR}/ko.XXXXXX")
    KO_BG=()
    KO_HOLDER=
    TH_PID=
    TH_PORT=
}

# ko_cleanup: ends what the test left running (by pid only), and fails the
# test when a sanitizer reported something in one of its stderr files.
ko_cleanup() {
    local pid f
    for pid in "${KO_BG[@]}" $KO_HOLDER $TH_PID; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${KO_BG[@]}" $KO_HOLDER $TH_PID; do
        th_wait_pid "$pid" 5 >/dev/null 2>&1
    done
    KO_BG=()
    KO_HOLDER=
    TH_PID=
}

# ko_listen_any OUT ERR [options...]: th_listen without a HOST operand, so
# sockcat picks its default (dual-stack ::); port 0, learned through
# --ready-fd. Sets TH_PID and TH_PORT.
ko_listen_any() {
    local out=$1 err=$2 ready="$KO_DIR/ready.$RANDOM"
    shift 2
    timeout "$TH_TIMEOUT" "$SOCKCAT" listen --ready-fd 3 "$@" 0 \
        <"${TH_STDIN:-/dev/null}" >"$out" 2>"$err" 3>"$ready" &
    TH_PID=$!
    th_wait_file "$ready" || return 1
    TH_PORT=$(head -n1 "$ready")
}

# ko_wait_unlistened PORT [SECS]: waits until nothing listens on PORT.
ko_wait_unlistened() {
    local i limit=${2:-$KO_LIMIT}
    for i in $(seq 1 $((limit * 40))); do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . || return 0
        sleep 0.025
    done
    return 1
}

# ko_tool ARGS...: runs ko_tool.py in the foreground, bounded.
ko_tool() {
    timeout "$((KO_LIMIT + 10))" python3 "$KO_TOOL" --timeout "$KO_LIMIT" "$@"
}

# ko_bg COMMAND...: runs COMMAND in the background, bounded; remembered.
ko_bg() {
    timeout "$((KO_LIMIT + 10))" "$@" &
    KO_BG+=("$!")
    KO_LAST=$!
}

# ko_client NAME HOST PORT [client options...]: a ko_tool client in the
# background. Its files: $KO_DIR/NAME.status (JSON, once it ended),
# NAME.port (its local port), NAME.out (what it received).
ko_client() {
    local name=$1 host=$2 port=$3
    shift 3
    ko_bg python3 "$KO_TOOL" --timeout "$KO_LIMIT" client "$host" "$port" \
        --status "$KO_DIR/$name.status" --port-file "$KO_DIR/$name.port" \
        --out "$KO_DIR/$name.out" "$@"
    eval "KO_PID_$name=\$KO_LAST"
}

# ko_port NAME: the local port of client NAME (waits for it, bounded).
ko_port() {
    th_wait_file "$KO_DIR/$1.port" || return 1
    cat "$KO_DIR/$1.port"
}

# ko_wait_client NAME [SECS]: waits until client NAME has ended.
ko_wait_client() {
    local i limit=${2:-$KO_LIMIT}
    for i in $(seq 1 $((limit * 40))); do
        [ -s "$KO_DIR/$1.status" ] && return 0
        sleep 0.025
    done
    echo "ko_wait_client: $1 still running after ${limit}s" >&2
    return 1
}

# ko_jfield FILE KEY: one field of the JSON object in FILE: strings as they
# are, anything else as JSON (true, null, 12).
ko_jfield() {
    python3 -c 'import json,sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2" 2>/dev/null
}

# ko_field NAME KEY: one field of client NAME's status.
ko_field() { ko_jfield "$KO_DIR/$1.status" "$2"; }

# ko_within NAME SECS: client NAME's input ended less than SECS after it
# connected.
ko_within() {
    python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))' \
        "$(ko_field "$1" end_after)" "$2" 2>/dev/null
}

# ko_count FILE ERE: how many lines of FILE match ERE.
ko_count() { grep -cE -- "$2" "$1" 2>/dev/null || true; }

# ko_wait_count FILE ERE N [SECS]: waits until at least N lines of FILE
# match ERE.
ko_wait_count() {
    local file=$1 re=$2 n=$3 limit=${4:-$KO_LIMIT} i
    for i in $(seq 1 $((limit * 40))); do
        [ "$(ko_count "$file" "$re")" -ge "$n" ] && return 0
        sleep 0.025
    done
    echo "ko_wait_count: fewer than $n lines like '$re' in $file" >&2
    return 1
}

# ko_wait_grep FILE ERE [SECS]: waits until FILE has a line matching ERE.
ko_wait_grep() { ko_wait_count "$1" "$2" 1 "${3:-$KO_LIMIT}"; }

# ko_wait_size FILE BYTES [SECS]: waits until FILE holds at least BYTES.
ko_wait_size() {
    local i limit=${3:-$KO_LIMIT}
    for i in $(seq 1 $((limit * 40))); do
        [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
        sleep 0.025
    done
    echo "ko_wait_size: $1 smaller than $2 bytes" >&2
    return 1
}

# ko_stdin_fifo PATH: makes PATH a FIFO and keeps a writer on it (KO_HOLDER)
# so sockcat can open it as stdin and sees EOF only at ko_stdin_eof. Data
# goes in with ko_put or `ko_tool feed`.
ko_stdin_fifo() {
    mkfifo "$1" || return 1
    # The redirection blocks until sockcat opens the reading end.
    sleep "$((KO_LIMIT + 10))" >"$1" &
    KO_HOLDER=$!
}

# ko_stdin_eof: the last writer goes away: sockcat reads EOF on stdin.
ko_stdin_eof() {
    [ -n "$KO_HOLDER" ] || return 0
    kill "$KO_HOLDER" 2>/dev/null
    th_wait_pid "$KO_HOLDER" 5 >/dev/null
    KO_HOLDER=
}

# ko_put FIFO TEXT: writes TEXT (printf format) into FIFO, bounded.
ko_put() {
    timeout 5 bash -c 'printf -- "$2" >"$1"' _ "$1" "$2"
}

# ko_pid: the pid of sockcat itself (TH_PID is its `timeout` wrapper).
ko_pid() {
    local i pid
    for i in $(seq 1 200); do
        pid=$(pgrep -P "$TH_PID" 2>/dev/null | head -n1)
        [ -n "$pid" ] && { echo "$pid"; return 0; }
        sleep 0.025
    done
    return 1
}

# ko_signal SIG: sends SIG to sockcat.
ko_signal() {
    local pid
    pid=$(ko_pid) || return 1
    kill -s "$1" "$pid"
}

# ko_stop [SIG] [SECS]: signals sockcat (default TERM) and waits for it;
# sets TH_RC.
ko_stop() {
    ko_signal "${1:-TERM}"
    th_wait_pid "$TH_PID" "${2:-10}"
    TH_PID=
}

# ko_rss_kib: sockcat's peak resident set so far, in KiB.
ko_rss_kib() {
    local pid
    pid=$(ko_pid) || return 1
    th_peak_rss_kib "$pid"
}

# KO_SUMMARY_RE: the -v end-of-run line, as an ERE; KO_SUMMARY_START: the
# same line, whatever follows it.
KO_UNIT='(B|KiB|MiB|GiB)'
KO_SIZE="([0-9]+ B|[0-9]+\\.[0-9]{2} (KiB|MiB|GiB))"
KO_SUMMARY_START="^sockcat: $KO_SIZE sent, $KO_SIZE received in [0-9]+\\.[0-9]{2} s \\([0-9]+(\\.[0-9]+)? $KO_UNIT/s\\)"
KO_SUMMARY_RE="$KO_SUMMARY_START\$"

# ko_usage_error DESCRIPTION ARGS...: asserts that `sockcat ARGS` is a usage
# error: exit 2, nothing on stdout, "sockcat: " first (or a first line
# matching the ERE in KO_FIRST), the --help hint last.
ko_usage_error() {
    local what=$1 rc
    shift
    timeout 10 "$SOCKCAT" "$@" >"$KO_DIR/usage.out" 2>"$KO_DIR/usage.err" \
        </dev/null
    rc=$?
    assertEquals "$what: exit status" 2 "$rc"
    assertEquals "$what: stdout" "" "$(cat "$KO_DIR/usage.out")"
    assertEquals "$what: first line starts with 'sockcat: '" "sockcat: " \
        "$(head -n1 "$KO_DIR/usage.err" | cut -c1-9)"
    if [ -n "${KO_FIRST:-}" ]; then
        assertTrue "$what: first line like '$KO_FIRST' \
($(head -n1 "$KO_DIR/usage.err"))" \
            "head -n1 '$KO_DIR/usage.err' | grep -qE -- '$KO_FIRST'"
    fi
    assertEquals "$what: last line" \
        "Try 'sockcat --help' for more information." \
        "$(tail -n1 "$KO_DIR/usage.err")"
}
