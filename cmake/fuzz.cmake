# -DSOCKCAT_FUZZ=ON (with clang): every tests/fuzz/fuzz_*.c becomes a
# libFuzzer target of the same name, linked with all of src/ but main.c,
# under AddressSanitizer and UndefinedBehaviorSanitizer. .ci/fuzz runs them
# on the seeds in tests/fuzz/corpus/<target>/.
#
# Adding a target: one tests/fuzz/fuzz_<what>.c defining
# LLVMFuzzerTestOneInput, and a few seed inputs in tests/fuzz/corpus/fuzz_<what>/.

option(SOCKCAT_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only)" OFF)

if(SOCKCAT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SOCKCAT_FUZZ needs clang (libFuzzer): configure with CC=clang")
  endif()
  set(sockcat_fuzz_sanitizers address,undefined)
  set(sockcat_fuzz_cflags -fsanitize=fuzzer-no-link,${sockcat_fuzz_sanitizers}
      -fno-sanitize-recover=all -fno-omit-frame-pointer -g)

  set(sockcat_fuzz_sources ${SOCKCAT_SOURCES})
  list(FILTER sockcat_fuzz_sources EXCLUDE REGEX "/src/main\\.c$")
  # A static library: a target that includes a src/*.c itself (to reach its
  # static functions) takes that file's objects instead of the library's.
  add_library(sockcat_fuzz_core STATIC ${sockcat_fuzz_sources})
  # -iquote: src/stdio.h must not stand in for <stdio.h>.
  target_compile_options(sockcat_fuzz_core INTERFACE -iquote ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(sockcat_fuzz_core PUBLIC PkgConfig::LIBUV)
  target_compile_definitions(sockcat_fuzz_core PUBLIC ${SOCKCAT_DEFINITIONS} SOCKCAT_FUZZING)
  target_compile_options(sockcat_fuzz_core PUBLIC -Wall -Wextra
    $<$<BOOL:${SOCKCAT_WERROR}>:-Werror> ${sockcat_fuzz_cflags})

  file(GLOB sockcat_fuzz_targets CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  foreach(source ${sockcat_fuzz_targets})
    get_filename_component(name ${source} NAME_WE)
    add_executable(${name} ${source})
    target_link_libraries(${name} PRIVATE sockcat_fuzz_core)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,${sockcat_fuzz_sanitizers})
  endforeach()
endif()
