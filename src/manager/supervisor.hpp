// Watches every live VMM from one thread and reports each exit once.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "manager/vmm_process.hpp"

namespace brood::manager {

class Supervisor final {
public:
    using ExitFn = std::function<void(const std::string& instance_id, const std::shared_ptr<VmmProcess>& vmm)>;

    explicit Supervisor(ExitFn on_exit);
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;
    ~Supervisor();

    void watch(const std::string& instance_id, std::shared_ptr<VmmProcess> vmm);
    void stop();

private:
    struct Entry {
        std::string id;
        std::shared_ptr<VmmProcess> vmm;
    };
    void run();
    void wake();

    ExitFn _on_exit;
    UniqueFd _wake;
    std::mutex _mutex;
    std::vector<Entry> _entries;
    bool _stopping = false;
    std::thread _thread;
};

} // namespace brood::manager
