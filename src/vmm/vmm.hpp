// A running VMM: the Machine plus its one action loop. The main thread runs
// the loop: control-API actions (one at a time), ending signals, and the
// deadline of a graceful shutdown, until the machine ends.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "vmm/action_queue.hpp"
#include "vmm/machine.hpp"

namespace brood {

class Vmm final {
public:
    // `description`: the boot source or snapshot origin, for GET /vm.
    Vmm(std::unique_ptr<Machine> machine, std::unique_ptr<ActionQueue> actions, nlohmann::json description);

    Machine& machine() { return *_machine; }
    // How snapshot paths from the control API become the paths the VMM
    // opens (relative to its jail directory; by default as they are).
    // Opens /proc/self/statm for the statistics before a box (--jail) hides /proc.
    static bool open_proc_self();
    void set_path_mapper(std::function<std::string(const std::string&)> mapper) { _map_path = std::move(mapper); }
    ActionQueue& actions() { return *_actions; }

    // Runs until the machine ends; answers what is still queued, stops the
    // vCPUs, and returns the process exit code.
    int run(int signal_fd);

    // Runs one action on the loop's thread (public for run_pending).
    http::Response handle(const VmmAction& action);

private:
    http::Response info();
    http::Response shutdown(const nlohmann::json& body);
    http::Response snapshot(const nlohmann::json& body);
    http::Response stats();
    int poll_timeout_ms() const;

    std::unique_ptr<Machine> _machine;
    std::unique_ptr<ActionQueue> _actions;
    nlohmann::json _description;
    std::chrono::steady_clock::time_point _started;
    std::optional<std::chrono::steady_clock::time_point> _shutdown_deadline;
    std::function<std::string(const std::string&)> _map_path = [](const std::string& p) { return p; };
};

} // namespace brood
