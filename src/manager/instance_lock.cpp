#include "manager/instance_lock.hpp"

#include <chrono>

namespace brood::manager {

OpResult<OpLock> OpLock::acquire(std::shared_ptr<Instance> instance, int timeout_ms) {
    std::unique_lock lock(instance->op_mutex, std::defer_lock);
    if (!lock.try_lock_for(std::chrono::milliseconds(timeout_ms)))
        return busy("instance " + instance->id + " is busy with another operation");
    {
        std::lock_guard guard(instance->mutex);
        if (instance->removed) return not_found("instance " + instance->id + " was deleted");
    }
    return OpLock(std::move(instance), std::move(lock));
}

} // namespace brood::manager
