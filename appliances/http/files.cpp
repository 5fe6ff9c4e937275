#include "appliances/http/files.hpp"

#include <string.h>

namespace http {

const File* find_file_in(const File* files, size_t count, const char* path) {
    const size_t len = strlen(path);
    const bool dir = len > 0 && path[len - 1] == '/';
    for (size_t i = 0; i < count; ++i) {
        const char* p = files[i].path;
        if (!dir) {
            if (strcmp(p, path) == 0) return &files[i];
        } else if (strncmp(p, path, len) == 0 && strcmp(p + len, "index.html") == 0) {
            return &files[i];
        }
    }
    return nullptr;
}

const File* find_file(const char* path) { return find_file_in(kFiles, kFileCount, path); }

}  // namespace http
