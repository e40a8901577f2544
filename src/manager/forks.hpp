// Forks (docs/manager.md, "Forks and templates"): a fork is a copy of an
// instance's directory; a template's forks link the template's canonical
// memory file instead of copying it. Forks are whole or absent.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "manager/agent_ops.hpp"
#include "manager/daemon_state.hpp"
#include "manager/fork_request.hpp"
#include "manager/fork_steps.hpp"
#include "manager/instance_network.hpp"
#include "manager/lifecycle.hpp"
#include "manager/vmm_keeper.hpp"

namespace brood::manager {

// What a fork request made. Each failure names the fork (or the source,
// when restoring it after a from_running fork failed).
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

class Forks final {
public:
    Forks(DaemonState& state, VmmKeeper& vmms, InstanceNetwork& network, Lifecycle& lifecycle, const AgentOps& agent)
        : _state(state), _vmms(vmms), _network(network), _lifecycle(lifecycle), _agent(agent) {}

    // Forks `source`, whose operation lock the caller holds; `from_template`
    // when the forks are a template's (the caller found it under that lock).
    // Failures before any fork is attempted (a taken name, the wrong state,
    // admission) are the error; failures of single forks are in the outcome.
    OpResult<ForkOutcome> fork(Instance& source, const ForkRequest& request,
                               const std::optional<TemplateRecord>& from_template, const ForkProgress& progress);

private:
    OpResult<ForkPlan> make_plan(Instance& source, const ForkRequest& request,
                            const std::optional<TemplateRecord>& from_template, bool& restore_source);
    ForkOutcome fork_many(const ForkPlan& plan, const std::vector<std::string>& names, int concurrency,
                          const ForkProgress& progress);
    OpResult<InstanceView> fork_one(const ForkPlan& plan, const std::string& name);
    // Tests only: the config's fork fault hook at `step`.
    Result<void> fault(ForkStep step, const std::string& name) const;
    // Removes a failed fork's directory (published or still staging).
    void discard_dir(const std::string& id);

    DaemonState& _state;
    VmmKeeper& _vmms;
    InstanceNetwork& _network;
    Lifecycle& _lifecycle;
    const AgentOps& _agent;
};

} // namespace brood::manager
