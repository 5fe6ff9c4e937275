// The symbols the kernel supplies to newlib, lwIP and mbedTLS, as stubs for the link proof (deps_link.c).
// Compiled as C++20 with the kernel's flags and -Werror against the lwIP/mbedTLS headers, which also
// checks that lwipopts.h, arch/cc.h and mbedtls_config.h are clean for kernel code.
//
// Keep this list equal to what the kernel defines: the newlib system calls of src/kernel/syscalls.cpp,
// the stack-protector symbols of src/kernel/runtime.cpp, and the lwIP/mbedTLS hooks. A library needing
// anything else must fail this link.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/types.h>
#include <time.h>

#include "lwip/arch.h"
#include "lwip/err.h"
#include "lwip/ip_addr.h"
#include "lwip/sys.h"
#include "mbedtls/entropy_poll.h"

namespace {
[[noreturn]] void stop() {
    for (;;) __builtin_trap();
}
}  // namespace

// lwIP (lwipopts.h, arch/cc.h, lwip/sys.h).
u32_t sys_now(void) { return 0; }
extern "C" uint32_t skerry_lwip_rand(void) { return 4; }
extern "C" uint16_t skerry_lwip_chksum(const void*, int) { return 0; }
extern "C" void* skerry_net_mem_malloc(size_t n) { return malloc(n); }
extern "C" void* skerry_net_mem_calloc(size_t c, size_t n) { return calloc(c, n); }
extern "C" void skerry_net_mem_free(void* p) { free(p); }
extern "C" u32_t skerry_lwip_tcp_isn(const ip_addr_t*, u16_t, const ip_addr_t*, u16_t) { return 0; }
extern "C" err_t skerry_lwip_tcp_inpacket(struct tcp_pcb*, struct tcp_hdr*) { return ERR_OK; }
extern "C" struct netif* skerry_lwip_ip4_route_link_down(const ip4_addr_t*) { return nullptr; }
extern "C" u32_t* skerry_lwip_tcp_out_opts(const struct pbuf*, struct tcp_pcb*, const struct tcp_hdr*, u32_t* opts) {
    return opts;
}
uint32_t skerry_lwip_tcp_snd_buf = 512 * 1024;  // declared extern "C" in lwipopts.h
extern "C" void skerry_lwip_diag(const char*, ...) {}
extern "C" void skerry_lwip_assert(const char*, const char*, int) { stop(); }

// mbedTLS (MBEDTLS_ENTROPY_HARDWARE_ALT).
int mbedtls_hardware_poll(void*, unsigned char* out, size_t len, size_t* olen) {
    for (size_t i = 0; i < len; i++) out[i] = static_cast<unsigned char>(i);
    *olen = len;
    return 0;
}

extern "C" {
// src/kernel/runtime.cpp
uintptr_t __stack_chk_guard = 0x595e9fbd94fda766ull;
[[noreturn]] void __stack_chk_fail(void) { stop(); }
[[noreturn]] void __stack_chk_fail_local(void) { stop(); }

// src/kernel/syscalls.cpp
void* _sbrk(ptrdiff_t) { return reinterpret_cast<void*>(-1); }
int _write(int, const void*, size_t len) { return static_cast<int>(len); }
int _read(int, void*, size_t) { return -1; }
int _close(int) { return -1; }
int _fstat(int, struct stat*) { return -1; }
int _isatty(int) { return 0; }
off_t _lseek(int, off_t, int) { return -1; }
int _open(const char*, int, ...) { return -1; }
int _getpid(void) { return 1; }
int _kill(int, int) { return -1; }
[[noreturn]] void _exit(int) { stop(); }
int _gettimeofday(struct timeval*, void*) { return -1; }
int clock_gettime(clockid_t, struct timespec*) { return -1; }
int getentropy(void*, size_t) { return -1; }
clock_t _times(struct tms*) { return 0; }
int _link(const char*, const char*) { return -1; }
int _unlink(const char*) { return -1; }
int _stat(const char*, struct stat*) { return -1; }
int _fork(void) { return -1; }
int _execve(const char*, char* const*, char* const*) { return -1; }
int _wait(int*) { return -1; }
}
