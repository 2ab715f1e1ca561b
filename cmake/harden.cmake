# The exploit mitigations every sockcat binary is built with (SOCKCAT_HARDEN,
# on by default). tests/test_hardening.sh checks the result with readelf.
#
#   PIE                         the executable is loaded at a random address
#   -Wl,-z,relro,-z,now         the GOT is resolved at start, then read-only
#   -fstack-protector-strong    a canary in every frame with arrays or addresses taken
#   -fstack-clash-protection    large frames probe each page: no jump over the guard
#   -fcf-protection             CET: indirect branches land on endbr64 only (x86)
#   -D_FORTIFY_SOURCE           bounds-checked memcpy, snprintf, read... where
#                               sizes are known; needs optimisation, and is left
#                               out of sanitizer builds, whose own checks it hides
#   -Wformat -Wformat-security  no format string that is not a literal

include(CheckCCompilerFlag)
include(CheckPIESupported)

if(SOCKCAT_HARDEN)
  check_pie_supported(OUTPUT_VARIABLE sockcat_pie_output LANGUAGES C)
  if(CMAKE_C_LINK_PIE_SUPPORTED)
    set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  else()
    message(WARNING "sockcat: the linker cannot make a PIE: ${sockcat_pie_output}")
  endif()

  set(SOCKCAT_HARDEN_CFLAGS -Wformat -Wformat-security)
  foreach(flag -fstack-protector-strong -fstack-clash-protection -fcf-protection)
    string(MAKE_C_IDENTIFIER "SOCKCAT_HAS${flag}" var)
    check_c_compiler_flag(${flag} ${var})
    if(${var})
      list(APPEND SOCKCAT_HARDEN_CFLAGS ${flag})
    endif()
  endforeach()

  # Level 3 also checks sizes known only at run time (GCC 12, Clang 16 on).
  set(SOCKCAT_FORTIFY_LEVEL 2)
  if((CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_C_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
     OR (CMAKE_C_COMPILER_ID STREQUAL "Clang" AND CMAKE_C_COMPILER_VERSION VERSION_GREATER_EQUAL 16))
    set(SOCKCAT_FORTIFY_LEVEL 3)
  endif()
endif()

# sockcat_harden(TARGET): the mitigations above for one target.
function(sockcat_harden target)
  if(NOT SOCKCAT_HARDEN)
    return()
  endif()
  target_compile_options(${target} PRIVATE ${SOCKCAT_HARDEN_CFLAGS})
  target_link_options(${target} PRIVATE -Wl,-z,relro,-z,now)
  if(NOT SOCKCAT_SANITIZE)
    # Undefined first: some toolchains predefine another level.
    target_compile_options(${target} PRIVATE
      $<$<NOT:$<CONFIG:Debug>>:-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=${SOCKCAT_FORTIFY_LEVEL}>)
  endif()
endfunction()
