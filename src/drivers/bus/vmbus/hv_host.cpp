// Host builds: there is no hypercall page to call; tests use their own HypercallPort (hv_fake.hpp).
#include "drivers/bus/vmbus/hv.hpp"

namespace skerry::hv {

uint64_t PageHypercall::call(uint64_t, uint64_t, uint64_t) { return kStatusInvalidHypercallCode; }

}  // namespace skerry::hv
