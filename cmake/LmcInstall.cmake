# Install rules and the CMake package (find_package(lmcache-kit CONFIG)).
#
#   lib/liblmc_*.a, include/lmcache-kit/<layer>/*.h      component "dev"
#   lib/cmake/lmcache-kit/lmcache-kitConfig.cmake         component "dev"
#   bin/lmcache-*                                         component "tools"
#   share/lmcache-kit/golden/..., conformance/client/python_testee.py
#                                                         component "tools"
include(CMakePackageConfigHelpers)

get_property(lmc_libraries GLOBAL PROPERTY LMC_INSTALLED_LIBRARIES)
install(TARGETS ${lmc_libraries} EXPORT lmcache-kitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/lmcache-kit)
install(EXPORT lmcache-kitTargets NAMESPACE lmc::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lmcache-kit COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/lmcache-kitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/lmcache-kitConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lmcache-kit)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lmcache-kitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lmcache-kitConfig.cmake ${PROJECT_BINARY_DIR}/lmcache-kitConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/lmcache-kit COMPONENT dev)

install(TARGETS lmcache-wire lmcache-server lmcache-client lmcache-bench lmcache-serde
                lmcache-conformance lmcache-conformance-testee-cpp
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
# lmcache-conformance finds its golden data at ../share/lmcache-kit beside
# its own directory.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/golden/fixtures ${PROJECT_SOURCE_DIR}/golden/reference-vectors
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lmcache-kit/golden COMPONENT tools)
install(FILES ${PROJECT_SOURCE_DIR}/golden/manifest.schema.json
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lmcache-kit/golden COMPONENT tools)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/conformance/client/python_testee.py
  DESTINATION ${CMAKE_INSTALL_DATADIR}/lmcache-kit/conformance/client COMPONENT tools)

# Debian packages (`cpack -G DEB` in the build directory):
#   lmcache-kit      the tools and their data; depends on the Debian runtime
#                    libraries it links (found by dpkg-shlibdeps)
#   lmcache-kit-dev  the libraries, headers and CMake package; depends on the
#                    -dev packages its exported targets find again
set(CPACK_PACKAGE_NAME lmcache-kit)
set(CPACK_PACKAGE_VENDOR "lmcache-kit")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Reference implementation and conformance kit for LMCache's V1 lm:// protocol")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL tools dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "lmcache-kit developers")
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME lmcache-kit)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "python3")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME lmcache-kit-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "lmcache-kit (= ${PROJECT_VERSION}), libzstd-dev, liblz4-dev, libxxhash-dev, libssl-dev, nlohmann-json3-dev, libasio-dev, pkg-config")
include(CPack)
