// broodd in a scratch directory, started by the shared launcher.
#include "fork/fork.hpp"

#include <filesystem>

namespace brood::bench::fork {

std::string broodd_path() {
    const char* env = std::getenv("BROOD_BROODD");
    return env && *env ? env : BROOD_BENCH_BROODD;
}

Result<Daemon> Daemon::start(const std::string& dir, unsigned fork_concurrency, std::vector<std::string> extra_args) {
    client::LaunchOptions options;
    options.broodd = broodd_path();
    options.vmm = vmm_path();
    options.dir = dir;
    options.fork_concurrency = fork_concurrency;
    options.extra_args = std::move(extra_args);
    options.images_dirs = {std::filesystem::path(test_guest_path()).parent_path().string()};
    return Daemon(TRY(client::BrooddProcess::start(options)));
}

} // namespace brood::bench::fork
