# Small helpers so every layer declares its target the same way.

# lmc_library(NAME SOURCES ... DEPS ...): a static library whose headers are
# included as "<folder>/<header>.h" relative to impl/.
function(lmc_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/impl)
  target_link_libraries(${name} PUBLIC ${A_DEPS} PRIVATE lmc_options)
endfunction()

# lmc_test(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary
# registered with CTest; RapidCheck is always available to it.
function(lmc_test name)
  if(NOT LMC_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} lmc_options
    rapidcheck_gtest rapidcheck GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    LMC_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    LMC_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${A_LABELS}")
endfunction()
