// Admission control: how many instances, and how much guest memory, broodd
// takes on (docs/manager.md, "Admission control"). Every instance counts
// while it exists, whatever its state: the budget is what they would use if
// all of them ran. A template fork counts its memory size divided by the
// fork overcommit ratio, since most of its memory is the template's shared
// page cache and it pays only for the pages it writes.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "manager/op_error.hpp"

namespace brood::manager {

struct AdmissionLimits {
    uint64_t max_instances = 1024;
    uint64_t memory_budget_mib = 0; // 0: MemTotal minus a reserve (default_memory_budget_mib)
    double fork_overcommit = 4.0;   // >= 1
};

// What instances use, or a request asks for.
struct Usage {
    uint64_t instances = 0;
    double memory_mib = 0;
};

// One instance's share of the memory budget.
double memory_cost_mib(uint32_t memory_mib, bool shares_template_memory, double fork_overcommit);

// The default budget from /proc/meminfo's MemTotal: all of it but a reserve
// for the host (an eighth, at least 512 MiB). Nullopt when unreadable.
std::optional<uint64_t> default_memory_budget_mib();

// Pure: 409 too_many_instances or over_budget (naming what is requested,
// in use and the limit) when `requested` on top of `in_use` passes a limit.
[[nodiscard]] OpResult<void> check_admission(const AdmissionLimits& limits, const Usage& in_use,
                                             const Usage& requested);

// Requests admitted but whose instances are not registered yet count as in
// use, so two concurrent requests cannot both take the last room.
class Admission final {
public:
    // Releases its reservation when destroyed.
    class Ticket final {
    public:
        Ticket(Admission* owner, Usage usage) : _owner(owner), _usage(usage) {}
        Ticket(Ticket&& other) noexcept : _owner(std::exchange(other._owner, nullptr)), _usage(other._usage) {}
        Ticket(const Ticket&) = delete;
        Ticket& operator=(const Ticket&) = delete;
        Ticket& operator=(Ticket&&) = delete;
        ~Ticket();

    private:
        Admission* _owner;
        Usage _usage;
    };

    explicit Admission(AdmissionLimits limits) : _limits(limits) {}
    const AdmissionLimits& limits() const { return _limits; }
    // `registered` tells what the instances that exist use; it is called
    // under this object's lock, so an instance registered as its ticket is
    // released is counted once or twice, never missed.
    [[nodiscard]] OpResult<Ticket> admit(const std::function<Usage()>& registered, const Usage& requested);

private:
    AdmissionLimits _limits;
    std::mutex _mutex;
    Usage _pending;
};

} // namespace brood::manager
