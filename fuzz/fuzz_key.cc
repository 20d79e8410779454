// Cache-key parser on arbitrary text, in both eras. Oracle: whatever parses
// renders, and the rendering parses back to an equal key.
#include <cstdlib>
#include <string>
#include <string_view>

#include "oracle.h"
#include "wire/cache_key.h"

using namespace lmc::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const KeyParseOptions o :
       {KeyParseOptions{KeyEra::kF, true}, KeyParseOptions{KeyEra::kE, true}, KeyParseOptions{KeyEra::kE, false}}) {
    CacheKey k;
    if (ParseCacheKey(text, &k, o) != KeyError::kOk) continue;
    std::string rendered;
    const KeyError re = RenderCacheKey(k, &rendered, o.era);
    LMC_ORACLE(re == KeyError::kOk, "a parsed key renders; rendering failed: " + std::string(KeyErrorMessage(re)));
    CacheKey again;
    const KeyError pe = ParseCacheKey(rendered, &again, o);
    LMC_ORACLE(pe == KeyError::kOk,
               "the rendering '" + rendered + "' parses back; it failed: " + std::string(KeyErrorMessage(pe)));
    LMC_ORACLE(again == k, "the rendering '" + rendered + "' parses back to the same key; it parsed to another");
  }
  return 0;
}
