#include "manager/names.hpp"

#include <sys/random.h>

#include <array>
#include <cstdint>
#include <random>

namespace brood::manager {

namespace {

bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

} // namespace

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 63) return false;
    if (!alnum(name.front()) || !alnum(name.back())) return false;
    for (char c : name)
        if (!alnum(c) && c != '-') return false;
    return true;
}

std::string name_rule() {
    return "1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";
}

std::string new_id() {
    std::array<uint8_t, 8> bytes{};
    if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
        std::random_device rd;
        for (auto& b : bytes) b = static_cast<uint8_t>(rd());
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    for (uint8_t b : bytes) {
        id += hex[b >> 4];
        id += hex[b & 15];
    }
    return id;
}

bool looks_like_id(std::string_view text) {
    if (text.size() != 16) return false;
    for (char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

} // namespace brood::manager
