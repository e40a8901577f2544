#include "manager/network_pool.hpp"

#include <arpa/inet.h>

#include <charconv>

#include <fmt/format.h>

namespace brood::manager {

Result<uint32_t> parse_ipv4(const std::string& text) {
    in_addr addr{};
    if (::inet_pton(AF_INET, text.c_str(), &addr) != 1) return fail(fmt::format("{:?} is not an IPv4 address", text));
    return ntohl(addr.s_addr);
}

std::string format_ipv4(uint32_t ip) {
    return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

Result<Subnet> Subnet::parse(const std::string& cidr) {
    auto slash = cidr.find('/');
    if (slash == std::string::npos) return fail(fmt::format("subnet {:?}: expected ADDRESS/PREFIX", cidr));
    Subnet s;
    uint32_t ip = TRY_CTX(parse_ipv4(cidr.substr(0, slash)), fmt::format("subnet {:?}", cidr));
    auto digits = std::string_view(cidr).substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), s.prefix_len);
    // Room for the network, the gateway, one instance and the broadcast.
    if (ec != std::errc() || p != digits.data() + digits.size() || s.prefix_len < 8 || s.prefix_len > 30)
        return fail(fmt::format("subnet {:?}: the prefix length must be between 8 and 30", cidr));
    s.network = ip & s.netmask();
    if (s.network != ip) return fail(fmt::format("subnet {:?} has host bits set", cidr));
    return s;
}

std::string Subnet::to_string() const { return fmt::format("{}/{}", format_ipv4(network), prefix_len); }

MacAddress mac_for(const std::string& id, uint32_t attempt) {
    // FNV-1a over the id and the attempt: stable, and spread over 40 bits.
    uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](uint8_t b) { h = (h ^ b) * 0x100000001b3ULL; };
    for (char c : id) mix(static_cast<uint8_t>(c));
    for (int i = 0; i < 4; ++i) mix(static_cast<uint8_t>(attempt >> (8 * i)));
    MacAddress mac{0x02};
    for (size_t i = 1; i < mac.size(); ++i) mac[i] = static_cast<uint8_t>(h >> (8 * (i - 1)));
    return mac;
}

std::string tap_name_for(const std::string& id) { return "bt" + id.substr(0, 12); }

Result<NetIdentity> NetworkPool::reserve(const std::string& id) {
    std::lock_guard lock(_mutex);
    NetIdentity identity;
    for (uint32_t ip = _subnet.gateway() + 1; ip < _subnet.broadcast(); ++ip) {
        if (!_ips.count(ip)) {
            identity.ip = ip;
            break;
        }
    }
    if (identity.ip == 0) return fail(fmt::format("no address is left in subnet {}", _subnet.to_string()));
    for (uint32_t attempt = 0;; ++attempt) {
        identity.mac = mac_for(id, attempt);
        if (!_macs.count(identity.mac)) break;
    }
    _ips.insert(identity.ip);
    _macs.insert(identity.mac);
    return identity;
}

void NetworkPool::release(const NetIdentity& identity) {
    std::lock_guard lock(_mutex);
    _ips.erase(identity.ip);
    _macs.erase(identity.mac);
}

bool NetworkPool::adopt(const NetIdentity& identity) {
    std::lock_guard lock(_mutex);
    bool host = _subnet.contains(identity.ip) && identity.ip > _subnet.gateway() && identity.ip < _subnet.broadcast();
    if (!host || _ips.count(identity.ip) || _macs.count(identity.mac)) return false;
    _ips.insert(identity.ip);
    _macs.insert(identity.mac);
    return true;
}

} // namespace brood::manager
