# Compiler warnings, sanitizers and the fuzz build, each checked at configure
# time so a misconfigured build fails here and not at link time.
include(CheckCXXSourceCompiles)

add_library(lmc_options INTERFACE)
target_compile_options(lmc_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wimplicit-fallthrough)
if(LMC_WERROR)
  target_compile_options(lmc_options INTERFACE -Werror)
endif()

function(lmc_require_flags what flags)
  set(source "int main() { return 0; }")
  if(ARGC GREATER 2)
    set(source "${ARGV2}")
  endif()
  set(CMAKE_REQUIRED_FLAGS "${flags}")
  separate_arguments(link_options UNIX_COMMAND "${flags}")
  set(CMAKE_REQUIRED_LINK_OPTIONS ${link_options})
  string(MAKE_C_IDENTIFIER "LMC_HAVE_${what}" var)
  check_cxx_source_compiles("${source}" ${var})
  if(NOT ${var})
    message(FATAL_ERROR "${what}: the compiler ${CMAKE_CXX_COMPILER} cannot build with '${flags}'")
  endif()
endfunction()

set(LMC_SANITIZER_FLAGS "")
set(LMC_INSTRUMENT_LINK_FLAGS "")  # what links an installed instrumented archive needs
if(LMC_SANITIZE STREQUAL "address")
  set(LMC_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
elseif(LMC_SANITIZE STREQUAL "thread")
  set(LMC_SANITIZER_FLAGS -fsanitize=thread -fno-omit-frame-pointer)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's fenced blocks use atomic_thread_fence, which GCC warns TSan does
    # not model; Asio's own synchronisation also uses mutexes, which it does.
    target_compile_options(lmc_options INTERFACE -Wno-tsan)
  endif()
elseif(NOT LMC_SANITIZE STREQUAL "")
  message(FATAL_ERROR "LMC_SANITIZE must be '', 'address' or 'thread', not '${LMC_SANITIZE}'")
endif()
if(LMC_SANITIZER_FLAGS)
  string(REPLACE ";" " " flags "${LMC_SANITIZER_FLAGS}")
  lmc_require_flags("sanitizer_${LMC_SANITIZE}" "${flags}")
  add_compile_options(${LMC_SANITIZER_FLAGS})
  add_link_options(${LMC_SANITIZER_FLAGS})
  list(APPEND LMC_INSTRUMENT_LINK_FLAGS ${LMC_SANITIZER_FLAGS})
endif()

# LMC_FUZZ_ENGINE: what a fuzz target links for its driver (libFuzzer by
# default; ClusterFuzzLite passes $LIB_FUZZING_ENGINE). LMC_FUZZ_FLAGS=OFF
# leaves instrumentation to CXXFLAGS, as ClusterFuzzLite sets them per
# sanitizer (address, undefined, memory) and for its coverage builds.
set(LMC_FUZZ_ENGINE "-fsanitize=fuzzer" CACHE STRING "Link flags of the fuzzing engine")
option(LMC_FUZZ_FLAGS "Add the kit's own fuzz instrumentation (ASan, UBSan, libFuzzer coverage)" ON)
if(LMC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "LMC_FUZZ needs clang (e.g. -DCMAKE_CXX_COMPILER=clang++-14)")
  endif()
  if(LMC_FUZZ_FLAGS)
    # libFuzzer brings its own main(); the probe defines the entry point instead.
    lmc_require_flags("libfuzzer" "-fsanitize=fuzzer,address,undefined"
      "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }")
    # Instrument everything for coverage; only fuzz targets link the driver.
    # UBSan findings abort, so the fuzzer reports them as crashes.
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
  endif()
endif()

if(LMC_COVERAGE)
  # Atomic counters: the suite's threads would otherwise race on them, and
  # gcovr rejects the negative counts that result ("branch 5 taken -7").
  lmc_require_flags(coverage_atomic "--coverage -fprofile-update=atomic")
  target_compile_options(lmc_options INTERFACE --coverage -fprofile-update=atomic)
  target_link_options(lmc_options INTERFACE --coverage)
  list(APPEND LMC_INSTRUMENT_LINK_FLAGS --coverage)
endif()
