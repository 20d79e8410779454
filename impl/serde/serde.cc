#include "serde/serde.h"

namespace lmc::serde {

std::string_view SerdeErrorName(SerdeError e) {
  switch (e) {
    case SerdeError::kOk: return "ok";
    case SerdeError::kBadLayout: return "layout not supported by this serde";
    case SerdeError::kSizeMismatch: return "source size does not match the layout";
    case SerdeError::kTooSmall: return "destination too small";
    case SerdeError::kCorrupt: return "corrupt or truncated blob";
    case SerdeError::kWrongSerde: return "blob written by another serde or configuration";
    case SerdeError::kWrongKey: return "blob belongs to another key";
    case SerdeError::kAuth: return "authentication failed (tampered blob or wrong key)";
  }
  return "?";
}

}  // namespace lmc::serde
