// Templates: promoting a Standby instance, looking templates up, and the
// guard that keeps a template's source from running while forks map its
// memory file (docs/manager.md, "Forks and templates"). The store itself
// is templates.hpp.
#pragma once

#include <map>
#include <string>

#include "manager/daemon_state.hpp"

namespace brood::manager {

struct TemplateSpec {
    std::string source; // instance id or name, in Standby
    std::string name;
    std::map<std::string, std::string> tags;
};

class TemplateOps final {
public:
    explicit TemplateOps(DaemonState& state) : _state(state) {}

    // 400 unless `name` may name a template.
    static OpResult<void> check_name(const std::string& name);
    // The caller has looked up and locked `source`.
    OpResult<TemplateRecord> promote(Instance& source, const TemplateSpec& spec);
    OpResult<TemplateRecord> get(const std::string& ref) const;
    // 409 in_use when the instance is the source of a template with live
    // forks (they map its memory file); `op` names what was refused.
    OpResult<void> refuse_source(const Instance& instance, const std::string& op) const;

private:
    DaemonState& _state;
};

} // namespace brood::manager
