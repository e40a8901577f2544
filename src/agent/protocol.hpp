// The guest agent's wire protocol (docs/guest-agent.md), shared by the agent
// and its host-side client so both frame and limit bytes the same way.
//
// A frame is a 12-byte prefix, a JSON object and raw payload bytes:
//   "BRA1" | u32 header length (big-endian) | u32 payload length | header | payload
// A connection carries requests and answers in turn: the host sends one
// frame, the agent answers one.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace brood::agent {

inline constexpr uint32_t kPort = 52;                       // AF_VSOCK port the agent listens on
inline constexpr uint32_t kMaxHeader = 64 * 1024;           // JSON header bytes
inline constexpr uint32_t kMaxPayload = 8 * 1024 * 1024;    // payload bytes of any frame
inline constexpr size_t kMaxOutput = 1024 * 1024;           // exec: kept per stream (stdout, stderr)
inline constexpr size_t kMaxStdin = 1024 * 1024;            // exec: stdin bytes
inline constexpr size_t kMaxFile = 4 * 1024 * 1024;         // file upload and download
inline constexpr size_t kMaxEntropy = 512;                  // identity: random bytes per call
inline constexpr int kDefaultExecTimeoutMs = 30'000;
inline constexpr int kMaxExecTimeoutMs = 300'000;

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct Frame {
    nlohmann::json header = nlohmann::json::object();
    std::string payload;
};

// The 12-byte prefix and the dumped header, then the payload.
std::string encode(const Frame& frame);

// Writes the whole frame before `deadline` (EMSGSIZE when over the limits).
[[nodiscard]] Result<void> write_frame(int fd, const Frame& frame, Deadline deadline);

// Reads one frame. nullopt: the peer closed the connection between frames.
// Errors: EPROTO (bad magic or a header that is not a JSON object), EMSGSIZE
// (a length over the limits), ETIMEDOUT, ECONNRESET (closed mid-frame), or
// the read's errno.
[[nodiscard]] Result<std::optional<Frame>> read_frame(int fd, Deadline deadline,
                                                      uint32_t max_payload = kMaxPayload);

// The answer to a failed request: {"ok": false, "code": code, "error": message}.
// Codes: bad_request, not_found, too_large, failed.
Frame error_frame(std::string_view code, std::string_view message);

} // namespace brood::agent
