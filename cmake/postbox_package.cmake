# `make package` (cpack -G DEB): postbox_<version>_<arch>.deb from the install rules of
# cmake/postbox_install.cmake plus the service files, which only the package installs
# (component `service`, EXCLUDE_FROM_ALL: `cmake --install build --prefix P` never
# writes to /etc or /lib/systemd).
# Depends: the shared libraries the binaries load, computed by dpkg-shlibdeps (dpkg-dev),
# and adduser (postinst). Recommends: the -dev packages postboxConfig.cmake and
# postbox.pc look for, so `find_package(postbox)` works after `apt-get install` while an
# operator who only runs nodes can leave them out (--no-install-recommends).
set(POSTBOX_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

install(FILES ${POSTBOX_PACKAGING_DIR}/etc/node.yaml ${POSTBOX_PACKAGING_DIR}/etc/example.env
  DESTINATION /etc/postbox COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${POSTBOX_PACKAGING_DIR}/systemd/postbox-node@.service
  DESTINATION /lib/systemd/system COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/docs/service.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/postbox COMPONENT service EXCLUDE_FROM_ALL)

# The package's binaries and libraries without debug info (CPACK_STRIP_FILES strips the
# binaries; the static libraries as Debian's dh_strip does, --strip-debug): ~30 MB, not ~300.
install(CODE "if(CMAKE_INSTALL_DO_STRIP)
  file(GLOB _archives \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libpostbox_*.a\")
  execute_process(COMMAND ${CMAKE_STRIP} --strip-debug \${_archives} COMMAND_ERROR_IS_FATAL ANY)
endif()")

set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_NAME postbox)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "durable actors on CAF 0.17 and PostgreSQL")
set(CPACK_PACKAGE_DESCRIPTION "postbox-node runs the actors of a topology on queues kept in PostgreSQL
(one systemd unit per node, postbox-node@NAME), and postbox is the client (migrate,
submit, send, ask, queues, nodes). Also the static libraries, headers, CMake package
(find_package(postbox)) and pkg-config file to build your own actors.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified service)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_NAME postbox)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "postbox maintainers <postbox@example.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
string(CONCAT CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "libcaf-dev, libpqxx-dev, libyaml-cpp-dev, libboost-json1.81-dev, libssl-dev, pkg-config, "
    "libhowardhinnant-date-dev")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, g++, postgresql")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${POSTBOX_PACKAGING_DIR}/debian/conffiles ${POSTBOX_PACKAGING_DIR}/debian/postinst
    ${POSTBOX_PACKAGING_DIR}/debian/prerm ${POSTBOX_PACKAGING_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
