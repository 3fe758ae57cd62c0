# baton_add_plugin(<name> <sources>...): a runtime plugin library `<name>.so` (no "lib" prefix)
# linked with Baton::PluginSDK. Put the file in a folder given to baton-agent --plugins-dir.
function(baton_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE Baton::PluginSDK)
  set_target_properties(${name} PROPERTIES PREFIX "")
  # Static libraries linked in stay private to the plugin.
  target_link_options(${name} PRIVATE -Wl,--exclude-libs,ALL)
endfunction()
