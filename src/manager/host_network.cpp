#include "manager/host_network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/defer.hpp"
#include "common/unique_fd.hpp"

namespace brood::manager {
namespace {

// "create TAP bt01: Operation not permitted (broodd needs CAP_NET_ADMIN ...)"
tl::unexpected<Error> fail_net(const std::string& what) {
    int e = errno;
    Error error = Error::from_errno(what, e);
    if (e == EPERM || e == EACCES)
        return fail(Error(error.message() + " (networking needs CAP_NET_ADMIN: run broodd as root or grant it)", e));
    return fail(std::move(error));
}

ifreq request_for(const std::string& name) {
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return ifr;
}

Result<UniqueFd> control_socket() {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    return fd;
}

Result<void> set_up(int sock, const std::string& name) {
    ifreq ifr = request_for(name);
    if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) return fail_net("read the flags of " + name);
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) return fail_net("bring up " + name);
    return {};
}

Result<void> set_ipv4(int sock, const std::string& name, unsigned long request, uint32_t value, const char* what) {
    ifreq ifr = request_for(name);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(value);
    std::memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
    if (::ioctl(sock, request, &ifr) < 0) return fail_net(fmt::format("set the {} of {}", what, name));
    return {};
}

Result<void> set_persist(const std::string& tap, int flags, bool persist) {
    UniqueFd tun(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!tun) return fail_net("open /dev/net/tun");
    ifreq ifr = request_for(tap);
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | flags);
    if (::ioctl(tun.get(), TUNSETIFF, &ifr) < 0) {
        if (errno == EBUSY) return fail(Error(fmt::format("interface {} exists already", tap), EBUSY));
        return fail_net("create TAP " + tap);
    }
    if (::ioctl(tun.get(), TUNSETPERSIST, persist ? 1 : 0) < 0)
        return fail_net(fmt::format("make TAP {} {}", tap, persist ? "persistent" : "transient"));
    return {};
}

} // namespace

bool interface_exists(const std::string& name) { return ::if_nametoindex(name.c_str()) != 0; }

Result<void> ensure_bridge(const std::string& bridge, uint32_t address, int prefix_len) {
    UniqueFd sock = TRY(control_socket());
    if (!interface_exists(bridge) && ::ioctl(sock.get(), SIOCBRADDBR, bridge.c_str()) < 0 && errno != EEXIST)
        return fail_net("create bridge " + bridge);
    ifreq ifr = request_for(bridge);
    uint32_t current = 0;
    if (::ioctl(sock.get(), SIOCGIFADDR, &ifr) == 0) {
        sockaddr_in sin{};
        std::memcpy(&sin, &ifr.ifr_addr, sizeof(sin));
        current = ntohl(sin.sin_addr.s_addr);
    }
    if (current != address) {
        TRY(set_ipv4(sock.get(), bridge, SIOCSIFADDR, address, "address"));
        uint32_t mask = prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
        TRY(set_ipv4(sock.get(), bridge, SIOCSIFNETMASK, mask, "netmask"));
    }
    return set_up(sock.get(), bridge);
}

Result<void> create_tap(const std::string& tap, const std::string& bridge) {
    TRY(set_persist(tap, IFF_TUN_EXCL, true));
    Defer remove([&] { (void)delete_tap(tap); });
    UniqueFd sock = TRY(control_socket());
    ifreq ifr = request_for(bridge);
    ifr.ifr_ifindex = static_cast<int>(::if_nametoindex(tap.c_str()));
    if (ifr.ifr_ifindex == 0) return fail_net("find TAP " + tap);
    if (::ioctl(sock.get(), SIOCBRADDIF, &ifr) < 0) return fail_net(fmt::format("attach {} to bridge {}", tap, bridge));
    TRY(set_up(sock.get(), tap));
    remove.cancel();
    return {};
}

Result<void> ensure_tap(const std::string& tap, const std::string& bridge) {
    if (interface_exists(tap)) return {};
    return create_tap(tap, bridge);
}

Result<void> delete_tap(const std::string& tap) {
    if (!interface_exists(tap)) return {};
    return set_persist(tap, 0, false);
}

} // namespace brood::manager
