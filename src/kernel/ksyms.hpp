// Kernel text symbols for backtraces. The table is generated from a first link of the image
// (scripts/gen_ksyms.py) and linked into .ksyms by the second link.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::ksyms {

// Finds the function containing addr. Returns its name (or nullptr) and the offset into it.
const char* lookup(uint64_t addr, uint64_t* offset);
size_t count();

}  // namespace skerry::ksyms
