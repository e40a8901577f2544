// broodd's core: owns the data directory and every instance state change.
// No HTTP here; src/api maps requests onto these calls.
//
// Manager is the front: it times and logs each operation, looks the
// instance up and takes its operation lock. The work is done by its parts,
// which share one DaemonState (config, layout, registry, templates):
//   Lifecycle    create, start, stop, standby, restore, pause, resume, delete
//   Forks        instance and template forks
//   TemplateOps  promote, and the guard on a template's source
//   AgentOps     exec and files through the guest agent
//   VmmKeeper    the VMM processes: spawn, terminate, exits recorded
//   Reconciler   records, directories and processes agreed at start
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manager/agent_ops.hpp"
#include "manager/console.hpp"
#include "manager/daemon_state.hpp"
#include "manager/forks.hpp"
#include "manager/instance_network.hpp"
#include "manager/lifecycle.hpp"
#include "manager/manager_config.hpp"
#include "manager/reconcile.hpp"
#include "manager/template_ops.hpp"
#include "manager/vmm_keeper.hpp"

namespace brood::manager {

class Manager final {
public:
    // Creates the layout if needed and reconciles disk, records and processes.
    static Result<std::unique_ptr<Manager>> open(ManagerConfig config);
    Manager(const Manager&) = delete;
    Manager& operator=(const Manager&) = delete;
    ~Manager() = default;

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
    std::vector<TemplateRecord> list_templates() const { return _state.templates.all(); }
    // The limits in force (the memory budget resolved from MemTotal if unset).
    const AdmissionLimits& admission_limits() const { return _state.admission.limits(); }
    const ImageDirs& image_dirs() const { return _state.images; }
    OpResult<TemplateRecord> get_template(const std::string& ref) const { return _templates.get(ref); }
    OpResult<void> delete_template(const std::string& ref);

    OpResult<ConsoleOutput> console(const std::string& ref, const std::string& input, const std::string& until,
                                    int timeout_ms);
    // Through the guest agent (docs/guest-agent.md); the instance must be
    // Running (agent_ops.hpp has the errors).
    OpResult<ExecOutcome> exec(const std::string& ref, const ExecSpec& spec);
    OpResult<size_t> write_guest_file(const std::string& ref, const std::string& path, unsigned mode,
                                      const std::string& data);
    OpResult<std::string> read_guest_file(const std::string& ref, const std::string& path);

    // Path of the serial log; the file may not exist yet.
    OpResult<std::string> serial_log(const std::string& ref) const;
    // False once the instance is gone or has no live VMM.
    bool vmm_alive(const std::string& ref) const;

    std::string metrics_text() const;
    Metrics& metrics() { return _state.metrics; }
    const Layout& layout() const { return _state.layout; }
    const ManagerConfig& config() const { return _state.config; }
    const ReconcileReport& reconcile_report() const { return _report; }

private:
    Manager(ManagerConfig config, ImageDirs images, const Subnet& subnet, std::optional<VmmCgroups> cgroups);

    // The instance, with any VMM exit not yet recorded recorded; 404 if unknown.
    OpResult<std::shared_ptr<Instance>> lookup(const std::string& ref) const;
    // Runs `fn`, recording the operation's count and latency, and logging
    // one line for it (op_log.hpp). `ref`: the instance or template it is on.
    template <typename F>
    auto timed(const std::string& op, const std::string& ref, F fn) -> decltype(fn());
    // timed(), on the instance `ref` under its operation lock: `fn(instance)`
    // does the work, and the answer is the instance's view after it.
    template <typename F>
    OpResult<InstanceView> on_instance(const std::string& op, const std::string& ref, F fn);

    DaemonState _state; // first: every part below holds a reference to it
    VmmKeeper _vmms;
    InstanceNetwork _network;
    TemplateOps _templates;
    AgentOps _agent;
    Lifecycle _lifecycle;
    Forks _forks;
    ReconcileReport _report;
};

} // namespace brood::manager
