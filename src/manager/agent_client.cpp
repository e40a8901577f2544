#include "manager/agent_client.hpp"

#include <thread>

#include "manager/vsock_connect.hpp"

namespace brood::manager {

namespace {

using agent::Clock;

// Connects to the agent's port, retrying while the VMM or the agent is not
// listening yet (a guest that has just booted or been restored).
Result<UniqueFd> connect_agent(const std::string& vsock_socket, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int left = static_cast<int>(
            std::max<long long>(1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count()));
        auto fd = connect_vsock(vsock_socket, agent::kPort, left);
        if (fd) return fd;
        int e = fd.error().errno_value();
        bool retry = e == ECONNREFUSED || e == ECONNRESET || e == EAGAIN;
        if (!retry || Clock::now() + std::chrono::milliseconds(50) >= deadline)
            return fail(Error("the guest agent is not reachable within " + std::to_string(timeout_ms) +
                                  " ms: " + fd.error().message(),
                              retry ? ECONNREFUSED : e));
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

} // namespace

Result<agent::Frame> agent_call(const std::string& vsock_socket, const agent::Frame& request,
                                const AgentTimeouts& timeouts) {
    UniqueFd fd = TRY(connect_agent(vsock_socket, timeouts.connect_ms));
    auto deadline = Clock::now() + std::chrono::milliseconds(timeouts.answer_ms);
    if (auto sent = agent::write_frame(fd.get(), request, deadline); !sent) {
        int e = sent.error().errno_value();
        return fail("send to the guest agent: " + sent.error().message(), e == ETIMEDOUT ? ETIMEDOUT : ECONNRESET);
    }
    auto answer = agent::read_frame(fd.get(), deadline);
    if (!answer) {
        int e = answer.error().errno_value();
        if (e == ETIMEDOUT)
            return fail("the guest agent did not answer within " + std::to_string(timeouts.answer_ms) + " ms",
                        ETIMEDOUT);
        return fail("read the guest agent's answer: " + answer.error().message(), e == ECONNRESET ? ECONNRESET : EPROTO);
    }
    if (!*answer) return fail("the guest agent closed the connection without answering", ECONNRESET);
    const auto& h = (*answer)->header;
    if (!h.contains("ok") || !h["ok"].is_boolean()) return fail("the guest agent's answer has no \"ok\"", EPROTO);
    return std::move(**answer);
}

} // namespace brood::manager
