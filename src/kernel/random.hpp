// Hardware randomness (RDRAND/RDSEED) and a seeded generator for non-cryptographic uses.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::random {

bool has_rdrand();
// Fills buf from RDRAND (retrying as Intel recommends); false when the CPU has none or it keeps failing.
bool hardware_fill(void* buf, size_t len);
// A fast generator (xoshiro-style) seeded from RDRAND, else from the TSC (with a logged warning).
uint64_t next_u64();
uint32_t next_u32();
void seed();

}  // namespace skerry::random
