#include "vmm/snapshot/pair_rename.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace brood::snapshot {

Result<void> rename_pair(const FilePair& from, const FilePair& to, const std::function<Result<void>()>& between) {
    std::string kept = fmt::format("{}.prev-{}", to.memory, ::getpid());
    ::unlink(kept.c_str());
    bool had_memory = ::access(to.memory.c_str(), F_OK) == 0;
    if (had_memory && ::link(to.memory.c_str(), kept.c_str()) != 0)
        return fail(Error::from_errno(fmt::format("keep the old memory file {}", to.memory)));
    if (::rename(from.memory.c_str(), to.memory.c_str()) != 0) {
        auto error = Error::from_errno(fmt::format("rename memory file to {}", to.memory));
        ::unlink(kept.c_str());
        return fail(std::move(error));
    }
    Result<void> state = between ? between() : Result<void>{};
    if (state && ::rename(from.state.c_str(), to.state.c_str()) != 0)
        state = fail(Error::from_errno(fmt::format("rename state file to {}", to.state)));
    if (!state) {
        // Undo: the new memory goes back to its temporary name and the old
        // one (if any) to its place, so the pair matches again.
        if (::rename(to.memory.c_str(), from.memory.c_str()) != 0) ::unlink(to.memory.c_str());
        if (had_memory) (void)::rename(kept.c_str(), to.memory.c_str());
        return state;
    }
    ::unlink(kept.c_str());
    for (const auto* path : {&to.memory, &to.state}) {
        std::string dir = std::filesystem::path(*path).parent_path().string();
        UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd || ::fsync(fd.get()) != 0) return fail(Error::from_errno(fmt::format("fsync {}", dir)));
    }
    return {};
}

} // namespace brood::snapshot
