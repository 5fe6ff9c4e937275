// /status: the appliance's state as JSON (version, uptime, hypervisor, NICs, lwIP's TCP/UDP counters,
// memory, the server's own counters). Kernel only.
#pragma once

#include <stddef.h>

namespace http {

// Writes the document into buf; returns its length (0 if it did not fit).
size_t write_status_json(char* buf, size_t cap);

}  // namespace http
