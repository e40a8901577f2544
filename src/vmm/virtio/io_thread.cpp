#include "vmm/virtio/io_thread.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>

namespace brood::virtio {

Result<std::unique_ptr<IoThread>> IoThread::create() {
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return fail_errno("epoll_create1");
    UniqueFd control(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!control) return fail_errno("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = control.get();
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, control.get(), &ev) < 0) return fail_errno("epoll_ctl");
    return std::unique_ptr<IoThread>(new IoThread(std::move(epoll), std::move(control)));
}

IoThread::~IoThread() { stop(); }

Result<void> IoThread::watch(int fd, uint32_t epoll_events, std::function<void(uint32_t)> on_event) {
    std::lock_guard lock(_mutex);
    epoll_event ev{};
    ev.events = epoll_events;
    ev.data.fd = fd;
    if (::epoll_ctl(_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0) return fail_errno(fmt::format("watch fd {}", fd));
    _callbacks[fd] = std::make_shared<std::function<void(uint32_t)>>(std::move(on_event));
    return {};
}

void IoThread::unwatch(int fd) {
    std::lock_guard lock(_mutex);
    ::epoll_ctl(_epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    _callbacks.erase(fd);
}

void IoThread::start(Hooks hooks, bool paused) {
    _hooks = std::move(hooks);
    {
        std::lock_guard lock(_mutex);
        _pause_requested = paused;
        _resumed = !paused;
    }
    _thread = std::thread([this] { run(); });
    if (paused) {
        std::unique_lock lock(_mutex);
        _cv.wait(lock, [this] { return _parked; });
    }
}

void IoThread::pause() {
    std::unique_lock lock(_mutex);
    if (!_thread.joinable() || _stop) return;
    _pause_requested = true;
    uint64_t one = 1;
    (void)!::write(_control.get(), &one, sizeof(one));
    _cv.wait(lock, [this] { return _parked || _stop; });
}

void IoThread::resume() {
    std::lock_guard lock(_mutex);
    _pause_requested = false;
    _resumed = true;
    _cv.notify_all();
}

void IoThread::stop() {
    {
        std::lock_guard lock(_mutex);
        _stop = true;
        _cv.notify_all();
    }
    uint64_t one = 1;
    (void)!::write(_control.get(), &one, sizeof(one));
    if (_thread.joinable()) _thread.join();
}

void IoThread::park_if_asked() {
    std::unique_lock lock(_mutex);
    if (!_pause_requested || _stop) return;
    lock.unlock();
    if (_hooks.on_park) _hooks.on_park();
    lock.lock();
    _parked = true;
    _resumed = false;
    _cv.notify_all();
    _cv.wait(lock, [this] { return !_pause_requested || _stop; });
    _parked = false;
}

void IoThread::run() {
    std::array<epoll_event, 16> events{};
    for (;;) {
        park_if_asked();
        bool resumed;
        {
            std::lock_guard lock(_mutex);
            if (_stop) return;
            resumed = _resumed;
            _resumed = false;
        }
        if (resumed && _hooks.on_resume) _hooks.on_resume();
        int n = ::epoll_wait(_epoll.get(), events.data(), static_cast<int>(events.size()), -1);
        if (n < 0 && errno != EINTR) return;
        for (int i = 0; i < n; ++i) {
            int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == _control.get()) {
                uint64_t v;
                (void)!::read(fd, &v, sizeof(v));
                continue;
            }
            std::shared_ptr<std::function<void(uint32_t)>> cb;
            {
                std::lock_guard lock(_mutex);
                if (auto it = _callbacks.find(fd); it != _callbacks.end()) cb = it->second;
            }
            if (cb) (*cb)(events[static_cast<size_t>(i)].events);
        }
    }
}

} // namespace brood::virtio
