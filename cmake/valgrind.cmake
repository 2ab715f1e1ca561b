# -DSOCKCAT_VALGRIND=ON: the core suites once more, each as a CTest test
# labelled `valgrind` (ctest -L valgrind), with every sockcat they start
# under memcheck (tests/valgrind/run). Off by default: valgrind makes them
# several times slower. .ci/valgrind runs them in a debug build, where a
# handle left open at exit also fails (main.c asserts it).
#
# The suites chosen move little data and wait on readiness, not on time,
# so memcheck's slowness does not change what they see.

option(SOCKCAT_VALGRIND "Add the core suites under valgrind (label valgrind)" OFF)
# (test_errors is not one: it asserts wall-clock bounds of half a second.)
set(SOCKCAT_VALGRIND_SUITES test_usage test_connect test_listen)

if(SOCKCAT_VALGRIND AND BUILD_TESTING)
  foreach(suite ${SOCKCAT_VALGRIND_SUITES})
    add_test(NAME valgrind_${suite}
             COMMAND bash ${PROJECT_SOURCE_DIR}/tests/valgrind/run ${suite} $<TARGET_FILE:sockcat>
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests)
    set_tests_properties(valgrind_${suite} PROPERTIES LABELS valgrind TIMEOUT 900
      ENVIRONMENT "LOADCLIENT=$<TARGET_FILE:sc_loadclient>;SOCKCAT_SOURCE_DIR=${PROJECT_SOURCE_DIR};SOCKCAT_BINARY_DIR=${PROJECT_BINARY_DIR}")
  endforeach()
endif()
