#include "support/qmp.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace brood::bench {
namespace {

Result<UniqueFd> connect_unix(const std::string& path, Clock::time_point deadline) {
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) return fail(fmt::format("QMP socket path too long: {}", path));
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    for (;;) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) return fail_errno("socket");
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
        if (errno != ENOENT && errno != ECONNREFUSED) return fail_errno(fmt::format("connect {}", path));
        if (Clock::now() >= deadline) return fail(fmt::format("QMP socket {} did not appear", path), ETIMEDOUT);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
}

} // namespace

Result<Qmp> Qmp::connect(const std::string& socket_path, Clock::time_point deadline) {
    auto fd = TRY(connect_unix(socket_path, deadline));
    Qmp qmp{LineReader(std::move(fd))};
    auto greeting = TRY_CTX(qmp.read_message(deadline), "QMP greeting");
    if (!greeting.contains("QMP")) return fail(fmt::format("not a QMP greeting: {}", greeting.dump()));
    TRY(qmp.execute("qmp_capabilities"));
    return qmp;
}

Result<nlohmann::json> Qmp::read_message(Clock::time_point deadline) {
    auto line = TRY(_reader.next_line(deadline));
    try {
        return nlohmann::json::parse(line.text);
    } catch (const nlohmann::json::exception& e) {
        return fail(fmt::format("bad QMP message \"{}\": {}", line.text, e.what()));
    }
}

Result<nlohmann::json> Qmp::execute(const std::string& command, const nlohmann::json& arguments, Millis timeout) {
    nlohmann::json request{{"execute", command}};
    if (!arguments.is_null()) request["arguments"] = arguments;
    std::string text = request.dump() + "\n";
    if (::send(_reader.fd(), text.data(), text.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(text.size()))
        return fail_errno(fmt::format("QMP send {}", command));
    auto deadline = deadline_in(timeout);
    for (;;) {
        auto message = TRY_CTX(read_message(deadline), fmt::format("QMP {}", command));
        if (message.contains("event")) {
            _events.push_back(std::move(message));
            continue;
        }
        if (message.contains("error"))
            return fail(fmt::format("QMP {}: {}", command, message["error"].value("desc", message.dump())));
        if (message.contains("return")) return message["return"];
    }
}

Result<nlohmann::json> Qmp::wait_event(const std::string& name, Clock::time_point deadline) {
    for (;;) {
        while (!_events.empty()) {
            auto event = std::move(_events.front());
            _events.pop_front();
            if (event.value("event", "") == name) return event;
        }
        auto message = TRY_CTX(read_message(deadline), fmt::format("waiting for QMP event {}", name));
        if (message.contains("event")) _events.push_back(std::move(message));
    }
}

} // namespace brood::bench
