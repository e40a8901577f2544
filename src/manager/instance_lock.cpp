#include "manager/instance_lock.hpp"

#include <chrono>

namespace brood::manager {

OpResult<OpLock> OpLock::acquire(std::shared_ptr<Instance> instance, int timeout_ms) {
    if (!instance->op_mutex.try_lock_for(std::chrono::milliseconds(timeout_ms)))
        return busy("instance " + instance->id + " is busy with another operation");
    TimedLockHolder lock(&instance->op_mutex);
    {
        std::lock_guard guard(instance->mutex);
        if (instance->removed) return not_found("instance " + instance->id + " was deleted");
    }
    return OpLock(std::move(instance), std::move(lock));
}

} // namespace brood::manager
