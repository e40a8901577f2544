// FNV-1a over a whole file's contents: enough for tests to notice any write
// (e.g. into a template's shared memory file). Header-only, no dependencies.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace brood::test {

inline uint64_t file_hash(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    uint64_t h = 1469598103934665603ull;
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i)
            h = (h ^ static_cast<uint8_t>(buf[static_cast<size_t>(i)])) * 1099511628211ull;
        if (!in) break;
    }
    return h;
}

} // namespace brood::test
