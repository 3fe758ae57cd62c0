# `format-check` fails on any file clang-format would change; `tidy` runs clang-tidy on every
# source of the project (see .clang-tidy). Both run in the test command.
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

find_program(RUN_CLANG_TIDY_PROGRAM NAMES run-clang-tidy run-clang-tidy-14)
if(RUN_CLANG_TIDY_PROGRAM)
  add_custom_target(tidy
    COMMAND ${RUN_CLANG_TIDY_PROGRAM} -quiet -p ${CMAKE_BINARY_DIR}
            "^${PROJECT_SOURCE_DIR}/(?!build)[^.].*\\.cpp$"
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "clang-tidy: checking ${CMAKE_PROJECT_NAME} sources")
endif()
