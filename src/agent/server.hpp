// The agent's listener: AF_VSOCK in a guest, a unix socket on the host for
// tests. One thread per connection, a bounded number at once.
#pragma once

#include <string>

#include "agent/handler.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood::agent {

inline constexpr int kMaxConnections = 32;

[[nodiscard]] Result<UniqueFd> listen_vsock(uint32_t port);
// Replaces a stale socket file at `path`.
[[nodiscard]] Result<UniqueFd> listen_unix(const std::string& path);

// Accepts and serves connections until accept fails for good.
[[nodiscard]] Result<void> serve(int listener, const AgentOptions& options);

// Serves one connection: frames in, answers out, until the peer closes,
// idles out or sends something that is not a frame.
void serve_connection(UniqueFd conn, const AgentOptions& options);

} // namespace brood::agent
