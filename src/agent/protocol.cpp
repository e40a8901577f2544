#include "agent/protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace brood::agent {

namespace {

constexpr char kMagic[4] = {'B', 'R', 'A', '1'};
constexpr size_t kPrefix = 12;

void put_u32(std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t get_u32(const char* p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

int ms_until(Deadline deadline) {
    if (deadline == Deadline::max()) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

// Waits until `fd` is ready for `events` or the deadline passes.
Result<void> wait_for(int fd, short events, Deadline deadline) {
    for (;;) {
        int wait = ms_until(deadline);
        pollfd p{fd, events, 0};
        int n = ::poll(&p, 1, wait);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("poll");
        if (n > 0) return {};
        if (wait == 0) return fail("timed out", ETIMEDOUT);
    }
}

// Reads exactly `size` bytes. `got_any` tells EOF before the first byte
// (a clean close) from EOF mid-way.
Result<void> read_exact(int fd, char* out, size_t size, Deadline deadline, bool& got_any) {
    size_t done = 0;
    while (done < size) {
        TRY(wait_for(fd, POLLIN, deadline));
        ssize_t n = ::read(fd, out + done, size - done);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return fail_errno("read");
        if (n == 0) return fail(got_any ? "connection closed in the middle of a frame" : "connection closed", ECONNRESET);
        got_any = true;
        done += static_cast<size_t>(n);
    }
    return {};
}

} // namespace

std::string encode(const Frame& frame) {
    std::string header = frame.header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out(kMagic, sizeof kMagic);
    put_u32(out, static_cast<uint32_t>(header.size()));
    put_u32(out, static_cast<uint32_t>(frame.payload.size()));
    out += header;
    out += frame.payload;
    return out;
}

Result<void> write_frame(int fd, const Frame& frame, Deadline deadline) {
    if (frame.payload.size() > kMaxPayload) return fail("frame payload over the limit", EMSGSIZE);
    std::string bytes = encode(frame);
    if (bytes.size() - kPrefix - frame.payload.size() > kMaxHeader) return fail("frame header over the limit", EMSGSIZE);
    size_t done = 0;
    while (done < bytes.size()) {
        TRY(wait_for(fd, POLLOUT, deadline));
        ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK) n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) return fail_errno("write");
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<std::optional<Frame>> read_frame(int fd, Deadline deadline, uint32_t max_payload) {
    char prefix[kPrefix];
    bool got_any = false;
    auto first = read_exact(fd, prefix, sizeof prefix, deadline, got_any);
    if (!first) {
        if (!got_any && first.error().errno_value() == ECONNRESET) return std::optional<Frame>();
        return fail(std::move(first.error()));
    }
    if (std::string_view(prefix, 4) != std::string_view(kMagic, 4)) return fail("not a frame (bad magic)", EPROTO);
    uint32_t header_len = get_u32(prefix + 4);
    uint32_t payload_len = get_u32(prefix + 8);
    if (header_len > kMaxHeader)
        return fail("frame header of " + std::to_string(header_len) + " bytes is over the limit of " +
                        std::to_string(kMaxHeader),
                    EMSGSIZE);
    if (payload_len > max_payload)
        return fail("frame payload of " + std::to_string(payload_len) + " bytes is over the limit of " +
                        std::to_string(max_payload),
                    EMSGSIZE);
    std::string header(header_len, '\0');
    TRY(read_exact(fd, header.data(), header.size(), deadline, got_any));
    Frame frame;
    frame.payload.resize(payload_len);
    TRY(read_exact(fd, frame.payload.data(), frame.payload.size(), deadline, got_any));
    frame.header = nlohmann::json::parse(header, nullptr, false);
    if (frame.header.is_discarded() || !frame.header.is_object())
        return fail("frame header is not a JSON object", EPROTO);
    return std::optional<Frame>(std::move(frame));
}

Frame error_frame(std::string_view code, std::string_view message) {
    Frame f;
    f.header = {{"ok", false}, {"code", code}, {"error", message}};
    return f;
}

} // namespace brood::agent
