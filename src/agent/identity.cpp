#include "agent/identity.hpp"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>

#include <cstring>
#include <vector>

#include "common/unique_fd.hpp"

#ifndef RNDRESEEDCRNG
#define RNDRESEEDCRNG _IO('R', 0x07) // Linux 4.17; older headers lack it
#endif

namespace brood::agent {

Result<void> add_entropy_and_reseed(std::string_view bytes, const std::string& random_device) {
    UniqueFd fd(::open(random_device.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + random_device);
    // struct rand_pool_info ends in a flexible array: build it in a buffer.
    std::vector<unsigned char> buf(sizeof(rand_pool_info) + bytes.size());
    rand_pool_info info{};
    info.entropy_count = static_cast<int>(bytes.size() * 8);
    info.buf_size = static_cast<int>(bytes.size());
    std::memcpy(buf.data(), &info, sizeof info);
    std::memcpy(buf.data() + sizeof info, bytes.data(), bytes.size());
    if (::ioctl(fd.get(), RNDADDENTROPY, buf.data()) != 0) return fail_errno("RNDADDENTROPY");
    if (::ioctl(fd.get(), RNDRESEEDCRNG) != 0) return fail_errno("RNDRESEEDCRNG");
    return {};
}

} // namespace brood::agent
