#include "agent/net_identity.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/mac_address.hpp"
#include "common/unique_fd.hpp"

namespace brood::agent {
namespace {

struct Parsed {
    MacAddress mac{};
    in_addr ip{}, netmask{}, gateway{};
    bool has_gateway = false;
};

Result<Parsed> parse(const NetIdentity& id) {
    Parsed p;
    p.mac = TRY(parse_mac(id.mac));
    auto slash = id.ip.find('/');
    if (slash == std::string::npos) return fail("ip must be ADDRESS/PREFIX, got \"" + id.ip + "\"");
    if (::inet_pton(AF_INET, id.ip.substr(0, slash).c_str(), &p.ip) != 1)
        return fail("ip \"" + id.ip + "\" is not an IPv4 address");
    int prefix = -1;
    auto digits = std::string_view(id.ip).substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size() || prefix < 1 || prefix > 32)
        return fail("ip \"" + id.ip + "\": the prefix length must be between 1 and 32");
    p.netmask.s_addr = htonl(prefix == 32 ? ~0U : ~(~0U >> prefix));
    if (!id.gateway.empty()) {
        if (::inet_pton(AF_INET, id.gateway.c_str(), &p.gateway) != 1)
            return fail("gateway \"" + id.gateway + "\" is not an IPv4 address");
        p.has_gateway = true;
    }
    return p;
}

Result<std::string> first_ethernet() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net", ec)) {
        std::ifstream type(entry.path() / "type");
        int arphrd = 0;
        if (type >> arphrd && arphrd == ARPHRD_ETHER) names.push_back(entry.path().filename().string());
    }
    if (names.empty()) return fail("the guest has no Ethernet interface");
    return *std::min_element(names.begin(), names.end());
}

ifreq request_for(const std::string& name) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return ifr;
}

Result<void> set_flags(int sock, const std::string& name, bool up) {
    ifreq ifr = request_for(name);
    if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return fail_errno("SIOCGIFFLAGS " + name);
    ifr.ifr_flags = static_cast<short>(up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP));
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) return fail_errno(std::string(up ? "bring up " : "bring down ") + name);
    return {};
}

Result<void> set_inet(int sock, const std::string& name, unsigned long request, in_addr value, const char* what) {
    ifreq ifr = request_for(name);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr = value;
    std::memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
    if (::ioctl(sock, request, &ifr) < 0) return fail_errno(std::string(what) + " " + name);
    return {};
}

} // namespace

Result<void> check_net_identity(const NetIdentity& identity) {
    TRY(parse(identity));
    return {};
}

Result<std::string> apply_net_identity(const NetIdentity& identity) {
    Parsed p = TRY(parse(identity));
    std::string name = TRY(first_ethernet());
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return fail_errno("socket");
    // The MAC can only change while the interface is down.
    TRY(set_flags(sock.get(), name, false));
    ifreq ifr = request_for(name);
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    std::memcpy(ifr.ifr_hwaddr.sa_data, p.mac.data(), p.mac.size());
    if (::ioctl(sock.get(), SIOCSIFHWADDR, &ifr) < 0) return fail_errno("SIOCSIFHWADDR " + name);
    // SIOCSIFADDR replaces the interface's primary address and the routes
    // that went with it.
    TRY(set_inet(sock.get(), name, SIOCSIFADDR, p.ip, "set the address of"));
    TRY(set_inet(sock.get(), name, SIOCSIFNETMASK, p.netmask, "set the netmask of"));
    TRY(set_flags(sock.get(), name, true));
    if (p.has_gateway) {
        rtentry route{};
        auto* dst = reinterpret_cast<sockaddr_in*>(&route.rt_dst);
        auto* gw = reinterpret_cast<sockaddr_in*>(&route.rt_gateway);
        auto* mask = reinterpret_cast<sockaddr_in*>(&route.rt_genmask);
        dst->sin_family = gw->sin_family = mask->sin_family = AF_INET;
        gw->sin_addr = p.gateway;
        route.rt_flags = RTF_UP | RTF_GATEWAY;
        route.rt_dev = name.data();
        if (::ioctl(sock.get(), SIOCADDRT, &route) < 0 && errno != EEXIST) return fail_errno("add the default route");
    }
    return name;
}

} // namespace brood::agent
