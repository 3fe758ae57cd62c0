# `format-check` fails on any file clang-format would change (run by the test command); `tidy`
# runs clang-tidy on every source of the project (see .clang-tidy) through tools/tidy.py, which
# remembers clean results (`./dev lint`; not in the test command: a cold run of the analyzer over
# every source takes over an hour on 2 cores).
file(GLOB_RECURSE BATON_LINT_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/*.cpp ${PROJECT_SOURCE_DIR}/*.hpp ${PROJECT_SOURCE_DIR}/*.h
     ${PROJECT_SOURCE_DIR}/*.c)
list(FILTER BATON_LINT_SOURCES EXCLUDE REGEX "${PROJECT_SOURCE_DIR}/build.*/")
list(FILTER BATON_LINT_SOURCES EXCLUDE REGEX "/\\.")

find_program(CLANG_FORMAT_PROGRAM NAMES clang-format clang-format-14)
if(CLANG_FORMAT_PROGRAM)
  add_custom_target(format-check
    COMMAND ${CLANG_FORMAT_PROGRAM} --dry-run --Werror ${BATON_LINT_SOURCES}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "clang-format: checking ${CMAKE_PROJECT_NAME} sources")
  add_custom_target(format
    COMMAND ${CLANG_FORMAT_PROGRAM} -i ${BATON_LINT_SOURCES}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endif()

find_program(CLANG_TIDY_PROGRAM NAMES clang-tidy clang-tidy-14)
find_package(Python3 COMPONENTS Interpreter)
if(CLANG_TIDY_PROGRAM AND Python3_Interpreter_FOUND)
  add_custom_target(tidy
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/tidy.py ${CMAKE_BINARY_DIR}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    USES_TERMINAL
    COMMENT "clang-tidy: checking ${CMAKE_PROJECT_NAME} sources (clean results cached)")
endif()
