#!/bin/bash
# The man page is clean mdoc and renders, and the options named by
# `sockcat --help`, the man page and the three completion scripts are the
# same set, so none of them can drift from the others.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

: "${SOCKCAT_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
man_page=$SOCKCAT_SOURCE_DIR/man/sockcat.1
comp_bash=$SOCKCAT_SOURCE_DIR/completions/sockcat.bash
comp_zsh=$SOCKCAT_SOURCE_DIR/completions/_sockcat
comp_fish=$SOCKCAT_SOURCE_DIR/completions/sockcat.fish

oneTimeSetUp() {
    help_out=${SHUNIT_TMPDIR}/help.out
    help_err=${SHUNIT_TMPDIR}/help.err
    timeout 10 "$SOCKCAT" --help >"$help_out" 2>"$help_err"
    help_rc=$?
    # The long options --help lists, one per line: "allow", "deny", ...
    grep -oE -- '--[a-z][a-z0-9-]*' "$help_out" | cut -c3- | sort -u \
        >"${SHUNIT_TMPDIR}/opts.help"
}

# th_nocomment FILE: FILE without its comment lines.
th_nocomment() { grep -vE '^[[:space:]]*#' "$1"; }

# th_man_opts: the long options the man page documents as flags
# (".Fl \-name" in mdoc), one per line.
th_man_opts() {
    grep -oE 'Fl \\-(\\-|[a-z0-9])+' "$man_page" | sed -e 's/^Fl //' \
        -e 's/\\-/-/g' | grep -E '^-[a-z]' | cut -c2- | sort -u
}

# th_dash_opts FILE: the "--name" words outside comments, one per line.
th_dash_opts() {
    th_nocomment "$1" | grep -oE -- '--[a-z][a-z0-9-]*' | cut -c3- | sort -u
}

# th_bash_offered: the words of the option lists sockcat.bash offers
# (its _sockcat_opts_* variables), one per line.
th_bash_offered() {
    awk "/^_sockcat_opts_[a-z]*='/ { on = 1 } on { print } /'\$/ { on = 0 }" \
        "$comp_bash" |
        sed -e "s/^_sockcat_opts_[a-z]*='//" -e "s/'\$//" | tr -s ' ' '\n' |
        grep .
}

# th_fish_opts: the long options given to `complete -l`, one per line.
th_fish_opts() {
    grep -E '^complete ' "$comp_fish" |
        grep -oE -- '[[:space:]]-l [a-z][a-z0-9-]*' | sed -e 's/.*-l //' |
        sort -u
}

# th_same_set WHAT FILE: asserts that the options in FILE are those of
# --help, naming the ones missing on either side.
th_same_set() {
    local what=$1 file=$2 missing extra
    missing=$(comm -23 "${SHUNIT_TMPDIR}/opts.help" "$file" | tr '\n' ' ')
    extra=$(comm -13 "${SHUNIT_TMPDIR}/opts.help" "$file" | tr '\n' ' ')
    assertEquals "options of --help missing from $what" "" "$missing"
    assertEquals "options in $what that --help does not list" "" "$extra"
}

testHelpSucceedsOnStdout() {
    assertEquals "sockcat --help exit status" 0 "$help_rc"
    assertTrue "sockcat --help printed nothing on stdout" "[ -s '$help_out' ]"
    assertEquals "sockcat --help wrote to stderr" "" "$(cat "$help_err")"
}

testHelpListsOptions() {
    # Guards the comparisons below against an empty or garbled list.
    local n
    n=$(wc -l <"${SHUNIT_TMPDIR}/opts.help")
    assertTrue "--help lists only $n long options" "[ $n -ge 15 ]"
    for o in help version connect listen; do
        assertTrue "--help does not mention '$o'" "grep -q -- '$o' '$help_out'"
    done
}

testHelpFitsIn80Columns() {
    local long
    long=$(expand "$help_out" | awk 'length > 80 { print NR ": " $0 }')
    assertEquals "--help lines wider than 80 columns" "" "$long"
}

testManLintClean() {
    local out rc
    out=$(timeout 20 mandoc -Tlint -W warning "$man_page" 2>&1)
    rc=$?
    assertEquals "mandoc -Tlint -W warning reported" "" "$out"
    assertEquals "mandoc -Tlint exit status" 0 "$rc"
}

testManRendersWithMan() {
    command -v man >/dev/null ||
        fail "man(1) is missing: install man-db"
    local out=${SHUNIT_TMPDIR}/man.txt err=${SHUNIT_TMPDIR}/man.err
    MANWIDTH=80 timeout 30 man -l "$man_page" 2>"$err" |
        timeout 10 col -b >"$out"
    assertEquals "man -l complained" "" "$(cat "$err")"
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES \
        "SEE ALSO"; do
        assertTrue "man -l output lacks section $s" "grep -q '^$s' '$out'"
    done
    assertTrue "man -l output lacks the connect synopsis" \
        "grep -q 'sockcat connect \[' '$out'"
    assertTrue "man -l output lacks --keep-open" \
        "grep -q -- '--keep-open' '$out'"
}

testManRendersWithMandoc() {
    local out=${SHUNIT_TMPDIR}/mandoc.txt
    timeout 20 mandoc -Tutf8 -O width=80 "$man_page" >"$out.raw" 2>&1
    assertEquals "mandoc -Tutf8 exit status" 0 $?
    timeout 10 col -b <"$out.raw" >"$out"
    assertTrue "mandoc -Tutf8 output lacks EXIT STATUS" \
        "grep -q 'EXIT STATUS' '$out'"
}

testManDocumentsEveryHelpOption() {
    th_man_opts >"${SHUNIT_TMPDIR}/opts.man"
    th_same_set "man/sockcat.1" "${SHUNIT_TMPDIR}/opts.man"
}

testManPairsShortAndLongAsHelpDoes() {
    # "-k, --keep-open" in --help must be ".It Fl k , Fl \-keep\-open".
    local line short long pattern
    while read -r line; do
        short=$(sed -E 's/^ *-(.), --.*/\1/' <<<"$line")
        long=$(sed -E 's/^ *-., --([a-z0-9-]+).*/\1/' <<<"$line")
        pattern="^\.It Fl $short( Ar [a-z]+)? , Fl \\\\-${long//-/\\\\-}( |$)"
        assertTrue "man page has no '.It' entry for -$short, --$long" \
            "grep -qE '$pattern' '$man_page'"
    done < <(grep -E '^ *-[A-Za-z0-9], --' "$help_out")
}

testBashCompletionMatchesHelp() {
    # The lists it offers hold every option ...
    th_bash_offered | grep -E '^--' | cut -c3- | sort -u \
        >"${SHUNIT_TMPDIR}/opts.bash"
    th_same_set "completions/sockcat.bash (offered)" \
        "${SHUNIT_TMPDIR}/opts.bash"
    # ... and the option names its argument handling spells out exist too.
    local extra
    extra=$(th_dash_opts "$comp_bash" |
        comm -13 "${SHUNIT_TMPDIR}/opts.help" - | tr '\n' ' ')
    assertEquals "options in sockcat.bash that --help does not list" "" \
        "$extra"
}

testZshCompletionMatchesHelp() {
    th_dash_opts "$comp_zsh" >"${SHUNIT_TMPDIR}/opts.zsh"
    th_same_set "completions/_sockcat" "${SHUNIT_TMPDIR}/opts.zsh"
}

testFishCompletionMatchesHelp() {
    # Every option has its own `complete -l` line ...
    th_fish_opts >"${SHUNIT_TMPDIR}/opts.fish"
    th_same_set "completions/sockcat.fish (complete -l)" \
        "${SHUNIT_TMPDIR}/opts.fish"
    # ... and the option names its helpers spell out exist too.
    local extra
    extra=$(th_dash_opts "$comp_fish" |
        comm -13 "${SHUNIT_TMPDIR}/opts.help" - | tr '\n' ' ')
    assertEquals "options in sockcat.fish that --help does not list" "" \
        "$extra"
}

# th_has FILE ERE: true when FILE, without comments, matches ERE.
th_has() { th_nocomment "$1" | grep -qE -- "$2"; }

testCompletionsKnowEveryShortOption() {
    local letters l i
    letters=$(grep -oE '^ *-[A-Za-z0-9],' "$help_out" | tr -dc 'A-Za-z0-9')
    assertNotEquals "--help lists no short options" "" "$letters"
    for ((i = 0; i < ${#letters}; i++)); do
        l=${letters:i:1}
        assertTrue "sockcat.bash does not offer -$l" \
            "th_bash_offered | grep -qx -- '-$l'"
        assertTrue "_sockcat lacks -$l" \
            "th_has '$comp_zsh' '[{]-${l}[+]?,--'"
        assertTrue "sockcat.fish lacks -s $l" \
            "th_has '$comp_fish' ' -s $l '"
    done
}

. "$th_shunit2"
