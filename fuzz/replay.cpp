// Runs a fuzz target over files and folders of inputs (the corpus and the regressions) in the
// normal build, where libFuzzer is absent: every input found once stays a test.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
// Optional, as with libFuzzer: set-up done once, before the first input.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  namespace stdfs = std::filesystem;
  std::vector<stdfs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    stdfs::path arg = argv[i];
    std::error_code error;
    if (stdfs::is_directory(arg, error)) {
      for (const auto& entry : stdfs::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) inputs.push_back(entry.path());
      }
    } else if (stdfs::exists(arg, error)) {
      inputs.push_back(arg);
    }  // a target without regressions yet has no folder for them
  }
  std::sort(inputs.begin(), inputs.end());
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  if (inputs.empty()) {
    std::fprintf(stderr, "replay: no inputs\n");
    return 2;
  }
  for (const auto& input : inputs) {
    std::ifstream in(input, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    baton::fuzz::current_input = input.string();
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  baton::fuzz::current_input.clear();
  std::printf("replay: %zu inputs, every one passed\n", inputs.size());
  return 0;
}
