#include "kernel/rtc.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::rtc {
namespace {

int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0xF); }
bool valid_bcd(uint8_t v) { return (v >> 4) <= 9 && (v & 0xF) <= 9; }

int days_in_month(int year, int month) {
    static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : kDays[month - 1];
}

uint8_t cmos(uint8_t reg) {
    hw::outb(0x70, static_cast<uint8_t>(0x80 | reg));  // bit 7 keeps NMIs disabled while we read
    return hw::inb(0x71);
}

bool read_raw(Raw& r) {
    // No CMOS at the ports (Hyper-V Gen2 may lack one) reads all ones, which also looks like "update in
    // progress": give up at once instead of spinning through the wait below, one port exit per try.
    if (cmos(0x0A) == 0xFF) return false;
    for (int i = 0; i < 100000 && (cmos(0x0A) & 0x80); ++i) hw::pause();  // update in progress
    r.second = cmos(0x00);
    r.minute = cmos(0x02);
    r.hour = cmos(0x04);
    r.day = cmos(0x07);
    r.month = cmos(0x08);
    r.year = cmos(0x09);
    r.century = cmos(0x32);
    r.status_b = cmos(0x0B);
    return !(r.second == 0xFF && r.minute == 0xFF && r.status_b == 0xFF);  // nothing at the ports
}

}  // namespace

bool decode(const Raw& raw, DateTime& out) {
    const bool binary = raw.status_b & 0x04;
    const bool h24 = raw.status_b & 0x02;
    const bool pm = !h24 && (raw.hour & 0x80);
    const uint8_t hour_bits = static_cast<uint8_t>(raw.hour & 0x7F);
    const uint8_t fields[] = {raw.second, raw.minute, hour_bits, raw.day, raw.month, raw.year};
    int v[6];
    for (int i = 0; i < 6; ++i) {
        if (!binary && !valid_bcd(fields[i])) return false;
        v[i] = binary ? fields[i] : from_bcd(fields[i]);
    }
    int century = 20;
    if (raw.century && raw.century != 0xFF) {
        if (!binary && !valid_bcd(raw.century)) return false;
        century = binary ? raw.century : from_bcd(raw.century);
        if (century < 19 || century > 29) century = 20;
    }
    int hour = v[2];
    if (!h24) {
        if (hour < 1 || hour > 12) return false;
        hour %= 12;
        if (pm) hour += 12;
    }
    DateTime t{century * 100 + v[5], v[4], v[3], hour, v[1], v[0]};
    if (t.month < 1 || t.month > 12 || t.day < 1 || t.day > days_in_month(t.year, t.month) || t.hour > 23 ||
        t.minute > 59 || t.second > 59)
        return false;
    out = t;
    return true;
}

int64_t to_unix(const DateTime& t) {
    // Days from the civil date (proleptic Gregorian), shifted so the year starts in March.
    int64_t y = t.year - (t.month <= 2 ? 1 : 0);
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t mp = (t.month + 9) % 12;
    const int64_t doy = (153 * mp + 2) / 5 + t.day - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + t.hour * 3600 + t.minute * 60 + t.second;
}

Status read_status(DateTime& out) {
    // An absent RTC (QEMU microvm with rtc=off, Firecracker): nothing decodes ports 0x70/0x71, reads give 0xFF.
    // Status register A then reads 0xFF, which no RTC holds (its divider bits 6-4 are never 111b while it runs
    // at 32.768 kHz, and bit 7 only flags an update for under 2 ms).
    if (cmos(0x0A) == 0xFF && cmos(0x0B) == 0xFF && cmos(0x00) == 0xFF) return Status::Absent;
    Raw a, b;
    for (int tries = 0; tries < 5; ++tries) {
        if (!read_raw(a) || !read_raw(b)) return Status::Invalid;
        if (memcmp(&a, &b, sizeof a) == 0) return decode(a, out) ? Status::Ok : Status::Invalid;
    }
    return Status::Invalid;
}

bool read(DateTime& out) { return read_status(out) == Status::Ok; }

}  // namespace skerry::rtc
