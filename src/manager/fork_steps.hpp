// The steps that make one fork, in order, and a hook that can fail any of
// them: tests inject a failure (or a crash) at every step without KVM and
// check the fork count and the directories afterwards.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood::manager {

enum class ForkStep {
    reserve_name,  // hold the fork's name
    make_staging,  // guests/.creating-<id>/ with logs/
    copy_dir,      // the source's directory (copy_instance_dir)
    link_memory,   // template forks: snapshot-latest/memory -> the template's file
    write_record,  // the fork's metadata.json
    sync_files,    // fsync every file and directory the fork's copy made
    publish,       // rename .creating-<id> to guests/<id>
    count,         // the template's fork_count + 1
    boot,          // target Running: restore (snapshot) or start (cold boot)
    reseed,        // restored forks of an agent guest: fresh entropy through the agent
    register_fork, // visible to the API
};

// The steps a fork of the test guest can reach (reseed only concerns
// restored forks of instances created with "agent": true).
inline constexpr std::array kForkSteps{ForkStep::reserve_name, ForkStep::make_staging, ForkStep::copy_dir,
                                       ForkStep::link_memory,  ForkStep::write_record, ForkStep::sync_files, ForkStep::publish,
                                       ForkStep::count,        ForkStep::boot,         ForkStep::register_fork};

constexpr std::string_view to_string(ForkStep step) {
    switch (step) {
    case ForkStep::reserve_name: return "reserve_name";
    case ForkStep::make_staging: return "make_staging";
    case ForkStep::copy_dir: return "copy_dir";
    case ForkStep::link_memory: return "link_memory";
    case ForkStep::write_record: return "write_record";
    case ForkStep::sync_files: return "sync_files";
    case ForkStep::publish: return "publish";
    case ForkStep::count: return "count";
    case ForkStep::boot: return "boot";
    case ForkStep::reseed: return "reseed";
    case ForkStep::register_fork: return "register_fork";
    }
    return "?";
}

// Called before each step of each fork (with the fork's name); an error
// fails that step. Empty in the daemon.
using ForkFaultHook = std::function<Result<void>(ForkStep step, const std::string& fork_name)>;

} // namespace brood::manager
