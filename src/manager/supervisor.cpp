#include "manager/supervisor.hpp"

#include <poll.h>
#include <sys/eventfd.h>

namespace brood::manager {

Supervisor::Supervisor(ExitFn on_exit)
    : _on_exit(std::move(on_exit)), _wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    _thread = std::thread([this] { run(); });
}

Supervisor::~Supervisor() { stop(); }

void Supervisor::wake() {
    uint64_t one = 1;
    if (::write(_wake.get(), &one, sizeof one) < 0) {
        // The eventfd counter cannot overflow in practice; the loop also polls on a timer.
    }
}

void Supervisor::watch(const std::string& instance_id, std::shared_ptr<VmmProcess> vmm) {
    {
        std::lock_guard lock(_mutex);
        _entries.push_back({instance_id, std::move(vmm)});
    }
    wake();
}

void Supervisor::stop() {
    {
        std::lock_guard lock(_mutex);
        if (_stopping) return;
        _stopping = true;
    }
    wake();
    if (_thread.joinable()) _thread.join();
}

void Supervisor::run() {
    for (;;) {
        std::vector<Entry> entries;
        {
            std::lock_guard lock(_mutex);
            if (_stopping) return;
            entries = _entries;
        }
        std::vector<pollfd> fds{{_wake.get(), POLLIN, 0}};
        for (const Entry& e : entries) fds.push_back({e.vmm->pidfd(), POLLIN, 0});
        ::poll(fds.data(), fds.size(), 1000);
        uint64_t drained = 0;
        if (::read(_wake.get(), &drained, sizeof drained) < 0) {
            // EAGAIN: nothing to drain.
        }
        for (size_t i = 0; i < entries.size(); ++i) {
            if (fds[i + 1].revents == 0 || !entries[i].vmm->poll_exit()) continue;
            {
                std::lock_guard lock(_mutex);
                std::erase_if(_entries, [&](const Entry& e) { return e.vmm == entries[i].vmm; });
            }
            _on_exit(entries[i].id, entries[i].vmm);
        }
    }
}

} // namespace brood::manager
