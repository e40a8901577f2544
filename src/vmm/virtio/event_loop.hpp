// Where device work runs: host fds watched on the machine's I/O thread.
#pragma once

#include <cstdint>
#include <functional>

#include "common/result.hpp"

namespace brood::virtio {

class EventLoop {
public:
    virtual ~EventLoop() = default;
    // `on_event` runs on the loop's thread with the epoll events.
    virtual Result<void> watch(int fd, uint32_t epoll_events, std::function<void(uint32_t)> on_event) = 0;
    virtual void unwatch(int fd) = 0;
};

} // namespace brood::virtio
