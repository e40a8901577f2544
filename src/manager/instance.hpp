// One instance in memory: its record, its VMM, and the locks that order
// what happens to it.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "manager/instance_record.hpp"
#include "manager/instance_state.hpp"
#include "manager/layout.hpp"
#include "manager/timed_lock.hpp"
#include "manager/vmm_process.hpp"

namespace brood::manager {

struct Instance final {
    explicit Instance(InstanceRecord r) : record(std::move(r)), id(record.id) {}

    // Serialises operations (start, stop, standby...) on this instance.
    TimedLock op_mutex;
    // One console exchange at a time (the VMM serves one serial client).
    TimedLock console_mutex;

    // Guards everything below; held only briefly (never across VMM calls).
    mutable std::mutex mutex;
    InstanceRecord record;
    std::shared_ptr<VmmProcess> vmm;
    bool paused = false;      // the VMM's vCPUs are paused
    bool expect_exit = false; // an operation is shutting the VMM down
    bool removed = false;     // deleted; late lookups must not use it

    const std::string id; // never changes
};

// A consistent picture of an instance for the API.
struct InstanceView {
    InstanceRecord record;
    State state = State::created;
    Facts facts;
    int pid = 0;
    std::string failure_reason; // when Failed
};

// Derives the view; takes `instance.mutex`.
InstanceView view_of(const Instance& instance, const Layout& layout);
bool snapshot_present(const Layout& layout, const std::string& id);
// The snapshot's memory file is a symbolic link (to a template's file).
bool memory_is_link(const Layout& layout, const std::string& id);

} // namespace brood::manager
