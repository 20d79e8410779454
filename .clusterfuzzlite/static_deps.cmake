# Included by .clusterfuzzlite/build.sh through CMAKE_PROJECT_INCLUDE, that
# is right after the kit's project() and before its find_package() calls.
#
# ClusterFuzzLite runs the fuzzers in its base-runner image, not in the
# builder image where the -dev packages are installed, so their shared
# libraries are not there at run time; OSS-Fuzz's guide asks for fuzzers
# "statically linked". Each third-party C library the kit links (zstd, lz4,
# xxhash, libcrypto) is therefore taken from its static archive, which the
# Debian/Ubuntu -dev packages ship. build.sh checks the result with readelf.

# pkg_check_modules() (xxhash, lz4) resolves -lNAME with find_library():
# let that find archives only.
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)

# Debian 12's libxxhash.a lacks the x86 dispatcher that its shared library
# has (XXH3_64bits_dispatch, ...), which <xxh_x86dispatch.h> sends the XXH3
# calls to. The header's documented switch keeps them on the plain XXH3
# functions: the same hashes, without choosing the vector width at run time
# (and harmless where the archive does have the dispatcher).
add_compile_definitions(XXH_DISPATCH_DISABLE_REPLACE)

# FindOpenSSL: libcrypto.a, plus the threads and dl libraries it needs.
set(OPENSSL_USE_STATIC_LIBS TRUE)

# zstd's CMake package exports zstd::libzstd_shared and zstd::libzstd_static,
# and the kit links the former: point it at the archive the latter names.
# The kit's own find_package(zstd) later finds both targets defined and
# leaves them as they are.
find_package(zstd CONFIG REQUIRED)
get_target_property(_cflite_zstd_configs zstd::libzstd_static IMPORTED_CONFIGURATIONS)
foreach(_cflite_config IN LISTS _cflite_zstd_configs)
  get_target_property(_cflite_archive zstd::libzstd_static IMPORTED_LOCATION_${_cflite_config})
  set_target_properties(zstd::libzstd_shared PROPERTIES
    IMPORTED_LOCATION_${_cflite_config} "${_cflite_archive}"
    IMPORTED_SONAME_${_cflite_config} "")
endforeach()
message(STATUS "ClusterFuzzLite: zstd, lz4, xxhash and OpenSSL are linked from static archives")
