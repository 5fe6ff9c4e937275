// Host-test implementation of the hardware access layer: calls go to the installed device model.
#if defined(SKERRY_HOST_TEST)
#include "hw/hw.hpp"

#include <cstdio>
#include <cstdlib>

namespace skerry::hw {
namespace {
[[noreturn]] void unmodelled(const char* what) {
    std::fprintf(stderr, "hw: unmodelled hardware access: %s (install a hw::Model in this test)\n", what);
    std::abort();
}
Model default_model;
Model* current = &default_model;
}  // namespace

uint32_t Model::port_in(uint16_t, int) { unmodelled("port_in"); }
void Model::port_out(uint16_t, uint32_t, int) { unmodelled("port_out"); }
uint64_t Model::mmio_read(uint64_t, int) { unmodelled("mmio_read"); }
void Model::mmio_write(uint64_t, uint64_t, int) { unmodelled("mmio_write"); }
uint64_t Model::rdmsr(uint32_t) { unmodelled("rdmsr"); }
void Model::wrmsr(uint32_t, uint64_t) { unmodelled("wrmsr"); }
CpuidResult Model::cpuid(uint32_t, uint32_t) { unmodelled("cpuid"); }
uint64_t Model::rdtsc() { unmodelled("rdtsc"); }
void* Model::phys_to_host(uint64_t, size_t) { return nullptr; }

void set_model(Model* m) { current = m ? m : &default_model; }
Model& model() { return *current; }
}  // namespace skerry::hw
#endif
