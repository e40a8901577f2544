// broodd's core: owns the data directory and every instance state change.
// No HTTP here; src/api maps requests onto these calls.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/protocol.hpp"
#include "manager/admission.hpp"
#include "manager/agent_ops.hpp"
#include "manager/console.hpp"
#include "manager/fork_request.hpp"
#include "manager/fork_steps.hpp"
#include "manager/instance.hpp"
#include "manager/layout.hpp"
#include "manager/vmm_jail.hpp"
#include "manager/metrics.hpp"
#include "manager/network_pool.hpp"
#include "manager/op_error.hpp"
#include "manager/registry.hpp"
#include "manager/supervisor.hpp"
#include "manager/templates.hpp"
#include "manager/vmm_steps.hpp"

namespace brood::manager {

struct ManagerConfig {
    std::string data_dir = "/var/lib/brood";
    std::string vmm_binary;
    int ready_timeout_ms = 30'000;
    int default_stop_timeout_ms = 5'000;
    int snapshot_timeout_ms = 120'000;
    int lock_timeout_ms = 300'000;
    Backend restore_backend = Backend::file;
    uint32_t max_memory_mib = 65'536;
    uint32_t max_vcpus = 64;
    // Template forks made at once by one fan-out request (unless it asks
    // for another number).
    int fork_concurrency = 4;
    // The guest agent: how long to try to reach it, and how long a file
    // transfer or a fork's identity call may take once reached.
    int agent_connect_timeout_ms = 3'000;
    int agent_answer_timeout_ms = 30'000;
    // Instance networking (docs/networking.md): the bridge broodd manages,
    // which gets the subnet's first address, and the subnet instances'
    // addresses come from.
    std::string bridge = "brood0";
    std::string subnet = "172.30.0.0/24";
    // The box each VMM runs in (brood-vmm --jail; docs/security.md): on, and
    // with vmm_uid_base set, instance n's VMM runs as uid and gid
    // vmm_uid_base + its vsock CID once its machine is built.
    bool vmm_jail = false;
    uint32_t vmm_uid_base = 0;
    // Instances and guest memory the daemon takes on (admission.hpp); a
    // budget of 0 is MemTotal minus a reserve.
    AdmissionLimits admission;
    // Tests only: fails chosen steps of a fork (fork_steps.hpp).
    ForkFaultHook fork_fault;
    // Tests only: called at the steps where a VMM may die (vmm_steps.hpp).
    VmmFaultHook vmm_fault;
};

// What a fork request made (docs/manager.md, "Forks and templates"). Forks
// are whole or absent; each failure names the fork (or the source, when
// restoring it after a from_running fork failed).
struct ForkFailure {
    std::string name;
    OpError error;
};
// Told of each fork of a request as soon as it is made (or has failed),
// from the thread that made it: several may call at once.
using ForkProgress = std::function<void(const std::string& name, const OpResult<InstanceView>& made)>;

struct ForkOutcome {
    std::vector<InstanceView> instances;
    std::vector<ForkFailure> errors;
};

// How every fork of one request is made, decided under the source's lock.
struct ForkPlan {
    InstanceRecord source;
    State target = State::running;     // Running, Standby or Stopped
    bool copy_snapshot = false;        // else the fork has no snapshot and boots fresh
    std::string template_id;           // counted for this template (may be inherited)
    std::string link_memory_to;        // template forks: the canonical memory file
};

struct TemplateSpec {
    std::string source; // instance id or name, in Standby
    std::string name;
    std::map<std::string, std::string> tags;
};

struct CreateSpec {
    std::string name;
    std::string kernel;
    std::string initrd;
    std::string cmdline;
    int64_t memory_mib = 128;
    int64_t vcpus = 1;
    std::vector<DiskRecord> disks; // path and read_only; checked by create
    bool agent = false;
    // A NIC on this bridge (empty: the daemon's); no NIC without it.
    std::optional<std::string> network_bridge;
};

// What the daemon found and repaired when it opened the data directory.
struct ReconcileReport {
    int loaded = 0;
    int adopted = 0;        // live VMMs taken over
    int marked_failed = 0;
    int removed_dirs = 0;   // half-created or half-deleted directories
    int killed_strays = 0;  // VMM processes that belonged to no instance
};

class Manager final {
public:
    // Creates the layout if needed and reconciles disk, records and processes.
    static Result<std::unique_ptr<Manager>> open(ManagerConfig config);
    Manager(const Manager&) = delete;
    Manager& operator=(const Manager&) = delete;
    ~Manager();

    OpResult<InstanceView> create(const CreateSpec& spec);
    std::vector<InstanceView> list() const;
    OpResult<InstanceView> get(const std::string& ref) const;

    OpResult<InstanceView> start(const std::string& ref);
    OpResult<InstanceView> stop(const std::string& ref, std::optional<int> timeout_ms);
    OpResult<InstanceView> standby(const std::string& ref);
    OpResult<InstanceView> restore(const std::string& ref);
    OpResult<InstanceView> pause(const std::string& ref);
    OpResult<InstanceView> resume(const std::string& ref);
    OpResult<void> remove(const std::string& ref);

    // Failures before any fork is attempted (unknown source, wrong state...)
    // are the error; failures of single forks are listed in the outcome.
    OpResult<ForkOutcome> fork_instance(const std::string& source_ref, const ForkRequest& request);
    OpResult<ForkOutcome> fork_template(const std::string& template_ref, const ForkRequest& request,
                                        const ForkProgress& progress = {});
    OpResult<TemplateRecord> create_template(const TemplateSpec& spec);
    std::vector<TemplateRecord> list_templates() const { return _templates.all(); }
    // The limits in force (the memory budget resolved from MemTotal if unset).
    const AdmissionLimits& admission_limits() const { return _admission.limits(); }
    OpResult<TemplateRecord> get_template(const std::string& ref) const;
    OpResult<void> delete_template(const std::string& ref);

    OpResult<ConsoleOutput> console(const std::string& ref, const std::string& input, const std::string& until,
                                    int timeout_ms);
    // Through the guest agent (docs/guest-agent.md); the instance must be
    // Running. Agent failures: 502 agent_unreachable or agent_error, 504
    // agent_timeout; the agent's own refusals keep their kind (400, 404, 413).
    OpResult<ExecOutcome> exec(const std::string& ref, const ExecSpec& spec);
    OpResult<size_t> write_guest_file(const std::string& ref, const std::string& path, unsigned mode,
                                      const std::string& data);
    OpResult<std::string> read_guest_file(const std::string& ref, const std::string& path);

    // Path of the serial log; the file may not exist yet.
    OpResult<std::string> serial_log(const std::string& ref) const;
    // False once the instance is gone or has no live VMM.
    bool vmm_alive(const std::string& ref) const;

    std::string metrics_text() const;
    Metrics& metrics() { return _metrics; }
    const Layout& layout() const { return _layout; }
    const ManagerConfig& config() const { return _config; }
    const ReconcileReport& reconcile_report() const { return _report; }

private:
    explicit Manager(ManagerConfig config);
    [[nodiscard]] Result<void> reconcile();
    void reconcile_instance(const std::shared_ptr<Instance>& instance, pid_t live_pid);
    void on_vmm_exit(const std::string& id, const std::shared_ptr<VmmProcess>& vmm) const;
    // Records the exit of `vmm` (Failed, or Stopped after a power-off) unless
    // an operation is ending it on purpose or it was recorded already.
    void record_exit(Instance& instance, const std::shared_ptr<VmmProcess>& vmm) const;
    // `vmm` ended during `op`, which needed it: records the exit and returns
    // 502 vmm_died with the exit reason.
    [[nodiscard]] OpError vmm_died_during(Instance& instance, const std::shared_ptr<VmmProcess>& vmm,
                                          const std::string& op) const;
    void vmm_fault(VmmStep step, const Instance& instance, pid_t pid) const;
    // Records a VMM exit the supervisor has not handled yet, so no caller
    // sees a state between "VMM gone" and "exit recorded".
    void settle(const std::shared_ptr<Instance>& instance) const;

    OpResult<std::shared_ptr<Instance>> lookup(const std::string& ref) const;
    // Saves the record under instance.mutex after `change` edits it.
    template <typename F>
    Result<void> update_record(Instance& instance, F change);
    OpResult<InstanceView> do_create(const CreateSpec& spec);
    OpResult<void> do_start(Instance& instance);
    OpResult<void> do_stop(Instance& instance, int timeout_ms);
    OpResult<void> do_standby(Instance& instance);
    OpResult<void> do_restore(Instance& instance);
    OpResult<void> do_remove(const std::shared_ptr<Instance>& instance);
    OpResult<ForkOutcome> do_fork(Instance& source, const ForkRequest& request,
                                  const std::optional<TemplateRecord>& from_template, const ForkProgress& progress = {});
    OpResult<ForkPlan> plan_fork(Instance& source, const ForkRequest& request,
                                 const std::optional<TemplateRecord>& from_template, bool& restore_source);
    ForkOutcome fork_many(const ForkPlan& plan, const std::vector<std::string>& names, int concurrency,
                          const ForkProgress& progress);
    OpResult<InstanceView> fork_one(const ForkPlan& plan, const std::string& name);
    Result<void> fork_fault(ForkStep step, const std::string& name) const;
    // Reserves room for `count` new instances of `memory_mib` each (sharing
    // a template's memory, or not), or refuses with 409 (admission.hpp).
    OpResult<Admission::Ticket> admit(uint64_t count, uint32_t memory_mib, bool shares_template_memory);
    // Removes a failed fork's directory (published or still staging).
    void discard_fork_dir(const std::string& id);
    // 409 in_use when the instance is the source of a template with live
    // forks (they map its memory file).
    OpResult<void> refuse_template_source(const Instance& instance, const std::string& op) const;
    VmmJail vmm_jail() const { return {_config.vmm_jail, _config.vmm_uid_base}; }
    OpResult<void> spawn_vmm(Instance& instance, std::vector<std::string> args, const std::string& op,
                             std::optional<Backend> backend); // nullopt: a boot, not a restore
    // Drops the instance's snapshot (snapshot_files.hpp) and gives back the
    // fork count of the template its record stopped naming, if any.
    [[nodiscard]] Result<void> forget_snapshot(Instance& instance, const std::string& released_template);
    // Stops the VMM (graceful first when `graceful_ms` > 0), waits, and forgets it.
    void terminate_vmm(Instance& instance, int graceful_ms);
    void remove_sockets(const std::string& id) const;
    // One request to the agent of a Running instance; an {"ok": false}
    // answer is an error.
    OpResult<agent::Frame> agent_request(const Instance& instance, const agent::Frame& request,
                                         int answer_timeout_ms) const;
    // 64 bytes from the host's getrandom into the guest's kernel RNG, which
    // reseeds at once: forks of one snapshot stop sharing their RNG state.
    OpResult<void> give_fresh_entropy(const Instance& instance);

    // Instance networking (instance_network.cpp). attach_network() gives a
    // record a MAC, an address and a TAP on the bridge, or leaves nothing;
    // detach_network() undoes it; ensure_network() makes the TAP again
    // before a start or restore if the host lost it.
    OpResult<void> attach_network(InstanceRecord& record, const std::string& bridge);
    void detach_network(const InstanceRecord& record);
    OpResult<void> ensure_network(const InstanceRecord& record);
    // Holds a loaded record's MAC and address; a clash gets it new ones.
    void adopt_network(InstanceRecord& record);
    std::string gateway_cidr() const;

    // Runs `fn`, recording the operation's count and latency, and logging
    // one line for it (op_log.hpp). `ref`: the instance or template it is on.
    template <typename F>
    auto timed(const std::string& op, const std::string& ref, F fn) -> decltype(fn());

    ManagerConfig _config;
    Layout _layout;
    Registry _registry;
    Admission _admission;
    // Mutable: recording a VMM exit (also from const lookups) gives back the
    // fork count of a template fork whose guest powered off.
    mutable Templates _templates{_layout};
    Metrics _metrics;
    std::unique_ptr<NetworkPool> _network;
    ReconcileReport _report;
    std::unique_ptr<Supervisor> _supervisor;
};

} // namespace brood::manager
