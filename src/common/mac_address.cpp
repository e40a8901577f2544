#include "common/mac_address.hpp"

#include <fmt/format.h>

namespace brood {
namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

Result<MacAddress> parse_mac(std::string_view text) {
    auto bad = [text](std::string_view why) { return fail(fmt::format("MAC address {:?}: {}", text, why)); };
    if (text.size() != 17) return bad("expected six hex bytes like 02:00:00:00:00:01");
    MacAddress mac{};
    for (size_t i = 0; i < mac.size(); ++i) {
        int hi = hex_digit(text[i * 3]), lo = hex_digit(text[i * 3 + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':'))
            return bad("expected six hex bytes like 02:00:00:00:00:01");
        mac[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    if (mac[0] & 1) return bad("a multicast address cannot name one NIC");
    if (mac == MacAddress{}) return bad("all zeros");
    return mac;
}

std::string format_mac(const MacAddress& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]);
}

} // namespace brood
