#!/bin/bash
# The completion scripts, run in real bash, fish and zsh: command words,
# options per mode, option arguments, hosts and ports.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

: "${SOCKCAT_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
comp_dir=$SOCKCAT_SOURCE_DIR/completions

oneTimeSetUp() {
    # A home of our own: no user rc files, and one host every shell's host
    # completion knows from ~/.ssh.
    th_home=${SHUNIT_TMPDIR}/home
    mkdir -p "$th_home/.ssh"
    printf 'Host sockcat-test-host\n    HostName 192.0.2.10\n' \
        >"$th_home/.ssh/config"
    printf '%s ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKey\n' \
        sockcat-test-host >"$th_home/.ssh/known_hosts"

    # bash driver: completes each argument as if typed at the prompt and
    # prints COMPREPLY, one candidate per line, after a "== LINE" header.
    th_bash_driver=${SHUNIT_TMPDIR}/complete.bash
    cat >"$th_bash_driver" <<'EOF'
set -f
. /usr/share/bash-completion/bash_completion || exit 3
. "$SC_COMPLETION" || exit 3
declare -F _sockcat >/dev/null || exit 4
for line in "$@"; do
    # Split the way readline does for us: on blanks, with each run of "="
    # and ":" a word of its own (they are in COMP_WORDBREAKS), so that
    # "--stats=j" is "--stats" "=" "j" and "fe80::1" is "fe80" "::" "1".
    words=()
    for w in $line; do
        while [[ $w =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
            [[ -n ${BASH_REMATCH[1]} ]] && words+=("${BASH_REMATCH[1]}")
            words+=("${BASH_REMATCH[2]}")
            w=${BASH_REMATCH[3]}
        done
        [[ -n $w ]] && words+=("$w")
    done
    [[ $line == *' ' ]] && words+=("")
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _sockcat sockcat "${COMP_WORDS[COMP_CWORD]}" \
        "${COMP_WORDS[COMP_CWORD - 1]}"
    echo "== $line"
    printf '%s\n' "${COMPREPLY[@]}"
done
EOF

    # zsh: an interactive zsh in a zpty types the line and a TAB; a compadd
    # wrapper records each match the completion offers.
    th_zsh_rc=${SHUNIT_TMPDIR}/zshrc
    cat >"$th_zsh_rc" <<'EOF'
PS1='> '
unsetopt beep
fpath=($SC_FPATH $fpath)
autoload -Uz compinit
compinit -u -D
compadd() {
    # Calls that only collect matches (-O, -A, -D) pass straight through.
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a __m
    builtin compadd -O __m "$@"
    (( $#__m )) && print -rl -- $__m >>$SC_OUT
    # What the list shows for them ("--ipv4  -- use IPv4 only"), from -d.
    local __i
    for (( __i = 1; __i < $#; __i++ )); do
        [[ ${@[__i]} == (-|--) ]] && break
        [[ ${@[__i]} == -d ]] && print -rl -- ${(P)@[__i+1]} >>$SC_OUT.d
    done
    builtin compadd "$@"
}
EOF
    th_zsh_driver=${SHUNIT_TMPDIR}/complete.zsh
    cat >"$th_zsh_driver" <<'EOF'
# zsh -f complete.zsh RC OUT LINE: prints what LINE<TAB> offers.
zmodload zsh/zpty || exit 3
rc=$1 out=$2 line=$3 flag=$2.flag
rm -f $out $out.d $flag
zpty -b sc zsh -f -i || exit 3
# Each step ends by writing $flag; wait for it, draining the terminal.
step() {
    local i junk
    rm -f $flag
    zpty -w sc "$@"
    for i in {1..400}; do
        [[ -s $flag ]] && return 0
        zpty -r -t sc junk
        sleep 0.025
    done
    print -u2 "complete.zsh: no answer from the interactive zsh"
    zpty -d sc
    exit 1
}
step "SC_OUT=$out SC_FPATH=$SC_FPATH; source $rc; print ok >$flag"
zpty -w -n sc "$line"$'\t'
step $'\C-u'"print ok >$flag"
zpty -d sc
if [[ -n $SC_DISPLAY ]]; then
    [[ -f $out.d ]] && cat $out.d
else
    [[ -f $out ]] && cat $out
fi
exit 0
EOF
}

# th_bash LINE...: what bash offers for each LINE (see the driver).
th_bash() {
    HOME=$th_home SC_COMPLETION=$comp_dir/sockcat.bash \
        timeout 30 bash --norc --noprofile "$th_bash_driver" "$@"
}

# th_bash_one LINE: what bash offers for LINE, space-separated and sorted.
th_bash_one() { th_bash "$1" | sed -e 1d -e '/^$/d' | sort | tr '\n' ' '; }

# th_fish LINE: what fish offers for LINE, space-separated and sorted.
th_fish() {
    HOME=$th_home XDG_CONFIG_HOME=$th_home/.config \
        XDG_DATA_HOME=$th_home/.local/share timeout 30 fish --no-config -c \
        "source '$comp_dir/sockcat.fish'; complete -C '$1'" |
        cut -f1 | sort | tr '\n' ' '
}

# th_zsh LINE: what zsh offers for LINE, space-separated and sorted.
th_zsh() {
    HOME=$th_home SC_FPATH=$comp_dir timeout 60 zsh -f "$th_zsh_driver" \
        "$th_zsh_rc" "${SHUNIT_TMPDIR}/zsh.out" "$1" | sort -u | tr '\n' ' '
}

# th_zsh_display LINE: the lines zsh's list shows for LINE's matches, such
# as "--ipv4  -- use IPv4 only", one per line, blanks squeezed.
th_zsh_display() {
    HOME=$th_home SC_FPATH=$comp_dir SC_DISPLAY=1 timeout 60 zsh -f \
        "$th_zsh_driver" "$th_zsh_rc" "${SHUNIT_TMPDIR}/zsh.out" "$1" |
        tr -s ' '
}

# th_help_descs: "NAME<TAB>DESCRIPTION" for each long option `sockcat --help`
# lists, as in "keep-open<TAB>serve many clients at once; broadcast stdin".
th_help_descs() {
    timeout 10 "$SOCKCAT" --help |
        sed -nE 's/^ +(-[A-Za-z0-9], )?--([a-z0-9-]+)( [][A-Z/]+)? +/\2\t/p'
}

# th_has_all WHAT OFFERED WORD...: asserts each WORD is in OFFERED.
th_has_all() {
    local what=$1 offered=" $2" w
    shift 2
    for w in "$@"; do
        assertContains "$what: '$w' not offered; got: $offered" \
            "$offered" " $w "
    done
}

# th_has_none WHAT OFFERED WORD...: asserts no WORD is in OFFERED.
th_has_none() {
    local what=$1 offered=" $2" w
    shift 2
    for w in "$@"; do
        assertNotContains "$what: '$w' offered; got: $offered" \
            "$offered" " $w "
    done
}

# --- bash -------------------------------------------------------------------

testBashLoadsWithoutNoise() {
    local out
    out=$(HOME=$th_home timeout 30 bash --norc --noprofile -c \
        ". /usr/share/bash-completion/bash_completion &&
         . '$comp_dir/sockcat.bash' && complete -p sockcat" 2>&1)
    assertEquals "bash registers _sockcat" "complete -F _sockcat sockcat" \
        "$out"
}

testBashCommands() {
    assertEquals "bash: 'sockcat '" "connect listen " \
        "$(th_bash_one 'sockcat ')"
    assertEquals "bash: 'sockcat l'" "listen " "$(th_bash_one 'sockcat l')"
    assertEquals "bash: 'sockcat -v '" "connect listen " \
        "$(th_bash_one 'sockcat -v ')"
}

testBashOptionsPerMode() {
    assertEquals "bash: 'sockcat listen --keep-'" "--keep-open " \
        "$(th_bash_one 'sockcat listen --keep-')"
    local got
    got=$(th_bash_one 'sockcat connect --')
    th_has_all "bash connect" "$got" --wait --source --source-port --ipv4 \
        --stats --recv-only --verbose --help
    th_has_none "bash connect" "$got" --keep-open --max-conns --allow \
        --deny --ready-fd --slow-client
    got=$(th_bash_one 'sockcat listen --')
    th_has_all "bash listen" "$got" --keep-open --max-conns --allow --deny \
        --ready-fd --slow-client --ipv6 --no-shutdown
    th_has_none "bash listen" "$got" --wait --source --source-port
    got=$(th_bash_one 'sockcat -')
    th_has_all "bash before the command" "$got" -k -w --keep-open --wait
    got=$(th_bash_one 'sockcat listen -')
    th_has_all "bash listen short" "$got" -k -m -4 -v
    th_has_none "bash listen short" "$got" -w -s -p
}

testBashOptionArguments() {
    assertEquals "bash: --slow-client" "block disconnect drop " \
        "$(th_bash_one 'sockcat listen -k --slow-client ')"
    assertEquals "bash: --slow-client=d" "disconnect drop " \
        "$(th_bash_one 'sockcat listen --slow-client=d')"
    assertEquals "bash: --stats" "json text " \
        "$(th_bash_one 'sockcat connect --stats ')"
    assertEquals "bash: --stats=" "json text " \
        "$(th_bash_one 'sockcat --stats=')"
    assertEquals "bash: -w takes a number" "" \
        "$(th_bash_one 'sockcat connect -w ')"
    assertEquals "bash: --allow takes an address" "" \
        "$(th_bash_one 'sockcat listen --allow ')"
    assertEquals "bash: --ready-fd takes a number" "" \
        "$(th_bash_one 'sockcat listen --ready-fd ')"
    th_has_all "bash: -s" "$(th_bash_one 'sockcat connect -s ')" 127.0.0.1
    th_has_all "bash: -p" "$(th_bash_one 'sockcat connect -p ss')" ssh
}

testBashOperands() {
    th_has_all "bash: connect HOST" \
        "$(th_bash_one 'sockcat connect sockcat-test')" sockcat-test-host
    th_has_all "bash: connect HOST" "$(th_bash_one 'sockcat connect localh')" \
        localhost
    th_has_all "bash: connect PORT by name" \
        "$(th_bash_one 'sockcat connect example.org ss')" ssh
    th_has_all "bash: connect PORT by number" \
        "$(th_bash_one 'sockcat -v connect -w 1 example.org 2')" 22
    th_has_all "bash: listen PORT" "$(th_bash_one 'sockcat listen htt')" \
        http https
    th_has_all "bash: listen HOST PORT" \
        "$(th_bash_one 'sockcat listen 127.0.0.1 htt')" http
    assertEquals "bash: nothing after listen PORT" "" \
        "$(th_bash_one 'sockcat listen 8080 ')"
    assertEquals "bash: nothing after connect HOST PORT" "" \
        "$(th_bash_one 'sockcat connect example.org 80 ')"
}

testBashUnixPath() {
    mkdir -p "$th_home/run" && : >"$th_home/run/app.sock"
    th_has_all "bash: -U PATH" \
        "$(cd "$th_home" && th_bash_one 'sockcat connect -U run/ap')" run/app.sock
    th_has_all "bash: listen -kU PATH" \
        "$(cd "$th_home" && th_bash_one 'sockcat listen -kU run/ap')" run/app.sock
    th_has_all "bash: -U before the command" \
        "$(cd "$th_home" && th_bash_one 'sockcat --unix listen run/ap')" run/app.sock
    assertEquals "bash: no PORT after -U PATH" "" \
        "$(cd "$th_home" && th_bash_one 'sockcat connect -U run/app.sock ')"
    th_has_all "bash: -U offered" "$(th_bash_one 'sockcat connect -')" -U --unix
    th_has_all "bash: -u offered" "$(th_bash_one 'sockcat listen -')" -u --udp
}

testBashOperandsAfterIPv6() {
    # readline breaks "::1" into "::" "1" (":" is in COMP_WORDBREAKS); it
    # is still one operand.
    th_has_all "bash: connect ::1 PORT" \
        "$(th_bash_one 'sockcat connect ::1 ht')" http https
    th_has_all "bash: listen ::1 PORT" \
        "$(th_bash_one 'sockcat listen ::1 ht')" http https
    th_has_all "bash: -4 listen -k fe80::1 PORT" \
        "$(th_bash_one 'sockcat -4 listen -k fe80::1 ')" 22 ssh
    th_has_all "bash: connect -s ::1 HOST PORT" \
        "$(th_bash_one 'sockcat connect -s ::1 example.org ss')" ssh
    assertEquals "bash: nothing after listen ::1 PORT" "" \
        "$(th_bash_one 'sockcat listen ::1 8080 ')"
    assertEquals "bash: nothing after connect ::1 PORT" "" \
        "$(th_bash_one 'sockcat connect ::1 80 ')"
    # An IPv6 match loses what readline has already taken for other words:
    # after "::" it inserts "1".
    th_has_all "bash: -s ::" "$(th_bash_one 'sockcat connect -s ::')" 1
    th_has_all "bash: listen ::" "$(th_bash_one 'sockcat listen ::')" 1
}

testBashWithoutBashCompletion() {
    # Plain bash, no bash-completion: commands and options still work.
    local out
    out=$(HOME=$th_home timeout 30 bash --norc --noprofile -c "
        . '$comp_dir/sockcat.bash'
        COMP_WORDS=(sockcat listen --keep-); COMP_CWORD=2
        COMP_LINE='sockcat listen --keep-'; COMP_POINT=22
        _sockcat sockcat --keep- listen; echo \"\${COMPREPLY[*]}\"
        COMP_WORDS=(sockcat --stats = ''); COMP_CWORD=3
        COMP_LINE='sockcat --stats='; COMP_POINT=16
        _sockcat sockcat '' =; echo \"\${COMPREPLY[*]}\"" 2>&1)
    assertEquals "bash without bash-completion" \
        "--keep-open"$'\n'"text json" "$out"
}

# --- fish -------------------------------------------------------------------

testFishLoadsWithoutNoise() {
    local out
    out=$(HOME=$th_home timeout 30 fish --no-config -c \
        "source '$comp_dir/sockcat.fish'" 2>&1)
    assertEquals "fish: sourcing sockcat.fish" "" "$out"
    assertTrue "fish -n" \
        "timeout 30 fish --no-execute '$comp_dir/sockcat.fish'"
}

testFishCommands() {
    assertEquals "fish: 'sockcat '" "connect listen " "$(th_fish 'sockcat ')"
    assertEquals "fish: after a command" "" \
        "$(th_fish 'sockcat listen 80 ')"
}

testFishOptionsPerMode() {
    local got
    got=$(th_fish 'sockcat listen --')
    th_has_all "fish listen" "$got" --keep-open --max-conns --allow --deny \
        --ready-fd --slow-client --ipv4 --stats
    th_has_none "fish listen" "$got" --wait --source --source-port
    got=$(th_fish 'sockcat connect --')
    th_has_all "fish connect" "$got" --wait --source --source-port --ipv6 \
        --no-shutdown
    th_has_none "fish connect" "$got" --keep-open --max-conns --allow \
        --deny --ready-fd --slow-client
    assertEquals "fish: 'sockcat listen --keep-'" "--keep-open " \
        "$(th_fish 'sockcat listen --keep-')"
}

testFishOptionArguments() {
    assertEquals "fish: --slow-client" "block disconnect drop " \
        "$(th_fish 'sockcat listen -k --slow-client ')"
    assertEquals "fish: --stats=" "--stats=json --stats=text " \
        "$(th_fish 'sockcat --stats=')"
    assertEquals "fish: -w takes a number" "" \
        "$(th_fish 'sockcat connect -w ')"
    th_has_all "fish: -p" "$(th_fish 'sockcat connect -p ss')" ssh
}

testFishOperands() {
    th_has_all "fish: connect HOST" "$(th_fish 'sockcat connect sockcat-t')" \
        sockcat-test-host
    th_has_all "fish: connect PORT" \
        "$(th_fish 'sockcat connect example.org ht')" http https
    th_has_all "fish: connect PORT by number" \
        "$(th_fish 'sockcat connect -w 1 example.org 2')" 22
    th_has_all "fish: listen PORT" "$(th_fish 'sockcat listen ss')" ssh
    th_has_all "fish: listen HOST PORT" \
        "$(th_fish 'sockcat listen 127.0.0.1 ss')" ssh
}

testFishUnixPath() {
    mkdir -p "$th_home/run" && : >"$th_home/run/app.sock"
    th_has_all "fish: -U PATH" \
        "$(cd "$th_home" && th_fish 'sockcat connect -U run/ap')" run/app.sock
    th_has_all "fish: listen -kU PATH" \
        "$(cd "$th_home" && th_fish 'sockcat listen -kU run/ap')" run/app.sock
    th_has_none "fish: no port for -U" \
        "$(cd "$th_home" && th_fish 'sockcat listen -U ss')" ssh
    th_has_all "fish: -U offered" "$(th_fish 'sockcat connect --un')" --unix
}

testFishNoPortAfterListenPort() {
    # The PORT was given; an option after it does not make room for another.
    assertEquals "fish: listen PORT -k" "" \
        "$(th_fish 'sockcat listen 4000 -k ')"
    assertEquals "fish: -k listen PORT -v" "" \
        "$(th_fish 'sockcat -k listen 4000 -v ')"
    assertEquals "fish: listen HOST PORT -k" "" \
        "$(th_fish 'sockcat listen 127.0.0.1 4000 -k ')"
    assertEquals "fish: connect HOST PORT -v" "" \
        "$(th_fish 'sockcat connect example.org 80 -v ')"
    # After a HOST the PORT is still to come, options or not.
    th_has_all "fish: listen HOST -k PORT" \
        "$(th_fish 'sockcat listen 127.0.0.1 -k ss')" ssh
    th_has_all "fish: listen -m 2 HOST PORT" \
        "$(th_fish 'sockcat listen -m 2 localhost ht')" http https
}

testFishDescriptionsMatchHelp() {
    local got name desc bad=
    got=$(HOME=$th_home XDG_CONFIG_HOME=$th_home/.config \
        XDG_DATA_HOME=$th_home/.local/share timeout 30 fish --no-config -c \
        "source '$comp_dir/sockcat.fish'; complete -C 'sockcat --'")
    while IFS=$'\t' read -r name desc; do
        # fish's own style: a capital first letter.
        grep -qxF -- "--$name"$'\t'"${desc^}" <<<"$got" || bad+=" --$name"
    done < <(th_help_descs)
    assertEquals "fish: options not described as --help does; got:
$got
" "" "$bad"
    assertTrue "fish: --help parsed into too few options" \
        "[ $(th_help_descs | wc -l) -ge 15 ]"
}

# --- zsh --------------------------------------------------------------------

testZshLoadsWithCompinit() {
    local out
    out=$(HOME=$th_home timeout 30 zsh -f -c "
        fpath=('$comp_dir' \$fpath)
        autoload -Uz compinit && compinit -u -D || exit 1
        print -r -- \$_comps[sockcat]" 2>&1)
    assertEquals "zsh: compinit maps sockcat to _sockcat" "_sockcat" "$out"
    assertTrue "zsh -n _sockcat" "timeout 30 zsh -n '$comp_dir/_sockcat'"
}

testZshCommands() {
    assertEquals "zsh: 'sockcat '" "connect listen " "$(th_zsh 'sockcat ')"
}

testZshOptionsPerMode() {
    local got
    got=$(th_zsh 'sockcat listen --')
    th_has_all "zsh listen" "$got" --keep-open --max-conns --allow --deny \
        --ready-fd --slow-client --ipv4 --stats
    th_has_none "zsh listen" "$got" --wait --source --source-port
    got=$(th_zsh 'sockcat connect --')
    th_has_all "zsh connect" "$got" --wait --source --source-port --ipv6
    th_has_none "zsh connect" "$got" --keep-open --max-conns --allow \
        --slow-client
    assertEquals "zsh: 'sockcat listen --keep-'" "--keep-open " \
        "$(th_zsh 'sockcat listen --keep-')"
}

testZshOptionArguments() {
    assertEquals "zsh: --slow-client" "block disconnect drop " \
        "$(th_zsh 'sockcat listen -k --slow-client ')"
    assertEquals "zsh: --stats=" "json text " "$(th_zsh 'sockcat --stats=')"
}

testZshOperands() {
    th_has_all "zsh: connect HOST" "$(th_zsh 'sockcat connect localh')" \
        localhost
    th_has_all "zsh: connect PORT" "$(th_zsh 'sockcat connect localhost ss')" \
        ssh
    th_has_all "zsh: listen HOST PORT" \
        "$(th_zsh 'sockcat listen 127.0.0.1 htt')" http https
}

testZshUnixPath() {
    mkdir -p "$th_home/run" && : >"$th_home/run/app.sock"
    th_has_all "zsh: -U PATH" \
        "$(cd "$th_home/run" && th_zsh 'sockcat connect -U ap')" app.sock
    th_has_all "zsh: -U before the command" \
        "$(cd "$th_home/run" && th_zsh 'sockcat -U listen ap')" app.sock
    th_has_none "zsh: no port for -U" \
        "$(cd "$th_home/run" && th_zsh 'sockcat listen -U ss')" ssh
    th_has_all "zsh: both transports offered" "$(th_zsh 'sockcat connect --')" --udp --unix
    # -U with -u is a Unix datagram socket: each offers the other.
    th_has_all "zsh: --udp after -U" "$(th_zsh 'sockcat connect -U --')" --udp
    th_has_all "zsh: --unix after -u" "$(th_zsh 'sockcat listen -u --')" --unix
}

testZshOptionsAfterCommand() {
    # Options between the command word and the operands: the command word
    # is still the command, and the operands are counted after them.
    th_has_all "zsh: connect -4 HOST PORT" \
        "$(th_zsh 'sockcat connect -4 localhost ss')" ssh
    th_has_all "zsh: -v connect -w 1 HOST PORT" \
        "$(th_zsh 'sockcat -v connect -w 1 localhost ss')" ssh
    th_has_all "zsh: listen -k HOST PORT" \
        "$(th_zsh 'sockcat listen -k 127.0.0.1 ss')" ssh
    th_has_all "zsh: listen -k PORT" "$(th_zsh 'sockcat listen -k htt')" \
        http https
    assertEquals "zsh: nothing after listen -k PORT" "" \
        "$(th_zsh 'sockcat listen -k 8080 ')"
    local got
    got=$(th_zsh 'sockcat listen -k -')
    th_has_all "zsh listen -k" "$got" --max-conns --slow-client --ipv4 -m -4
    th_has_none "zsh listen -k" "$got" --wait --source --source-port -w -s
    got=$(th_zsh 'sockcat connect -4 --')
    th_has_all "zsh connect -4" "$got" --wait --source --stats
    th_has_none "zsh connect -4" "$got" --keep-open --max-conns --allow
}

testZshDescriptionsMatchHelp() {
    local got name desc bad=
    got=$(th_zsh_display 'sockcat --')
    while IFS=$'\t' read -r name desc; do
        grep -qxF -- "--$name -- $desc" <<<"$got" || bad+=" --$name"
    done < <(th_help_descs)
    assertEquals "zsh: options not described as --help does; got:
$got
" "" "$bad"
    assertTrue "zsh: --help parsed into too few options" \
        "[ $(th_help_descs | wc -l) -ge 15 ]"
}

. "$th_shunit2"
