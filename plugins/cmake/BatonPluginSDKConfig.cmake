# find_package(BatonPluginSDK): the Baton::PluginSDK target and baton_add_plugin().
include(${CMAKE_CURRENT_LIST_DIR}/BatonPluginSDKTargets.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/BatonPluginSDKHelpers.cmake)

# The ABI version plugins built with this SDK carry (BatonPluginSDK_ABI_VERSION), for messages.
get_target_property(_baton_sdk_include Baton::PluginSDK INTERFACE_INCLUDE_DIRECTORIES)
file(STRINGS "${_baton_sdk_include}/baton/runtime_plugin.h" _baton_abi_line
     REGEX "^#define BATON_PLUGIN_ABI_VERSION ")
string(REGEX REPLACE ".*\"(.*)\".*" "\\1" BatonPluginSDK_ABI_VERSION "${_baton_abi_line}")
unset(_baton_abi_line)
unset(_baton_sdk_include)
