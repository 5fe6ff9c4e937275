// virtio driver registry (see registry.hpp).
#include "drivers/bus/virtio/registry.hpp"

namespace skerry::virtio {
namespace {
constinit Registry kernel_registry;
}

Registry& registry() { return kernel_registry; }

bool Registry::add(DeviceDriver& d) {
    if (d.name == nullptr || d.probe == nullptr || d.type == 0) return false;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next)
        if (p == &d || p->type == d.type) return false;
    d.next = head_;
    head_ = &d;
    return true;
}

const DeviceDriver* Registry::find(uint32_t type) const {
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next)
        if (p->type == type) return p;
    return nullptr;
}

size_t Registry::driver_count() const {
    size_t n = 0;
    for (const DeviceDriver* p = head_; p != nullptr; p = p->next) n++;
    return n;
}

}  // namespace skerry::virtio
