// Heap objects without exceptions and without std::nothrow (which the kernel runtime does not define):
// malloc plus placement new; nullptr when memory is short. Internal to src/net.
#pragma once

#include <stdlib.h>
#include <new>

namespace skerry::net {

template <class T>
T* create() {
    void* p = malloc(sizeof(T));
    return p ? ::new (p) T() : nullptr;
}

template <class T>
void destroy(T* p) {
    if (!p) return;
    p->~T();
    free(p);
}

}  // namespace skerry::net
