// An Ethernet MAC address: parsing and printing "02:ab:cd:ef:01:23".
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood {

using MacAddress = std::array<uint8_t, 6>;

// Six two-digit hex bytes separated by ':'; a multicast address (the low
// bit of the first byte) or all zeros is refused: no NIC may have one.
Result<MacAddress> parse_mac(std::string_view text);
std::string format_mac(const MacAddress& mac);

} // namespace brood
