#include "support/host_agent.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace brood::test {

namespace {

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

UniqueFd connect_unix(const std::string& path) {
    sockaddr_un addr = unix_address(path);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
    return fd;
}

UniqueFd listen_at(const std::string& path) {
    sockaddr_un addr = unix_address(path);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd.get(), 64) != 0)
        throw std::runtime_error("listen on " + path + ": " + std::strerror(errno));
    return fd;
}

bool send_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

} // namespace

std::string agent_path() {
    const char* env = std::getenv("BROOD_TEST_AGENT");
    return env && *env ? env : BROOD_AGENT_DEFAULT;
}

HostAgent::HostAgent(const std::string& dir, bool log_identity)
    : _socket(dir + "/agent.sock"), _identity_log(log_identity ? dir + "/identity.log" : "") {
    std::string binary = agent_path();
    std::vector<std::string> args{binary, "--listen-unix", _socket};
    if (log_identity) args.insert(args.end(), {"--identity-log", _identity_log});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    _pid = ::fork();
    if (_pid == 0) {
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    if (_pid < 0) throw std::runtime_error("fork");
    for (int i = 0; i < 200; ++i) {
        if (connect_unix(_socket)) return;
        int status = 0;
        if (::waitpid(_pid, &status, WNOHANG) == _pid) {
            _pid = -1;
            throw std::runtime_error(binary + " exited before it listened");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill();
    throw std::runtime_error(binary + " did not listen on " + _socket);
}

HostAgent::~HostAgent() { kill(); }

void HostAgent::kill() {
    if (_pid <= 0) return;
    ::kill(_pid, SIGKILL);
    ::waitpid(_pid, nullptr, 0);
    _pid = -1;
    ::unlink(_socket.c_str());
}

VsockBridge::VsockBridge(std::string agent_socket) : _agent_socket(std::move(agent_socket)) {
    _loop = std::thread([this] { loop(); });
}

VsockBridge::~VsockBridge() {
    _stop = true;
    _loop.join();
    for (auto& t : _threads) t.join();
}

void VsockBridge::serve(const std::string& vsock_socket) {
    UniqueFd fd = listen_at(vsock_socket);
    std::lock_guard lock(_mutex);
    _served.insert(vsock_socket);
    _listeners.push_back(std::move(fd));
}

void VsockBridge::watch(const std::string& guests_dir) {
    std::lock_guard lock(_mutex);
    _watched = guests_dir;
    std::error_code ec;
    // What exists now is not a new instance.
    for (const auto& entry : std::filesystem::directory_iterator(guests_dir, ec))
        _served.insert(entry.path().string() + "/vsock.sock");
}

void VsockBridge::loop() {
    while (!_stop) {
        std::vector<pollfd> fds;
        {
            std::lock_guard lock(_mutex);
            std::error_code ec;
            if (!_watched.empty()) {
                for (const auto& entry : std::filesystem::directory_iterator(_watched, ec)) {
                    std::string name = entry.path().filename().string();
                    std::string sock = entry.path().string() + "/vsock.sock";
                    if (name.empty() || name[0] == '.' || _served.count(sock)) continue;
                    if (!std::filesystem::is_directory(entry.path(), ec)) continue;
                    _served.insert(sock);
                    try {
                        _listeners.push_back(listen_at(sock));
                    } catch (const std::exception&) { // the directory went away
                    }
                }
            }
            for (auto& l : _listeners) fds.push_back({l.get(), POLLIN, 0});
        }
        ::poll(fds.data(), fds.size(), 10);
        for (const auto& p : fds) {
            if (!(p.revents & POLLIN)) continue;
            int fd = ::accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            ++_connections;
            _threads.emplace_back([this, fd] { bridge(UniqueFd(fd)); });
        }
    }
}

void VsockBridge::bridge(UniqueFd conn) {
    std::string line;
    char c;
    while (line.size() < 64 && ::read(conn.get(), &c, 1) == 1 && c != '\n') line.push_back(c);
    if (line != "CONNECT 52") return; // nothing listens on other ports
    UniqueFd agent = connect_unix(_agent_socket);
    if (!agent) return;
    const char ok[] = "OK 1073741824\n";
    if (!send_all(conn.get(), ok, sizeof ok - 1)) return;
    char buf[65536];
    while (!_stop) {
        if (_stall) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            continue;
        }
        pollfd fds[2] = {{conn.get(), POLLIN, 0}, {agent.get(), POLLIN, 0}};
        if (::poll(fds, 2, 20) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) return;
            if (!send_all(fds[1 - i].fd, buf, static_cast<size_t>(n))) return;
        }
    }
}

} // namespace brood::test
