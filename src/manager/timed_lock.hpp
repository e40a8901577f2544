// A lock with a timeout built from a mutex and a condition variable (unlike
// std::timed_mutex it is fully understood by ThreadSanitizer).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace brood::manager {

class TimedLock final {
public:
    TimedLock() = default;
    TimedLock(const TimedLock&) = delete;
    TimedLock& operator=(const TimedLock&) = delete;

    bool try_lock_for(std::chrono::milliseconds timeout) {
        std::unique_lock guard(_mutex);
        if (!_released.wait_for(guard, timeout, [this] { return !_held; })) return false;
        _held = true;
        return true;
    }
    void unlock() {
        {
            std::lock_guard guard(_mutex);
            _held = false;
        }
        _released.notify_one();
    }

private:
    std::mutex _mutex;
    std::condition_variable _released;
    bool _held = false;
};

// Owns one acquisition of a TimedLock; movable.
class TimedLockHolder final {
public:
    TimedLockHolder() = default;
    explicit TimedLockHolder(TimedLock* lock) : _lock(lock) {}
    TimedLockHolder(TimedLockHolder&& other) noexcept : _lock(std::exchange(other._lock, nullptr)) {}
    TimedLockHolder& operator=(TimedLockHolder&& other) noexcept {
        if (this != &other) {
            release();
            _lock = std::exchange(other._lock, nullptr);
        }
        return *this;
    }
    TimedLockHolder(const TimedLockHolder&) = delete;
    TimedLockHolder& operator=(const TimedLockHolder&) = delete;
    ~TimedLockHolder() { release(); }

    void release() {
        if (_lock) _lock->unlock();
        _lock = nullptr;
    }

private:
    TimedLock* _lock = nullptr;
};

} // namespace brood::manager
