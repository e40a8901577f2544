// brood-agent on the host, for tests without a Linux guest: the agent in
// its unix-socket mode, and a stand-in for brood-vmm's vsock device that
// bridges an instance's vsock.sock to it ("CONNECT 52\n" -> "OK ...\n").
#pragma once

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"

namespace brood::test {

// The brood-agent under test (BROOD_TEST_AGENT overrides the build's).
std::string agent_path();

class HostAgent final {
public:
    // Starts brood-agent --listen-unix DIR/agent.sock (with --identity-log
    // DIR/identity.log when `log_identity`) and waits until it listens.
    HostAgent(const std::string& dir, bool log_identity);
    HostAgent(const HostAgent&) = delete;
    HostAgent& operator=(const HostAgent&) = delete;
    ~HostAgent(); // kills it

    const std::string& socket() const { return _socket; }
    const std::string& identity_log() const { return _identity_log; }
    pid_t pid() const { return _pid; }
    bool listening() const { return _pid > 0; }
    void kill();

private:
    std::string _socket;
    std::string _identity_log;
    pid_t _pid = -1;
};

class VsockBridge final {
public:
    // `agent_socket`: where CONNECT 52 is bridged to. Other ports are refused
    // (closed), as a VMM does when nothing listens in the guest.
    explicit VsockBridge(std::string agent_socket);
    VsockBridge(const VsockBridge&) = delete;
    VsockBridge& operator=(const VsockBridge&) = delete;
    ~VsockBridge();

    // Listens on `vsock_socket` (replacing any file there).
    void serve(const std::string& vsock_socket);
    // Also serves DIR/<id>/vsock.sock for every instance directory that
    // appears in `guests_dir` from now on (forks).
    void watch(const std::string& guests_dir);
    // Answers the handshake and then forwards nothing: an agent that hangs.
    void stall(bool on) { _stall = on; }
    int connections() const { return _connections; }

private:
    void loop();
    void bridge(UniqueFd conn);

    std::string _agent_socket;
    std::mutex _mutex;
    std::vector<UniqueFd> _listeners;
    std::set<std::string> _served;
    std::string _watched;
    std::atomic<bool> _stop{false};
    std::atomic<bool> _stall{false};
    std::atomic<int> _connections{0};
    std::vector<std::thread> _threads;
    std::thread _loop;
};

} // namespace brood::test
