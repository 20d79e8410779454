// lmcache-wire: encode and decode LMCache V1 wire objects line by line, as
// docs/WIRE-JSON.md (the kit's copy of ../shared/spec/wire-json.md)
// specifies. All logic is in lmc_wirejson.
#include <iostream>
#include <string_view>
#include <vector>

#include "wirejson/wire_json.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string_view> args(argv + 1, argv + argc);
  return lmc::wirejson::RunWireTool(args, std::cin, std::cout, std::cerr);
}
