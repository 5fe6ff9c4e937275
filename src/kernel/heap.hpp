// The heap behind Newlib's malloc: one contiguous region that _sbrk hands out.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::heap {

void init(uint64_t base, uint64_t size);
uint64_t size();
uint64_t used();  // bytes handed to malloc so far (the break)
uint64_t base();

}  // namespace skerry::heap
