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
option(BATON_FUZZ "Build fuzz/ as libFuzzer targets (clang only; in a build folder of its own)" OFF)

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

# Everything is instrumented for coverage and checked by the sanitizers; only the fuzz targets link
# libFuzzer's main (fuzz/CMakeLists.txt).
if(BATON_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "BATON_FUZZ needs clang: CC=clang CXX=clang++ cmake -DBATON_FUZZ=ON ...")
  endif()
  # -O1 and line tables only, as OSS-Fuzz builds: quicker to compile, still fast to run.
  # GCC-only warning names in pragmas are not clang's business.
  add_compile_options(-O1 -gline-tables-only -fsanitize=fuzzer-no-link,address,undefined
                      -fno-omit-frame-pointer -fno-sanitize-recover=all
                      -Wno-unknown-warning-option)
  add_link_options(-fsanitize=address,undefined)
endif()

if(BATON_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  endif()
endif()
