// bench_fork's parts: a broodd in a scratch directory driven through its
// API, fan-outs of N forks per subject (template forks, copied forks, QEMU
// restores), and what each fan-out cost in time and host memory.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/broodd_process.hpp"
#include "client/client.hpp"
#include "common/result.hpp"
#include "support/child.hpp"
#include "support/environment.hpp"
#include "support/report.hpp"

namespace brood::bench::fork {

struct Config {
    std::vector<unsigned> counts{1, 10, 100}; // forks per fan-out
    unsigned single_runs = 20;                // fan-outs of 1 template fork (fewer for larger N)
    uint64_t memory_mib = 512;
    uint64_t touch_mib = 256;
    unsigned copy_max = 10;   // largest N for copied forks (unless reflinks make copies cheap)
    unsigned qemu_max = 10;   // largest N for plain QEMU restores
    unsigned qemu_template_max = 100; // largest N for QEMU clones of a shared memory file
    unsigned concurrency = 4; // broodd's --fork-concurrency, and copied forks asked for at once
    bool copies = true;
    bool box_cost = true;      // as root: template forks of a broodd without the box too
    unsigned box_cost_max = 10; // largest N for those
    std::optional<std::string> qemu;
    Millis timeout{60'000};
};

// broodd's API, through the client library.
using Api = client::Client;

// broodd in `dir` (data dir and socket inside it), started by the shared
// launcher; `fork_concurrency`: its --fork-concurrency; `extra_args`
// appended to its command line.
class Daemon final {
public:
    [[nodiscard]] static Result<Daemon> start(const std::string& dir, unsigned fork_concurrency,
                                              std::vector<std::string> extra_args = {});
    std::string socket() const { return _process.socket(); }
    std::string data_dir() const { return _process.data_dir(); }
    // SIGTERM, then SIGKILL after a grace period.
    void stop() { _process.stop(); }

private:
    explicit Daemon(client::BrooddProcess process) : _process(std::move(process)) {}
    client::BrooddProcess _process;
};

// The broodd binary (BROOD_BROODD, else the one from the build).
std::string broodd_path();

// What a fan-out produced: when each fork answered `ping`, counted from the
// start of the fan-out, and what is needed to weigh and remove the forks.
struct Fanout {
    std::vector<double> ready_ms;
    double all_ready_ms = 0;
    std::vector<double> call_ms; // API calls (brood subjects)
    std::vector<pid_t> pids;
    std::vector<std::string> memory_files; // files backing the forks' RAM, counted once each
    std::vector<std::string> ids;          // broodd instance ids
};

// The Standby source, promoted to a template, that every brood fork is made from.
struct Source {
    std::string instance_id;
    std::string template_id;
    std::string memory_file; // the template's canonical memory file
};

// Boots the source through the API, touches memory, standby, promotes it.
[[nodiscard]] Result<Source> prepare_source(const Daemon& daemon, const Config& config);
// One fan-out of `n` template forks (POST /templates/{id}/fork), then pings.
[[nodiscard]] Result<Fanout> template_fanout(const Daemon& daemon, const Source& source, unsigned n,
                                             unsigned run, const Config& config);
// `n` instance forks of the source (memory copied), `concurrency` calls at a time.
[[nodiscard]] Result<Fanout> copy_fanout(const Daemon& daemon, const Source& source, unsigned n, unsigned run,
                                         unsigned concurrency, const Config& config);
// Deletes the forks of a fan-out through the API.
[[nodiscard]] Result<void> delete_forks(const Daemon& daemon, const Fanout& fanout);

// QEMU, plain: a source VM snapshotted to a migration file, and N
// `-incoming` restores of it at once.
[[nodiscard]] Result<std::string> qemu_migration_file(const Config& config, const ScratchDir& scratch);
[[nodiscard]] Result<Fanout> qemu_fanout(const std::string& migration_file, unsigned n, unsigned run,
                                         const Config& config, const ScratchDir& scratch,
                                         std::vector<Child>& keep_alive);

// QEMU at its best (support/qemu_template.hpp): a source whose RAM is a
// shared memory file, saved with x-ignore-shared; N clones at once, each
// mapping the file privately.
struct QemuTemplate {
    std::string memory_path;
    std::string state_path;
};
[[nodiscard]] Result<QemuTemplate> qemu_template(const Config& config, const ScratchDir& scratch);
[[nodiscard]] Result<Fanout> qemu_clone_fanout(const QemuTemplate& tpl, unsigned n, unsigned run,
                                               const Config& config, const ScratchDir& scratch,
                                               std::vector<Child>& keep_alive);

// Whether the file system under `dir` shares extents (FICLONE works).
bool reflink_works(const std::string& dir);

// SIGINT/SIGTERM/SIGHUP: kill what mentions `needle`, then die of the signal
// (the scratch directory is left, as the other benches do).
void kill_on_signal(const std::string& needle);
// Whether such a signal came (the errors that follow are its doing).
bool signalled();

} // namespace brood::bench::fork
