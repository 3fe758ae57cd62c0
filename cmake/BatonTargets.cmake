# Helpers that keep each folder's CMakeLists.txt to a few lines.

# baton_library(NAME SOURCES a.cpp b.cpp DEPS x y [PRIVATE_DEPS z])
# A static library whose public headers are included as "<folder>/<file>.hpp".
function(baton_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

# baton_executable(NAME SOURCES main.cpp DEPS x y): lands in build/bin.
function(baton_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
endfunction()

# baton_test(NAME SOURCES a_test.cpp DEPS x y [LABELS l]): a GoogleTest binary run by CTest.
include(GoogleTest)
function(baton_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
                       PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "BATON_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

# baton_make_static(NAME): links NAME statically and drops sanitizer flags (there is no static
# sanitizer runtime). For programs that must run anywhere: the shim, Docker FROM scratch images.
function(baton_make_static name)
  foreach(property COMPILE_OPTIONS LINK_OPTIONS)
    get_target_property(options ${name} ${property})
    if(options)
      list(FILTER options EXCLUDE REGEX "sanitize")
    else()
      set(options "")
    endif()
    set_target_properties(${name} PROPERTIES ${property} "${options}")
  endforeach()
  target_compile_options(${name} PRIVATE -ffunction-sections -fdata-sections)
  target_link_options(${name} PRIVATE -static -Wl,--gc-sections)
endfunction()
