# Every dependency is a Debian 12 package; dev/setup installs them (see README).
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(LibArchive REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS regex)

# cpp-hocon ships no CMake package; it needs leatherman's locale library and Boost.Regex.
find_path(HOCON_INCLUDE_DIR hocon/config.hpp REQUIRED)
find_library(HOCON_LIBRARY cpp-hocon REQUIRED)
find_library(LEATHERMAN_LOCALE_LIBRARY leatherman_locale REQUIRED)
add_library(baton::hocon INTERFACE IMPORTED)
target_include_directories(baton::hocon SYSTEM INTERFACE ${HOCON_INCLUDE_DIR})
target_link_libraries(baton::hocon INTERFACE ${HOCON_LIBRARY} ${LEATHERMAN_LOCALE_LIBRARY}
                      Boost::regex)

# Asio and Beast are header-only; one interface target keeps their defines in one place.
add_library(baton::asio INTERFACE IMPORTED)
target_link_libraries(baton::asio INTERFACE Boost::headers Threads::Threads OpenSSL::SSL)
target_compile_definitions(baton::asio INTERFACE BOOST_ASIO_NO_DEPRECATED
                           BOOST_BEAST_USE_STD_STRING_VIEW)
