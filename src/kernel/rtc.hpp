// The CMOS real-time clock (MC146818-compatible, as on PCs and every PC-like VM): the wall-clock time at
// boot, which gives CLOCK_REALTIME and gettimeofday their epoch. Absent on Hyper-V Gen2 / hardware-reduced
// ACPI (the FADT says so); the kernel then keeps the epoch at 0 and says so in the log.
#pragma once

#include <stdint.h>

namespace skerry::rtc {

struct DateTime {
    int year, month, day, hour, minute, second;
};

// Raw CMOS registers as read: seconds (0x00), minutes (0x02), hours (0x04), day (0x07), month (0x08),
// year (0x09), century (0x32, 0 = unknown) and status B (0x0B: bit 2 binary, bit 1 24-hour).
struct Raw {
    uint8_t second, minute, hour, day, month, year, century, status_b;
};

// Decodes BCD or binary, 12- or 24-hour values; false when a field is out of range.
bool decode(const Raw& raw, DateTime& out);
// Seconds since 1970-01-01 00:00:00 UTC (the RTC is taken to run on UTC, as QEMU's does by default).
int64_t to_unix(const DateTime& t);

// Reads the RTC through ports 0x70/0x71, waiting out an update in progress and re-reading until two reads
// agree (bounded). False when no sane time could be read.
bool read(DateTime& out);
// The same, telling an absent RTC (every register reads 0xFF: nothing at the ports) from one that gave no sane
// date.
enum class Status : uint8_t { Ok, Absent, Invalid };
Status read_status(DateTime& out);

}  // namespace skerry::rtc
