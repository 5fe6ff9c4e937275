// Host stand-ins for the kernel services the http appliance's /status reads (appliances/http/status.cpp),
// with this machine's real figures where the host has them:
//   kernel::cpu()      cpu_info::identify() over this CPU's own CPUID instruction (vendor, brand, hypervisor)
//   kernel::pages()    a PageAllocator sized to the host's physical memory (capped at 64 GiB), with the pages
//                      the host reports in use (physical minus available) taken out of it
//   heap::size/used    the process's address-space limit (else physical memory), and the bytes the
//                      allocator has handed out (AddressSanitizer's count: host tests run under ASan)
//   skerry_app_name / skerry_version: what build/appliances/<name>.ident.o gives a kernel link
#include <cpuid.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer runtime (declared in LLVM's <sanitizer/allocator_interface.h>, which gcc does not ship).
extern "C" size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#include "kernel/cpu_info.hpp"
#include "kernel/heap.hpp"
#include "kernel/kernel.hpp"
#include "kernel/page_alloc.hpp"
#include "tests/unit/status_host.hpp"

extern "C" {
extern const char skerry_app_name[];
extern const char skerry_version[];
const char skerry_app_name[] = SKERRY_HOST_APP_NAME;
const char skerry_version[] = SKERRY_HOST_VERSION;
}

namespace {

using namespace skerry;

class HostCpuid final : public cpu_info::CpuidSource {
public:
    hw::CpuidResult cpuid(uint32_t leaf, uint32_t subleaf) const override {
        unsigned a = 0, b = 0, c = 0, d = 0;
        __cpuid_count(leaf, subleaf, a, b, c, d);
        return hw::CpuidResult{a, b, c, d};
    }
};

uint64_t host_phys_bytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) : 0;
}

}  // namespace

namespace skerry::kernel {

const cpu_info::CpuInfo& cpu() {
    static const cpu_info::CpuInfo info = cpu_info::identify(HostCpuid{});
    return info;
}

PageAllocator& pages() {
    static PageAllocator pa;
    static bool made = false;
    if (!made) {
        made = true;
        constexpr uint64_t kCap = 64ull << 30;
        uint64_t total = host_phys_bytes();
        if (total > kCap) total = kCap;
        const uint64_t limit = total + PageAllocator::kPageSize;  // page 0 never belongs to the allocator
        void* bitmap = aligned_alloc(8, (PageAllocator::bitmap_bytes(limit) + 7) & ~size_t{7});
        pa.init(bitmap, limit);
        pa.add_free(PageAllocator::kPageSize, total);
        const long avail = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        const uint64_t avail_bytes = avail > 0 && size > 0 ? static_cast<uint64_t>(avail) * static_cast<uint64_t>(size)
                                                           : 0;
        const uint64_t in_use = host_phys_bytes() > avail_bytes ? host_phys_bytes() - avail_bytes : 0;
        const uint64_t take = (in_use < total ? in_use : total) / PageAllocator::kPageSize;
        if (take) pa.alloc(static_cast<size_t>(take));
    }
    return pa;
}

}  // namespace skerry::kernel

namespace skerry::heap {

uint64_t size() {
    rlimit r{};
    if (getrlimit(RLIMIT_DATA, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return r.rlim_cur;
    return host_phys_bytes();
}

uint64_t used() {
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

}  // namespace skerry::heap
