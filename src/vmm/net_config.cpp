#include "vmm/net_config.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace brood {

Result<NetConfig> parse_net_arg(const std::string& arg) {
    NetConfig config;
    bool have_mac = false;
    size_t start = 0;
    while (start <= arg.size()) {
        size_t end = arg.find(',', start);
        if (end == std::string::npos) end = arg.size();
        std::string opt = arg.substr(start, end - start);
        start = end + 1;
        if (opt.starts_with("tap=")) {
            config.tap = opt.substr(4);
            if (config.tap.empty() || config.tap.size() >= IFNAMSIZ)
                return fail(fmt::format("--net {:?}: a TAP name has 1 to {} characters", arg, IFNAMSIZ - 1));
        } else if (opt.starts_with("fd=")) {
            auto digits = std::string_view(opt).substr(3);
            auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), config.fd);
            if (ec != std::errc() || p != digits.data() + digits.size() || config.fd < 0)
                return fail(fmt::format("--net {:?}: fd= takes a file descriptor number", arg));
        } else if (opt.starts_with("mac=")) {
            config.mac = TRY_CTX(parse_mac(opt.substr(4)), fmt::format("--net {:?}", arg));
            have_mac = true;
        } else {
            return fail(fmt::format("--net {:?}: unknown option {:?} (tap=NAME, fd=N, mac=MAC)", arg, opt));
        }
    }
    if (config.tap.empty() == (config.fd < 0))
        return fail(fmt::format("--net {:?}: give one of tap=NAME and fd=N", arg));
    if (!have_mac) return fail(fmt::format("--net {:?}: mac=MAC is required", arg));
    return config;
}

Result<std::unique_ptr<virtio::Net>> open_net(const NetConfig& config) {
    UniqueFd fd;
    if (config.fd >= 0) {
        fd.reset(config.fd);
        int flags = ::fcntl(fd.get(), F_GETFL);
        if (flags < 0) return fail_errno(fmt::format("net fd {}", config.fd));
        if (::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) < 0 || ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0)
            return fail_errno(fmt::format("net fd {}: fcntl", config.fd));
    } else {
        fd.reset(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
        if (!fd) return fail_errno("open /dev/net/tun");
        ifreq ifr{};
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        std::strncpy(ifr.ifr_name, config.tap.c_str(), IFNAMSIZ - 1);
        if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return fail_errno(fmt::format("attach to TAP {}", config.tap));
    }
    return std::make_unique<virtio::Net>(std::move(fd), config.mac);
}

} // namespace brood
