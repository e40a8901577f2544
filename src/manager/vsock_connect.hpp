// The host side of a VM's vsock device: brood-vmm listens on a unix socket
// (vsock.sock in the instance directory); a host process connects, writes
// "CONNECT <port>\n", reads "OK <n>\n", and from then on has a byte stream
// to that port in the guest.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood::manager {

// Errors: ECONNREFUSED when nothing listens at `socket_path` or the guest
// has no listener on `port` (the VMM closes the connection); ETIMEDOUT
// when the handshake does not finish within `timeout_ms`; EPROTO for an
// answer that is not "OK <n>".
[[nodiscard]] Result<UniqueFd> connect_vsock(const std::string& socket_path, uint32_t port, int timeout_ms);

} // namespace brood::manager
