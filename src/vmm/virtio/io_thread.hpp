// The machine's I/O thread: device work (queue notifications, host fds)
// runs here, off the vCPU threads. Pausing parks it between events, after
// a hook that drains the queues and makes disks durable.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/virtio/event_loop.hpp"

namespace brood::virtio {

class IoThread final : public EventLoop {
public:
    struct Hooks {
        std::function<void()> on_park;   // before parking: finish in-flight work
        std::function<void()> on_resume; // after start and each resume: look at every queue again
    };

    static Result<std::unique_ptr<IoThread>> create();
    ~IoThread() override;
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    Result<void> watch(int fd, uint32_t epoll_events, std::function<void(uint32_t)> on_event) override;
    void unwatch(int fd) override;

    // Starts the thread, parked when `paused`.
    void start(Hooks hooks, bool paused);
    // Returns once the thread ran on_park and is parked.
    void pause();
    void resume();
    void stop();

private:
    IoThread(UniqueFd epoll, UniqueFd control) : _epoll(std::move(epoll)), _control(std::move(control)) {}
    void run();
    void park_if_asked();

    UniqueFd _epoll, _control;
    Hooks _hooks;
    std::thread _thread;
    std::mutex _mutex;
    std::condition_variable _cv;
    std::map<int, std::shared_ptr<std::function<void(uint32_t)>>> _callbacks;
    bool _pause_requested = false, _parked = false, _stop = false, _resumed = false;
};

} // namespace brood::virtio
