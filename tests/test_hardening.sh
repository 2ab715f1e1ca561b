#!/bin/bash
# The binary carries the exploit mitigations the build asks for
# (cmake/harden.cmake): a position-independent executable, all symbols bound
# at start and the relocations read-only afterwards, stack canaries, and
# fortified libc calls. Read from the ELF file itself with readelf.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

oneTimeSetUp() {
    elf_header=$(timeout 10 readelf -hW "$SOCKCAT" 2>&1)
    dynamic=$(timeout 10 readelf -dW "$SOCKCAT" 2>&1)
    segments=$(timeout 10 readelf -lW "$SOCKCAT" 2>&1)
    symbols=$(timeout 10 readelf --dyn-syms -W "$SOCKCAT" 2>&1)
}

setUp() {
    [[ $elf_header == *"ELF Header"* ]] ||
        startSkipping "$SOCKCAT is not an ELF file readelf can read"
}

testPositionIndependentExecutable() {
    assertContains "ELF type" "$elf_header" "DYN (Position-Independent Executable"
    assertTrue "DF_1_PIE in FLAGS_1: $(grep FLAGS_1 <<<"$dynamic")" \
        "grep -Eq 'FLAGS_1.*[[:space:]]PIE' <<<\"\$dynamic\""
}

testBindNow() {
    # -z now sets BIND_NOW in FLAGS, NOW in FLAGS_1, or both.
    assertTrue "BIND_NOW: $(grep FLAGS <<<"$dynamic")" \
        "grep -Eq 'BIND_NOW|FLAGS_1.*[[:space:]]NOW' <<<\"\$dynamic\""
}

testReadOnlyRelocations() {
    assertContains "a GNU_RELRO segment" "$segments" "GNU_RELRO"
}

testNoExecutableStack() {
    assertTrue "GNU_STACK without E: $(grep GNU_STACK <<<"$segments")" \
        "grep -Eq 'GNU_STACK.*[[:space:]]RW[[:space:]]' <<<\"\$segments\""
}

testStackProtector() {
    assertContains "__stack_chk_fail is referenced" "$symbols" "__stack_chk_fail"
}

testFortifiedCalls() {
    # Sanitizer builds leave _FORTIFY_SOURCE out: their own checks cover it.
    if th_sanitized; then
        startSkipping "built with sanitizers ($SOCKCAT_SANITIZE): not fortified"
        return
    fi
    assertTrue "fortified (*_chk) libc functions are called" \
        "grep -Eq '__[a-z]+_chk(@|[[:space:]]|\$)' <<<\"\$symbols\""
}

. "$th_shunit2"
