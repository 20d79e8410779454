// Runs a fuzz target's entry point over files and folders given on the
// command line, so every corpus replays as an ordinary test in every build
// (libFuzzer's own main replaces this in fuzz builds).
//
// Exit status: 0 when every input ran; 1 when a path does not exist or
// cannot be read, or when there was no input at all (an empty or missing
// corpus is a broken test, not a pass).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

// Runs one file; false (with a message) when it cannot be read.
bool RunFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return false;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t ran = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    const auto status = std::filesystem::status(arg, ec);
    if (ec || !std::filesystem::exists(status)) {
      const std::string why = ec ? ec.message() : "no such file or directory";
      std::fprintf(stderr, "replay: %s: %s\n", argv[i], why.c_str());
      ok = false;
    } else if (std::filesystem::is_directory(status)) {
      std::filesystem::recursive_directory_iterator it(arg, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        if (RunFile(it->path()))
          ++ran;
        else
          ok = false;
      }
      if (ec) {
        std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], ec.message().c_str());
        ok = false;
      }
    } else if (RunFile(arg)) {
      ++ran;
    } else {
      ok = false;
    }
  }
  std::printf("replayed %zu inputs\n", ran);
  if (ran == 0) std::fprintf(stderr, "replay: no inputs (give corpus files or folders)\n");
  return ok && ran != 0 ? 0 : 1;
}
