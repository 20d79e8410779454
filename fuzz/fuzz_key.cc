// Cache-key parser on arbitrary text, in both eras. Oracle: whatever parses
// renders, and the rendering parses back to an equal key.
#include <cstdlib>
#include <string>
#include <string_view>

#include "wire/cache_key.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const KeyParseOptions o :
       {KeyParseOptions{KeyEra::kF, true}, KeyParseOptions{KeyEra::kE, true}, KeyParseOptions{KeyEra::kE, false}}) {
    CacheKey k;
    if (ParseCacheKey(text, &k, o) != KeyError::kOk) continue;
    std::string rendered;
    if (RenderCacheKey(k, &rendered, o.era) != KeyError::kOk) std::abort();
    CacheKey again;
    if (ParseCacheKey(rendered, &again, o) != KeyError::kOk || !(again == k)) std::abort();
  }
  return 0;
}
