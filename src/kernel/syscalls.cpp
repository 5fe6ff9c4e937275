// Newlib's system-call layer. The console is fds 0-2; there is no file system, so everything else
// fails with ENOSYS (or EBADF for a descriptor we never handed out).
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

#include "hw/hw.hpp"
#include "kernel/arch/interrupts.hpp"
#include "kernel/heap.hpp"
#include "kernel/log.hpp"
#include "kernel/power.hpp"
#include "kernel/random.hpp"
#include "kernel/time.hpp"

// Two errnos: Newlib's _r wrappers (what its stdio and malloc call) clear and read the global `errno` of
// the system-call layer and copy it into the reentrancy structure; callers of the POSIX names and of
// clock_gettime/getentropy read the reentrancy structure's errno directly. Set both.
#undef errno
extern int errno;
static inline void set_errno(int e) {
    errno = e;
    *__errno() = e;
}

namespace skerry::heap {
namespace {
uint64_t heap_base, heap_size, heap_break;
}
void init(uint64_t b, uint64_t s) {
    heap_base = b;
    heap_size = s;
    heap_break = 0;
}
uint64_t size() { return heap_size; }
uint64_t used() { return heap_break; }
uint64_t base() { return heap_base; }

// Moves the break by increment; returns the old break address or nullptr when out of range.
static void* move_break(ptrdiff_t increment) {
    if (increment < 0 ? static_cast<uint64_t>(-increment) > heap_break
                      : static_cast<uint64_t>(increment) > heap_size - heap_break)
        return nullptr;
    uint64_t old = heap_base + heap_break;
    heap_break += static_cast<uint64_t>(increment);
    return reinterpret_cast<void*>(old);
}
}  // namespace skerry::heap

extern "C" {

void* _sbrk(ptrdiff_t increment) {
    void* old = skerry::heap::move_break(increment);
    if (!old) {
        set_errno(ENOMEM);
        return reinterpret_cast<void*>(-1);
    }
    return old;
}

int _write(int fd, const void* buf, size_t len) {
    if (fd == 1 || fd == 2) {
        skerry::log::write(static_cast<const char*>(buf), len);
        return static_cast<int>(len);
    }
    set_errno(EBADF);
    return -1;
}

int _read(int fd, void*, size_t) {
    if (fd == 0) {
        set_errno(EAGAIN);  // the console is read through the event loop, never blocking here
        return -1;
    }
    set_errno(EBADF);
    return -1;
}

int _close(int fd) {
    if (fd >= 0 && fd <= 2) return 0;
    set_errno(EBADF);
    return -1;
}

int _fstat(int fd, struct stat* st) {
    if (fd >= 0 && fd <= 2) {
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFCHR;
        return 0;
    }
    set_errno(EBADF);
    return -1;
}

int _isatty(int fd) {
    if (fd >= 0 && fd <= 2) return 1;
    set_errno(EBADF);
    return 0;
}

off_t _lseek(int, off_t, int) {
    set_errno(ESPIPE);
    return -1;
}

int _open(const char*, int, ...) {
    set_errno(ENOSYS);
    return -1;
}

int _getpid(void) { return 1; }

int _kill(int pid, int sig) {
    if (pid == 1 && sig == 6) skerry::interrupts::panic("abort() called");
    set_errno(ENOSYS);
    return -1;
}

void _exit(int status) {
    skerry::log::info("exit(%d): powering off", status);
    skerry::power::power_off(status);
}

int _gettimeofday(struct timeval* tv, void*) {
    uint64_t ns = skerry::time::now_ns();
    if (tv) {
        tv->tv_sec = static_cast<time_t>(skerry::time::epoch_offset() + static_cast<int64_t>(ns / 1000000000ull));
        tv->tv_usec = static_cast<suseconds_t>((ns % 1000000000ull) / 1000);
    }
    return 0;
}

int clock_gettime(clockid_t id, struct timespec* ts) {
    uint64_t ns = skerry::time::now_ns();
    if (!ts) {
        set_errno(EFAULT);
        return -1;
    }
    if (id == CLOCK_MONOTONIC) {
        ts->tv_sec = static_cast<time_t>(ns / 1000000000ull);
    } else if (id == CLOCK_REALTIME) {
        ts->tv_sec = static_cast<time_t>(skerry::time::epoch_offset() + static_cast<int64_t>(ns / 1000000000ull));
    } else {
        set_errno(EINVAL);
        return -1;
    }
    ts->tv_nsec = static_cast<long>(ns % 1000000000ull);
    return 0;
}

int getentropy(void* buf, size_t len) {
    if (len > 256) {
        set_errno(EIO);
        return -1;
    }
    if (!skerry::random::hardware_fill(buf, len)) {
        static bool told;
        if (!told) {
            told = true;
            skerry::log::error("getentropy: this CPU has no RDRAND, so there is no hardware entropy source; "
                               "callers get ENOSYS (give the VM a CPU model with RDRAND, e.g. QEMU -cpu max or host)");
        }
        set_errno(ENOSYS);
        return -1;
    }
    return 0;
}

clock_t _times(struct tms* t) {
    if (t) memset(t, 0, sizeof *t);
    return static_cast<clock_t>(skerry::time::now_ns() / 1000000ull);
}

#define SKERRY_ENOSYS(decl) \
    decl {                  \
        set_errno(ENOSYS);  \
        return -1;          \
    }
SKERRY_ENOSYS(int _link(const char*, const char*))
SKERRY_ENOSYS(int _unlink(const char*))
SKERRY_ENOSYS(int _stat(const char*, struct stat*))
SKERRY_ENOSYS(int _fork(void))
SKERRY_ENOSYS(int _execve(const char*, char* const*, char* const*))
SKERRY_ENOSYS(int _wait(int*))
#undef SKERRY_ENOSYS

// The POSIX names. Newlib's own code calls the underscore names above (through its _r wrappers); code
// written against POSIX (the appliances, ports of network tools) calls these, which are the same functions.
#define SKERRY_ALIAS(decl, target) decl __attribute__((alias(#target)));
SKERRY_ALIAS(int read(int, void*, size_t), _read)
SKERRY_ALIAS(int write(int, const void*, size_t), _write)
SKERRY_ALIAS(int close(int), _close)
SKERRY_ALIAS(int fstat(int, struct stat*), _fstat)
SKERRY_ALIAS(int isatty(int), _isatty)
SKERRY_ALIAS(off_t lseek(int, off_t, int), _lseek)
SKERRY_ALIAS(int open(const char*, int, ...), _open)
SKERRY_ALIAS(int getpid(void), _getpid)
SKERRY_ALIAS(int kill(int, int), _kill)
SKERRY_ALIAS(void* sbrk(ptrdiff_t), _sbrk)
SKERRY_ALIAS(clock_t times(struct tms*), _times)
SKERRY_ALIAS(int gettimeofday(struct timeval*, void*), _gettimeofday)
SKERRY_ALIAS(int link(const char*, const char*), _link)
SKERRY_ALIAS(int unlink(const char*), _unlink)
SKERRY_ALIAS(int stat(const char*, struct stat*), _stat)
#undef SKERRY_ALIAS

}  // extern "C"
