// lmcache-serde: one serde, configured by LMCache's JSON "serde" object, run
// over stdin to stdout, for people and outside checks.
//
//   lmcache-serde serialize|deserialize --config JSON --dtype NAME --shape A,B,... [--shape ...]
//                 [--dtype NAME per --shape] [--chunk-hash HEX] [--cache-salt S] [--max-bytes N]
//
// serialize reads the groups' bytes back to back (each group in its dtype)
// and writes the blob; deserialize reads a blob and writes the groups' bytes.
// dtype names are PyTorch's (bfloat16, float16, float32, uint8, ...). One
// --dtype applies to every group, or give one per --shape.
// Exit status: 0 success; 1 a corrupt, truncated or mismatched input (one
// line on stderr says why); 2 a usage or configuration error.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/process_env.h"
#include "serde/registry.h"
#include "tools/cli.h"

namespace {

using namespace lmc::serde;

int Fail(int status, const std::string& why) {
  std::cerr << "lmcache-serde: " << why << "\n";
  return status;
}

// Reads stdin up to `limit` bytes; *over is set if there was more.
bool ReadStdin(std::size_t limit, std::vector<std::byte>* out, bool* over) {
  out->clear();
  *over = false;
  std::vector<std::byte> chunk(1 << 20);
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0) return false;
    if (n == 0) return true;
    if (out->size() + static_cast<std::size_t>(n) > limit) {
      *over = true;
      return true;
    }
    out->insert(out->end(), chunk.begin(), chunk.begin() + n);
  }
}

bool WriteStdout(std::span<const std::byte> bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool ParseHex(const std::string& hex, std::vector<std::byte>* out) {
  if (hex.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    for (std::size_t k = 0; k < 2; ++k) {
      const char c = hex[i + k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        return false;
    }
    out->push_back(static_cast<std::byte>(v));
  }
  return true;
}

}  // namespace

int Run(int argc, char** argv);

int main(int argc, char** argv) {
  // Nothing may escape as an abort: an allocation the machine cannot give
  // (a huge layout under a raised --max-bytes) is a one-line error.
  try {
    return Run(argc, argv);
  } catch (const std::bad_alloc&) {
    return Fail(1, "cannot allocate memory for this layout");
  } catch (const std::exception& e) {
    return Fail(1, e.what());
  }
}

int Run(int argc, char** argv) {
  CLI::App app{"lmcache-serde: run an L2 serde over stdin to stdout"};
  lmc::tools::SetConventions(app, "lmcache-serde",
                             "0 success; 1 a corrupt, truncated or mismatched input (one line on stderr says "
                             "why); 2 a usage or configuration error.");
  app.require_subcommand(1);
  std::string config, chunk_hash, cache_salt;
  std::vector<std::string> dtypes, shapes;
  std::uint64_t max_bytes = std::uint64_t{4} << 30;
  for (const char* name : {"serialize", "deserialize"}) {
    CLI::App* sub = app.add_subcommand(name, std::string(name) + " stdin to stdout");
    sub->add_option("--config", config, "the serde object, e.g. {\"type\":\"fp8\",\"fp8_dtype\":\"float8_e4m3fn\"}")
        ->required();
    sub->add_option("--dtype", dtypes, "PyTorch dtype name: one for all groups, or one per --shape")->required();
    sub->add_option("--shape", shapes, "a group's shape, comma-separated (repeat for more groups)")->required();
    sub->add_option("--chunk-hash", chunk_hash, "the object key's chunk hash in hex (checksum serde)");
    sub->add_option("--cache-salt", cache_salt, "the object key's cache_salt (aesgcm serde: picks the derived key)");
    sub->add_option("--max-bytes", max_bytes, "refuse layouts larger than this")->capture_default_str();
  }
  if (const auto status = lmc::tools::Parse(app, argc, argv)) return *status;
  const bool serialize = app.got_subcommand("serialize");

  if (dtypes.size() != 1 && dtypes.size() != shapes.size()) {
    return Fail(2, "give one --dtype, or one per --shape (" + std::to_string(shapes.size()) + ")");
  }
  Layout layout;
  for (std::size_t g = 0; g < shapes.size(); ++g) {
    Group group;
    const std::string& dname = dtypes.size() == 1 ? dtypes[0] : dtypes[g];
    const auto dtype = ParseDType(dname);
    if (!dtype) return Fail(2, "unknown dtype '" + dname + "'");
    group.dtype = *dtype;
    std::size_t at = 0;
    const std::string& s = shapes[g];
    while (at <= s.size()) {
      const std::size_t comma = std::min(s.find(',', at), s.size());
      const std::string dim = s.substr(at, comma - at);
      if (dim.empty() || dim.size() > 18 || dim.find_first_not_of("0123456789") != std::string::npos) {
        return Fail(2, "bad --shape '" + s + "' (want non-negative integers separated by commas)");
      }
      group.shape.push_back(std::stoll(dim));
      at = comma + 1;
    }
    layout.groups.push_back(std::move(group));
  }
  const auto layout_bytes = LayoutBytes(layout);
  if (!layout_bytes || *layout_bytes > max_bytes) return Fail(2, "the layout is larger than --max-bytes");

  std::string error;
  lmc::runtime::ProcessEnv env({1, 0});
  const auto serde = SerdeRegistry::WithBuiltins(env).CreateFromText(config, &error);
  if (!serde) return Fail(2, error);
  SerdeError e = SerdeError::kOk;
  const std::uint64_t estimate = serde->serializer->EstimateSerializedSize(layout, &e);
  if (e != SerdeError::kOk) return Fail(2, "serde '" + serde->type + "': " + std::string(SerdeErrorName(e)));
  ObjectKey key;
  key.cache_salt = cache_salt;
  if (!chunk_hash.empty() && !ParseHex(chunk_hash, &key.chunk_hash)) return Fail(2, "bad --chunk-hash (want hex)");

  std::vector<std::byte> input;
  bool over = false;
  // A blob may be longer than its payload (LMCache loads such fp8 files);
  // anything beyond the estimate plus 1 MiB is refused unread.
  const std::uint64_t limit = serialize ? *layout_bytes : estimate + (1u << 20);
  if (!ReadStdin(static_cast<std::size_t>(limit), &input, &over)) return Fail(1, "cannot read stdin");
  if (over) return Fail(1, "input is longer than " + std::to_string(limit) + " bytes");

  std::vector<std::byte> output;
  if (serialize) {
    if (input.size() != *layout_bytes) {
      return Fail(
          1, "input is " + std::to_string(input.size()) + " bytes; the layout needs " + std::to_string(*layout_bytes));
    }
    output.resize(static_cast<std::size_t>(estimate));
    std::size_t written = 0;
    e = serde->serializer->Serialize(layout, input, output, &key, &written);
    output.resize(written);
  } else {
    output.resize(static_cast<std::size_t>(*layout_bytes));
    e = serde->deserializer->Deserialize(input, layout, output, &key);
  }
  if (e != SerdeError::kOk) return Fail(1, std::string(SerdeErrorName(e)));
  if (!WriteStdout(output)) return Fail(1, "cannot write stdout");
  return 0;
}
