// libFuzzer target: ParseSafetensorsHeader must return (ok or an error) on any input, without
// crashing, leaking or reading outside [data, data + size). ASan and UBSan check the latter.
#include <cstddef>
#include <cstdint>

#include "models/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const atom::StatusOr<atom::SafetensorsHeader> r =
      atom::ParseSafetensorsHeader(data, size, "fuzz.safetensors");
  if (r.ok()) {
    // Re-check the contract the parser promises: every tensor lies inside the input.
    for (const atom::SafetensorsEntry& e : r->entries) {
      if (e.data_begin > size || e.data_bytes > size - e.data_begin) __builtin_trap();
    }
  } else if (r.status().message().empty()) {
    __builtin_trap();
  }
  return 0;
}
