#!/bin/bash
# The command line: usage errors (exit 2, the spec's message, a hint, nothing
# on stdout), --help and --version, and the GNU option syntax (permutation,
# --opt=value, bundling, --).
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/th_core.sh"

HINT="Try 'sockcat --help' for more information."
RANGE="must be an integer from 0 to 65535"
POSITIVE="must be a positive number of seconds"

setUp() { tc_setup; }
tearDown() { tc_teardown; }

# usage_error FIRSTLINE ARGS...: `sockcat ARGS...` is a usage error. (fd 3
# is open, so that --ready-fd 3 is judged on its mode alone.)
usage_error() {
    local want=$1 rc
    shift
    timeout 10 "$SOCKCAT" "$@" </dev/null >out 2>err 3>/dev/null
    rc=$?
    assertEquals "[$*] exit status" 2 "$rc"
    assertEquals "[$*] message" "$want" "$(sed -n 1p err)"
    assertEquals "[$*] hint" "$HINT" "$(sed -n 2p err)"
    assertEquals "[$*] two lines on stderr" 2 "$(wc -l <err)"
    assertEquals "[$*] nothing on stdout" 0 "$(stat -c %s out)"
}

testMissingCommand() {
    usage_error "sockcat: missing command: expected 'connect' or 'listen'"
    usage_error "sockcat: missing command: expected 'connect' or 'listen'" -v
}

testUnknownCommand() {
    usage_error \
        "sockcat: unknown command 'foo': expected 'connect' or 'listen'" \
        foo 127.0.0.1 80
}

testUnknownOption() {
    usage_error "sockcat: unknown option: --bogus" connect --bogus 127.0.0.1 80
    usage_error "sockcat: unknown option: --bogus" listen 80 --bogus
    usage_error "sockcat: unknown option: -Y" connect -Y 127.0.0.1 80
    usage_error "sockcat: unknown option: -Y" connect -vY 127.0.0.1 80
}

testMissingArgument() {
    usage_error "sockcat: option --wait: missing argument" \
        connect 127.0.0.1 80 --wait
    usage_error "sockcat: option -w: missing argument" connect 127.0.0.1 80 -w
}

testMissingOperand() {
    local c="sockcat: missing operand: connect needs HOST and PORT"
    usage_error "$c" connect
    usage_error "$c" connect 127.0.0.1
    usage_error "sockcat: missing operand: listen needs PORT" listen
    usage_error "sockcat: missing operand: listen needs PORT" listen -v
}

testExtraOperand() {
    usage_error "sockcat: extra operand: 'x'" connect 127.0.0.1 80 x
    usage_error "sockcat: extra operand: 'x'" listen 127.0.0.1 80 x
}

testBadPort() {
    local p
    for p in "" 65536 80x 123456789012345678901234567890; do
        usage_error "sockcat: invalid port '$p': $RANGE" connect 127.0.0.1 "$p"
        usage_error "sockcat: invalid port '$p': $RANGE" listen "$p"
    done
    usage_error "sockcat: invalid port '-1': $RANGE" connect -- 127.0.0.1 -1
    usage_error "sockcat: invalid port '-1': $RANGE" listen -- 127.0.0.1 -1
    usage_error "sockcat: invalid port '65536': $RANGE" \
        connect -p 65536 127.0.0.1 80
}

testPortZeroForConnect() {
    usage_error \
        "sockcat: invalid port '0': connect needs a port from 1 to 65535" \
        connect 127.0.0.1 0
}

testBadWait() {
    local w
    for w in -1 0 "" abc 1x; do
        usage_error "sockcat: invalid wait '$w': $POSITIVE" \
            connect -w "$w" 127.0.0.1 80
    done
    usage_error "sockcat: invalid wait 'abc': $POSITIVE" \
        connect --wait=abc 127.0.0.1 80
}

testConflictingOptions() {
    usage_error "sockcat: conflicting options: --send-only and --recv-only" \
        connect --send-only --recv-only 127.0.0.1 80
    timeout 10 "$SOCKCAT" connect -4 -6 127.0.0.1 80 </dev/null >out 2>err
    assertEquals "-4 -6: exit status" 2 $?
    assertContains "-4 -6: message" "$(sed -n 1p err)" \
        "sockcat: conflicting options: "
    assertEquals "-4 -6: nothing on stdout" 0 "$(stat -c %s out)"
}

testOptionNotValidInMode() {
    usage_error "sockcat: option --wait: not valid with listen" \
        listen -w 1 127.0.0.1 0
    usage_error "sockcat: option --source: not valid with listen" \
        listen -s 127.0.0.1 0
    usage_error "sockcat: option --keep-open: not valid with connect" \
        connect -k 127.0.0.1 80
    usage_error "sockcat: option --ready-fd: not valid with connect" \
        connect --ready-fd 3 127.0.0.1 80
}

testHelp() {
    local a
    for a in --help -h "connect --help" "listen -h"; do
        # shellcheck disable=SC2086
        timeout 10 "$SOCKCAT" $a </dev/null >out 2>err
        assertEquals "[$a] exit status" 0 $?
        assertContains "[$a] help names connect" "$(cat out)" "connect"
        assertContains "[$a] help names listen" "$(cat out)" "listen"
        assertEquals "[$a] stderr" "" "$(cat err)"
    done
}

testVersion() {
    local a
    for a in --version -V; do
        timeout 10 "$SOCKCAT" $a </dev/null >out 2>err
        assertEquals "[$a] exit status" 0 $?
        assertEquals "[$a] version" "sockcat 0.1.0" "$(cat out)"
        assertEquals "[$a] stderr" "" "$(cat err)"
    done
}

# -- option syntax that must work: each runs against a peer -------------------

# works_verbose ARGS...: `sockcat ARGS...`, with PORT replaced by a peer's
# port, gets the peer's bytes, exits 0 and says "connected to" (-v).
works_verbose() {
    local args=() a
    printf 'hello\n' >hello
    tc_peer_listen --send hello --report rep || { fail "peer"; return; }
    for a in "$@"; do
        [ "$a" = PORT ] && a=$TC_PEER_PORT
        args+=("$a")
    done
    timeout 10 "$SOCKCAT" "${args[@]}" </dev/null >out 2>err
    assertEquals "[$*] exit status" 0 $?
    assertEquals "[$*] stdout" "hello" "$(cat out)"
    assertContains "[$*] -v took effect" "$(cat err)" \
        "sockcat: connected to 127.0.0.1 $TC_PEER_PORT"
    th_wait_pid "$TC_PEER_PID" 5
}

testOptionAfterOperands() { works_verbose connect 127.0.0.1 PORT -v; }
testOptionBetweenOperands() { works_verbose connect 127.0.0.1 -v PORT; }
testOptionBeforeCommand() { works_verbose -v connect 127.0.0.1 PORT; }
testLongOptionWithEquals() {
    works_verbose connect --wait=5 --verbose 127.0.0.1 PORT
}
testLongOptionSeparateValue() {
    works_verbose connect --wait 5 --verbose 127.0.0.1 PORT
}
testShortOptionAttachedValue() { works_verbose connect -w5 -v 127.0.0.1 PORT; }
testBundledShortOptions() { works_verbose connect -vn 127.0.0.1 PORT; }
testBundledShortOptionWithValue() {
    works_verbose connect -4vw 5 127.0.0.1 PORT
}
testDoubleDashEndsOptions() { works_verbose connect -v -- 127.0.0.1 PORT; }

. "$th_shunit2"
