// Member templates of Manager shared by its .cpp files.
#pragma once

#include <chrono>

#include "manager/manager.hpp"
#include "manager/op_log.hpp"

namespace brood::manager {

template <typename F>
Result<void> Manager::update_record(Instance& instance, F change) {
    std::lock_guard lock(instance.mutex);
    InstanceRecord next = instance.record;
    change(next);
    next.updated_at = now_rfc3339();
    TRY_CTX(save_record(_layout.metadata(instance.id), next), "save record of " + instance.id);
    instance.record = std::move(next);
    return {};
}

template <typename F>
auto Manager::timed(const std::string& op, const std::string& ref, F fn) -> decltype(fn()) {
    auto started = std::chrono::steady_clock::now();
    auto result = fn();
    auto took = std::chrono::steady_clock::now() - started;
    _metrics.observe_operation(op, result.has_value(), took);
    log_operation(op, ref, took, result.has_value() ? nullptr : &result.error());
    return result;
}

} // namespace brood::manager
