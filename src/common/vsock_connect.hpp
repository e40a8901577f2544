// The host side of a guest's vsock port, for any host program: connects to
// a brood-vmm vsock socket (an instance's vsock.sock) and asks for a guest
// port, as docs/vsock.md describes ("CONNECT <port>\n", answered
// "OK <host-port>\n").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood {

// Returns a blocking stream socket joined to guest port `port`: what is
// written reaches the guest's socket, what the guest sends is read. The
// handshake's "OK" line has been consumed and nothing more. Fails with a
// message that says why: no VMM listening on `socket_path`, the guest
// refused (nothing listens on the port) or did not answer within `timeout`,
// or the answer was not the protocol's.
Result<UniqueFd> connect_vsock(const std::string& socket_path, uint32_t port, std::chrono::milliseconds timeout);

} // namespace brood
