#include "appliances/iperf/iperf3_proto.hpp"

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

namespace iperf::v3 {
namespace {

bool truthy(const cJSON* j) { return j && (cJSON_IsTrue(j) || (cJSON_IsNumber(j) && j->valuedouble != 0)); }

bool number(const cJSON* obj, const char* key, double* out) {
    const cJSON* j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(j)) return false;
    *out = j->valuedouble;
    return true;
}

}  // namespace

int stream_id(int index) { return index == 0 ? 1 : index + 2; }

Control::~Control() {
    free(out_);
    free(json_);
    if (results_) cJSON_free(results_);
}

bool Control::parse_params(const char* json, size_t len, Params* out) {
    cJSON* j = cJSON_ParseWithLength(json, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return false;
    }
    Params p;
    p.udp = truthy(cJSON_GetObjectItemCaseSensitive(j, "udp"));
    p.reverse = truthy(cJSON_GetObjectItemCaseSensitive(j, "reverse"));
    p.bidir = truthy(cJSON_GetObjectItemCaseSensitive(j, "bidirectional"));
    p.udp_counters_64bit = truthy(cJSON_GetObjectItemCaseSensitive(j, "udp_counters_64bit"));
    p.get_server_output = truthy(cJSON_GetObjectItemCaseSensitive(j, "get_server_output"));
    double v;
    if (number(j, "parallel", &v)) p.parallel = v < 1 ? 1 : v > kMaxStreams ? kMaxStreams : static_cast<int>(v);
    if (p.bidir && p.parallel > kMaxStreams / 2) p.parallel = kMaxStreams / 2;
    if (number(j, "time", &v) && v >= 0) p.time = v;
    if (number(j, "omit", &v) && v >= 0) p.omit = static_cast<int>(v);
    p.len = p.udp ? 1460 : 128 * 1024;
    if (number(j, "len", &v) && v > 0 && v <= 1024 * 1024) p.len = static_cast<uint64_t>(v);
    if (p.udp) p.bandwidth = 1000000;
    if (number(j, "bandwidth", &v) && v > 0) p.bandwidth = static_cast<uint64_t>(v);
    cJSON_Delete(j);
    *out = p;
    return true;
}

void Control::put(const void* p, size_t n) {
    if (out_len_ + n > out_cap_) {
        size_t cap = out_cap_ ? out_cap_ * 2 : 256;
        while (cap < out_len_ + n) cap *= 2;
        uint8_t* b = static_cast<uint8_t*>(realloc(out_, cap));
        if (!b) return;  // out of memory: the client will time out
        out_ = b;
        out_cap_ = cap;
    }
    memcpy(out_ + out_len_, p, n);
    out_len_ += n;
}

void Control::put_state(int8_t s) {
    state_ = s;
    put(&s, 1);
}

void Control::put_json(const char* s, size_t n) {
    const uint8_t hdr[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
                            static_cast<uint8_t>(n)};
    put(hdr, 4);
    put(s, n);
}

void Control::sent(size_t n) {
    if (n >= out_len_) {
        out_len_ = 0;
        return;
    }
    memmove(out_, out_ + n, out_len_ - n);
    out_len_ -= n;
}

Event Control::fail(const char* why) {
    error_ = why;
    in_ = In::Failed;
    return Event::Error;
}

// Collects one length-framed JSON message into json_; *complete once all of it is there.
size_t Control::take_json(const uint8_t* p, size_t len, bool* complete) {
    size_t used = 0;
    *complete = false;
    while (hdr_have_ < 4 && used < len) hdr_[hdr_have_++] = p[used++];
    if (hdr_have_ < 4) return used;
    if (!json_) {
        json_len_ = (size_t{hdr_[0]} << 24) | (size_t{hdr_[1]} << 16) | (size_t{hdr_[2]} << 8) | hdr_[3];
        if (json_len_ > kMaxJson) return used;  // caller checks json_ == nullptr
        json_ = static_cast<char*>(malloc(json_len_ + 1));
        if (!json_) return used;
        json_have_ = 0;
    }
    const size_t n = len - used < json_len_ - json_have_ ? len - used : json_len_ - json_have_;
    memcpy(json_ + json_have_, p + used, n);
    json_have_ += n;
    used += n;
    if (json_have_ == json_len_) {
        json_[json_len_] = 0;
        *complete = true;
    }
    return used;
}

size_t Control::feed(const void* data, size_t len, Event* event) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    size_t used = 0;
    *event = Event::None;
    while (used < len) {
        switch (in_) {
        case In::Cookie: {
            while (cookie_len_ < kCookieSize && used < len) cookie_[cookie_len_++] = static_cast<char>(p[used++]);
            if (cookie_len_ == kCookieSize) {
                cookie_[kCookieSize - 1] = 0;
                put_state(kParamExchange);
                in_ = In::ParamsJson;
            }
            break;
        }
        case In::ParamsJson:
        case In::ResultsJson: {
            bool complete;
            used += take_json(p + used, len - used, &complete);
            if (hdr_have_ == 4 && !json_) {
                *event = fail("JSON message too long or out of memory");
                return used;
            }
            if (!complete) break;
            if (in_ == In::ParamsJson) {
                const bool ok = parse_params(json_, json_len_, &params_);
                free(json_);
                json_ = nullptr;
                hdr_have_ = 0;
                if (!ok) {
                    *event = fail("malformed parameters JSON");
                    return used;
                }
                put_state(kCreateStreams);
                in_ = In::Running;
                *event = Event::CreateStreams;
                return used;
            }
            cJSON* j = cJSON_ParseWithLength(json_, json_len_);
            free(json_);
            json_ = nullptr;
            hdr_have_ = 0;
            if (!j) {
                *event = fail("malformed results JSON");
                return used;
            }
            const cJSON* streams = cJSON_GetObjectItemCaseSensitive(j, "streams");
            const cJSON* s;
            client_bytes_ = 0;
            cJSON_ArrayForEach(s, streams) {
                double b;
                if (number(s, "bytes", &b) && b > 0) client_bytes_ += static_cast<uint64_t>(b);
            }
            cJSON_Delete(j);
            if (results_) {
                put_json(results_, strlen(results_));
                cJSON_free(results_);
                results_ = nullptr;
            }
            put_state(kDisplayResults);
            in_ = In::Done;
            break;
        }
        case In::Running:
        case In::Done: {
            const int8_t s = static_cast<int8_t>(p[used++]);
            if (s == kTestEnd && in_ == In::Running) {
                state_ = kTestEnd;
                *event = Event::TestEnd;
                return used;
            }
            if (s == kIperfDone && in_ == In::Done) {
                state_ = kIperfDone;
                *event = Event::Done;
                return used;
            }
            if (s == kClientTerminate) {
                state_ = kClientTerminate;
                in_ = In::Failed;
                *event = Event::Terminated;
                return used;
            }
            *event = fail("unexpected state byte from the client");
            return used;
        }
        case In::Failed: return len;  // ignore everything
        }
    }
    return used;
}

void Control::start_test() {
    put_state(kTestStart);
    put_state(kTestRunning);
}

void Control::end_test(const StreamResult* results, int n, bool server_sent, double cpu_busy_percent,
                       const char* text) {
    cJSON* j = cJSON_CreateObject();
    // CPU: iperf3 reports getrusage() user and system time over wall time. An appliance runs everything in ring
    // 0, so its busy time (the event loop not halted) is "system" and the total; "user" is 0.
    const int has_retransmits = !server_sent ? -1 : params_.udp ? 0 : 1;
    if (j) {
        cJSON_AddNumberToObject(j, "cpu_util_total", cpu_busy_percent);
        cJSON_AddNumberToObject(j, "cpu_util_user", 0);
        cJSON_AddNumberToObject(j, "cpu_util_system", cpu_busy_percent);
        cJSON_AddNumberToObject(j, "sender_has_retransmits", has_retransmits);
        cJSON* arr = cJSON_AddArrayToObject(j, "streams");
        for (int i = 0; arr && i < n; ++i) {
            cJSON* s = cJSON_CreateObject();
            if (!s) break;
            cJSON_AddNumberToObject(s, "id", results[i].id);
            cJSON_AddNumberToObject(s, "bytes", static_cast<double>(results[i].bytes));
            cJSON_AddNumberToObject(s, "retransmits",
                                    has_retransmits == 1 ? static_cast<double>(results[i].retransmits) : -1);
            cJSON_AddNumberToObject(s, "jitter", results[i].jitter);
            cJSON_AddNumberToObject(s, "errors", static_cast<double>(results[i].errors));
            cJSON_AddNumberToObject(s, "packets", static_cast<double>(results[i].packets));
            cJSON_AddNumberToObject(s, "start_time", 0);
            cJSON_AddNumberToObject(s, "end_time", results[i].seconds);
            cJSON_AddItemToArray(arr, s);
        }
        if (text && params_.get_server_output) cJSON_AddStringToObject(j, "server_output_text", text);
        if (results_) cJSON_free(results_);
        results_ = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
    }
    put_state(kExchangeResults);
    in_ = In::ResultsJson;
}

}  // namespace iperf::v3
