#!/bin/bash
# `cmake --install` (with a prefix, and with DESTDIR) and `cpack -G DEB` put
# the binary, the man page and the three completion scripts where they
# belong, and the package depends on libuv1.
. "$(dirname "${BASH_SOURCE[0]}")/th_lib.sh"

: "${SOCKCAT_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${SOCKCAT_BINARY_DIR:=$(dirname "$SOCKCAT")}"

# What gets installed, relative to the prefix, and where it comes from.
th_installed_files="bin/sockcat
share/man/man1/sockcat.1
share/bash-completion/completions/sockcat
share/zsh/site-functions/_sockcat
share/fish/vendor_completions.d/sockcat.fish"

# th_source_of PATH: the source file an installed PATH is a copy of.
th_source_of() {
    local src=$SOCKCAT_SOURCE_DIR
    case $1 in
        */man1/sockcat.1) echo "$src/man/sockcat.1" ;;
        */completions/sockcat) echo "$src/completions/sockcat.bash" ;;
        */_sockcat) echo "$src/completions/_sockcat" ;;
        */sockcat.fish) echo "$src/completions/sockcat.fish" ;;
    esac
}

# th_need TOOL PACKAGE: fails loudly when TOOL is missing.
th_need() {
    command -v "$1" >/dev/null && return 0
    fail "$1 is missing: install the Debian package $2"
    return 1
}

oneTimeSetUp() {
    th_tmp=${SHUNIT_TMPDIR}/install
    mkdir -p "$th_tmp"
    # "sockcat 0.1.0", from the build under test.
    th_version=$(timeout 10 "$SOCKCAT" --version 2>&1)
}

# th_check_tree ROOT: asserts that ROOT holds every installed file, the
# binary runs, and the data files are copies of their sources.
th_check_tree() {
    local root=$1 f src
    for f in $th_installed_files; do
        assertTrue "$root/$f is missing" "[ -f '$root/$f' ]"
        src=$(th_source_of "$f")
        if [ -n "$src" ] && [ -f "$root/$f" ]; then
            assertTrue "$root/$f differs from $src" "cmp -s '$src' '$root/$f'"
        fi
    done
    assertTrue "$root/bin/sockcat is not executable" \
        "[ -x '$root/bin/sockcat' ]"
    assertEquals "installed sockcat --version" "$th_version" \
        "$(timeout 10 "$root/bin/sockcat" --version 2>&1)"
}

testBuildDirIsConfigured() {
    assertContains "sockcat --version from $SOCKCAT" "$th_version" "sockcat "
    assertTrue "no cmake_install.cmake in $SOCKCAT_BINARY_DIR" \
        "[ -f '$SOCKCAT_BINARY_DIR/cmake_install.cmake' ]"
    assertTrue "no CPackConfig.cmake in $SOCKCAT_BINARY_DIR" \
        "[ -f '$SOCKCAT_BINARY_DIR/CPackConfig.cmake' ]"
}

testInstallWithPrefix() {
    th_need cmake cmake || return
    local prefix=$th_tmp/prefix
    local rc
    timeout 120 cmake --install "$SOCKCAT_BINARY_DIR" --prefix "$prefix" \
        >"$th_tmp/prefix.out" 2>&1
    rc=$?
    assertEquals "cmake --install --prefix: $(cat "$th_tmp/prefix.out")" 0 $rc
    th_check_tree "$prefix"
}

testInstallWithDestdir() {
    th_need cmake cmake || return
    local dest=$th_tmp/destdir
    local rc
    DESTDIR=$dest timeout 120 cmake --install "$SOCKCAT_BINARY_DIR" \
        --prefix /usr >"$th_tmp/destdir.out" 2>&1
    rc=$?
    assertEquals "DESTDIR=... cmake --install: $(cat "$th_tmp/destdir.out")" \
        0 $rc
    th_check_tree "$dest/usr"
    # Nothing may land outside DESTDIR's /usr.
    local stray
    stray=$(cd "$dest" && find . -mindepth 1 -maxdepth 1 ! -name usr)
    assertEquals "DESTDIR install wrote outside usr/" "" "$stray"
}

testDebianPackage() {
    th_need cpack cmake || return
    th_need dpkg-deb dpkg || return
    local pkgdir=$th_tmp/pkg deb info contents f rc
    timeout 300 cpack -G DEB --config "$SOCKCAT_BINARY_DIR/CPackConfig.cmake" \
        -B "$pkgdir" >"$th_tmp/cpack.out" 2>&1
    rc=$?
    assertEquals "cpack -G DEB: $(cat "$th_tmp/cpack.out")" 0 $rc
    deb=$(find "$pkgdir" -maxdepth 1 -name 'sockcat*.deb' | head -n1)
    assertNotEquals "cpack made no .deb in $pkgdir" "" "$deb"
    [ -n "$deb" ] || return

    info=$(timeout 30 dpkg-deb -I "$deb")
    assertEquals "dpkg-deb -I failed" 0 $?
    assertContains "package name: $info" "$info" "Package: sockcat"
    assertContains "package version: $info" "$info" \
        "Version: ${th_version#sockcat }"
    assertContains "package dependency on libuv1: $info" "$info" \
        "Depends: libuv1"

    contents=$(timeout 30 dpkg-deb -c "$deb")
    assertEquals "dpkg-deb -c failed" 0 $?
    contents+=$'\n'
    for f in $th_installed_files; do
        assertContains "package lacks /usr/$f" "$contents" "./usr/$f"$'\n'
    done

    # The packaged files are the built binary and the sources themselves.
    local x=$th_tmp/extract
    timeout 60 dpkg-deb -x "$deb" "$x"
    assertEquals "dpkg-deb -x failed" 0 $?
    th_check_tree "$x/usr"
}

. "$th_shunit2"
