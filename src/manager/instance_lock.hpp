// The per-instance operation lock: operations on one instance run one after
// another, operations on different instances in parallel.
#pragma once

#include <memory>
#include <mutex>

#include "manager/instance.hpp"
#include "manager/op_error.hpp"

namespace brood::manager {

class OpLock final {
public:
    // Waits up to `timeout_ms` (then 409 busy); 404 when the instance was
    // deleted while we waited.
    static OpResult<OpLock> acquire(std::shared_ptr<Instance> instance, int timeout_ms);

    OpLock(OpLock&&) noexcept = default;
    OpLock& operator=(OpLock&&) noexcept = default;
    OpLock(const OpLock&) = delete;
    OpLock& operator=(const OpLock&) = delete;
    ~OpLock() = default;

    Instance& instance() const { return *_instance; }

private:
    OpLock(std::shared_ptr<Instance> instance, TimedLockHolder lock)
        : _instance(std::move(instance)), _lock(std::move(lock)) {}
    std::shared_ptr<Instance> _instance;
    TimedLockHolder _lock; // declared last: released before the instance pointer goes
};

} // namespace brood::manager
