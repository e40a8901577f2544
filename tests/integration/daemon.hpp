// Test harness: runs the real broodd (which runs the real brood-vmm and the
// test guest) in a scratch directory and talks to it like a user.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/broodd_process.hpp"

#include "manager/vmm_steps.hpp"

namespace brood::testing {

struct Reply {
    int status = 0; // 0: no answer (transport error)
    nlohmann::json body;
    std::string text;
    std::string content_type;
};

// Paths of the built programs (set by CMake; BROOD_TEST_BROODD, BROOD_VMM,
// BROOD_TEST_BROOD and BROOD_TEST_GUEST override them, as on the hardware-KVM lane).
std::string broodd_binary();
std::string brood_binary();
std::string vmm_binary();
std::string guest_kernel();
bool have_kvm();
// A TCP port on 127.0.0.1 that was free a moment ago.
int free_tcp_port();

class Daemon final {
public:
    // Makes a fresh scratch directory under /tmp.
    Daemon();
    // Where the tests' kernels, initrds and disks come from: the test
    // guest's and the assets' directories, the guest images, and the
    // temporary directory (tests make their disks there). Each daemon gets
    // them as --images-dir.
    static std::vector<std::string> images_dirs();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;
    ~Daemon(); // kills the daemon and every VMM of its data dir, removes the directory

    // Starts broodd (the shared launcher) and waits until it answers. Extra
    // flags are appended.
    void start(const std::vector<std::string>& extra_args = {});
    // Serves the same API from this process instead (its Manager and router,
    // on the same socket), with a hook at the steps where a VMM may die
    // (manager/vmm_steps.hpp). The VMMs are this process's children.
    void start_in_process(manager::VmmFaultHook vmm_fault);
    void kill9();
    void terminate(); // SIGTERM, wait
    pid_t pid() const { return _broodd ? _broodd->pid() : -1; }

    Reply call(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr,
               int timeout_ms = 120'000) const;

    // The same with a raw body (a file upload).
    Reply call_bytes(const std::string& method, const std::string& path, const std::string& body,
                     int timeout_ms = 120'000) const;

    // POST /instances with the test guest; returns the instance JSON.
    nlohmann::json create(const std::string& name, int memory_mib = 128) const;
    // Waits until the guest printed its ready line (test guest protocol)
    // after byte `from` of its serial log (the log is kept across boots).
    // With `quiet_ms`, it also gives up once the guest has printed nothing
    // for that long, and prints what every brood-vmm is doing.
    bool wait_guest_ready(const std::string& ref, size_t from = 0, int timeout_ms = 60'000,
                          const std::string& marker = "brood-guest ready", int quiet_ms = 0) const;
    size_t log_size(const std::string& ref) const;
    // POST console; returns the output ("" and a failure when not 200).
    std::string console(const std::string& ref, const std::string& input, const std::string& until,
                        int timeout_ms = 20'000) const;

    const std::string& dir() const { return _dir; }
    const std::string& socket() const { return _socket; }
    std::string data_dir() const { return _dir + "/data"; }
    std::string guests_dir() const { return _dir + "/data/guests"; }
    std::string log() const;

private:
    struct InProcess;

    std::string _dir;
    std::string _socket;
    std::optional<client::BrooddProcess> _broodd;
    std::unique_ptr<InProcess> _in_process;
};

// Kills a VMM with SIGKILL and waits until it is dead (a zombie, left for
// its parent to reap, or gone).
void kill9_and_wait(pid_t pid);

// Checks that GET /instances, the VMM processes, the directories and the
// template fork counts agree (gtest expectations).
void expect_consistent(const Daemon& d);

// brood-vmm processes (not zombies) serving an instance of `guests_dir`: id -> pid.
std::map<std::string, pid_t> vmm_processes(const std::string& guests_dir);
// Files and directories under `root`, with sizes and a digest of small files.
std::map<std::string, std::string> tree_digest(const std::string& root);

} // namespace brood::testing
