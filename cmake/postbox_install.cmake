# `cmake --install BUILD --prefix P`: the two static libraries, the public headers
# (include/postbox/), postboxConfig.cmake with the exported targets postbox::runtime
# and postbox::client, the binaries, and postbox.pc for pkg-config.
# Static: a user's program links one runtime built against this CAF and libpqxx,
# and postbox promises no ABI yet (0.x), so there is no shared library to keep stable.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(POSTBOX_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/postbox)

install(TARGETS postbox_client postbox_core EXPORT postboxTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS postbox postbox-node postbox-webhook-sink
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/postbox
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/generated/postbox/version.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/postbox)

install(EXPORT postboxTargets NAMESPACE postbox:: DESTINATION ${POSTBOX_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/postboxConfig.cmake.in
  ${PROJECT_BINARY_DIR}/postboxConfig.cmake INSTALL_DESTINATION ${POSTBOX_CMAKE_DIR})
# 0.x: a minor version may break what a user wrote, so 0.20 accepts 0.20.* only (CHANGELOG: a new
# migration is a new minor version while postbox is 0.x).
write_basic_package_version_file(${PROJECT_BINARY_DIR}/postboxConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/postboxConfig.cmake ${PROJECT_BINARY_DIR}/postboxConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/postbox_dependencies.cmake DESTINATION ${POSTBOX_CMAKE_DIR})

configure_file(${PROJECT_SOURCE_DIR}/cmake/postbox.pc.in ${PROJECT_BINARY_DIR}/postbox.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/postbox.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
