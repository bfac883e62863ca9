# What postbox links against, found the same way by its own build and by a user's
# project (postboxConfig.cmake includes this file). Each imported target is made once.

# --- CAF 0.17.6: Debian's libcaf-dev ships no CMake config --------------------
if(NOT TARGET caf::core)
  find_path(CAF_INCLUDE_DIR caf/all.hpp)
  find_library(CAF_CORE_LIBRARY NAMES caf_core)
  find_library(CAF_IO_LIBRARY NAMES caf_io)
  find_library(CAF_OPENSSL_LIBRARY NAMES caf_openssl)
  if(NOT CAF_INCLUDE_DIR OR NOT CAF_CORE_LIBRARY OR NOT CAF_IO_LIBRARY OR NOT CAF_OPENSSL_LIBRARY)
    message(FATAL_ERROR "CAF 0.17 not found: run `make deps` (apt-get install libcaf-dev)")
  endif()
  file(STRINGS "${CAF_INCLUDE_DIR}/caf/config.hpp" _caf_ver REGEX "^#define CAF_VERSION [0-9]+")
  string(REGEX MATCH "[0-9]+" CAF_VERSION_NUM "${_caf_ver}")
  if(NOT CAF_VERSION_NUM EQUAL 1706)
    message(WARNING "postbox is written against CAF 0.17.6 (1706); found ${CAF_VERSION_NUM}")
  endif()
  find_package(Threads REQUIRED)
  find_package(OpenSSL REQUIRED)
  add_library(caf::core UNKNOWN IMPORTED)
  set_target_properties(caf::core PROPERTIES IMPORTED_LOCATION "${CAF_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}" INTERFACE_LINK_LIBRARIES Threads::Threads)
  add_library(caf::io UNKNOWN IMPORTED)
  set_target_properties(caf::io PROPERTIES IMPORTED_LOCATION "${CAF_IO_LIBRARY}"
    INTERFACE_LINK_LIBRARIES caf::core)
  add_library(caf::openssl UNKNOWN IMPORTED)
  set_target_properties(caf::openssl PROPERTIES IMPORTED_LOCATION "${CAF_OPENSSL_LIBRARY}"
    INTERFACE_LINK_LIBRARIES "caf::io;OpenSSL::SSL;OpenSSL::Crypto")
endif()

# --- libpqxx 6.4, yaml-cpp 0.7, Boost.JSON 1.81 --------------------------------
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
if(NOT TARGET PkgConfig::PQXX OR NOT TARGET PkgConfig::PQ)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PQXX IMPORTED_TARGET libpqxx)
  pkg_check_modules(PQ IMPORTED_TARGET libpq)  # PQconninfoParse, in persistence/conninfo.cpp
  if(NOT PQXX_FOUND)
    message(FATAL_ERROR "libpqxx not found: run `make deps` (apt-get install libpqxx-dev)")
  endif()
  if(NOT PQ_FOUND)
    message(FATAL_ERROR "libpq not found: run `make deps` (apt-get install libpqxx-dev)")
  endif()
endif()
find_package(yaml-cpp QUIET)
if(NOT yaml-cpp_FOUND)
  message(FATAL_ERROR "yaml-cpp not found: run `make deps` (apt-get install libyaml-cpp-dev)")
endif()
find_package(Boost 1.81 QUIET COMPONENTS json)
if(NOT Boost_FOUND)
  message(FATAL_ERROR "Boost.JSON 1.81 not found: run `make deps` (apt-get install libboost-json1.81-dev)")
endif()

# --- date/tz (libhowardhinnant-date-dev): cron schedules are evaluated in IANA zones with
# their real DST rules from the system's tzdata; the C++20 <chrono> zones are not in GCC 12.
if(NOT TARGET date::date-tz)
  find_package(date CONFIG QUIET)
  if(NOT date_FOUND)
    message(FATAL_ERROR "date/tz not found: run `make deps` (apt-get install libhowardhinnant-date-dev)")
  endif()
endif()
