# Small helpers so every layer declares its target the same way.

# lmc_library(NAME SOURCES ... DEPS ... [PRIVATE_DEPS ...] [PUBLIC_HEADERS ...]):
# a static library whose headers are included as "<folder>/<header>.h".
#
# Each library gets an include root of its own, holding only its folder
# (build/include/NAME/<folder> -> the source folder), so a target sees the
# headers of the layers it links and no others: a layer that reaches around
# another fails to build. PUBLIC_HEADERS are the headers `cmake --install`
# puts under include/lmcache-kit/<folder>/; the others stay internal.
function(lmc_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PRIVATE_DEPS;PUBLIC_HEADERS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} NAME)
  set(root ${PROJECT_BINARY_DIR}/include/${name})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${root}/${folder} SYMBOLIC)
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${root}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/lmcache-kit>)
  target_link_libraries(${name} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS} $<BUILD_INTERFACE:lmc_options>)
  # An instrumented build (coverage, sanitizers) makes instrumented archives:
  # whoever links them from the installed package needs the same runtime.
  if(LMC_INSTRUMENT_LINK_FLAGS)
    target_link_options(${name} INTERFACE $<INSTALL_INTERFACE:${LMC_INSTRUMENT_LINK_FLAGS}>)
  endif()
  # The exported name drops the prefix: lmc_wire is lmc::wire.
  string(REGEX REPLACE "^lmc_" "" short ${name})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${short})
  add_library(lmc::${short} ALIAS ${name})
  # The layers of impl/ are the installed, exported libraries.
  if(CMAKE_CURRENT_SOURCE_DIR MATCHES "/impl/")
    set_property(GLOBAL APPEND PROPERTY LMC_INSTALLED_LIBRARIES ${name})
  endif()
  if(A_PUBLIC_HEADERS)
    install(FILES ${A_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lmcache-kit/${folder}
            COMPONENT dev)
  endif()
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
