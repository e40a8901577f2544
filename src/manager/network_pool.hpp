// Network identities broodd hands out: one MAC and one IPv4 address per
// instance, unique among the daemon's instances, from the daemon's subnet.
// A new instance holds its pair from reserve() until release(); records
// loaded at start are adopted.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "common/mac_address.hpp"
#include "common/result.hpp"

namespace brood::manager {

// An IPv4 subnet such as 172.30.0.0/24; addresses in host byte order.
struct Subnet {
    uint32_t network = 0;
    int prefix_len = 0;

    static Result<Subnet> parse(const std::string& cidr);
    uint32_t netmask() const { return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len); }
    uint32_t broadcast() const { return network | ~netmask(); }
    // The bridge's address: the first host of the subnet (.1).
    uint32_t gateway() const { return network + 1; }
    bool contains(uint32_t ip) const { return (ip & netmask()) == network; }
    std::string to_string() const;
};

std::string format_ipv4(uint32_t ip);
Result<uint32_t> parse_ipv4(const std::string& text);

// Locally administered and unicast (02:...), from the instance id; a later
// `attempt` gives another, for the rare clash.
MacAddress mac_for(const std::string& id, uint32_t attempt);
// The instance's TAP interface name: "bt" and the id's first 12 digits.
std::string tap_name_for(const std::string& id);

struct NetIdentity {
    MacAddress mac{};
    uint32_t ip = 0;
};

class NetworkPool final {
public:
    explicit NetworkPool(Subnet subnet) : _subnet(subnet) {}
    const Subnet& subnet() const { return _subnet; }

    // The lowest free host address (after the gateway) and a MAC no other
    // instance holds; an error when the subnet is full.
    Result<NetIdentity> reserve(const std::string& id);
    void release(const NetIdentity& identity);
    // Holds a loaded record's pair; false (nothing held) when it is outside
    // the subnet or another instance holds either half.
    bool adopt(const NetIdentity& identity);

private:
    Subnet _subnet;
    std::mutex _mutex;
    std::set<uint32_t> _ips;
    std::set<MacAddress> _macs;
};

} // namespace brood::manager
