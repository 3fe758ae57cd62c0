# Build-wide settings: language level, output folders, warnings, sanitizers, compiler cache.
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
set(CMAKE_LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
set(CMAKE_ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
# The runtime plugins Baton ships, relative to the folder holding bin/: the same in the build tree
# and in an install, so `baton sandbox run` finds them from its own location (docs/plugins.md).
set(BATON_PLUGINS_SUBDIR lib/baton/plugins)

option(BATON_WERROR "Treat compiler warnings as errors" ON)
set(BATON_SANITIZE "" CACHE STRING "Sanitizers: empty, 'address,undefined' or 'thread'")
option(BATON_CCACHE "Use ccache when it is installed" ON)

# Designated initializers leave the rest at their defaults on purpose.
add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)
if(BATON_WERROR)
  # Asio's SSL layer calls OpenSSL 3 functions marked deprecated; that is not ours to fix.
  add_compile_options(-Werror -Wno-error=deprecated-declarations)
endif()

if(BATON_SANITIZE)
  add_compile_options(-fsanitize=${BATON_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${BATON_SANITIZE})
endif()

if(BATON_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  endif()
endif()
