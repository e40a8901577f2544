#include "client/broodd_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "client/client.hpp"

extern char** environ;

namespace brood::client {

using Clock = std::chrono::steady_clock;

BrooddProcess::BrooddProcess(BrooddProcess&& other) noexcept
    : _pid(std::exchange(other._pid, -1)), _dir(std::move(other._dir)) {}

BrooddProcess& BrooddProcess::operator=(BrooddProcess&& other) noexcept {
    if (this != &other) {
        kill9();
        _pid = std::exchange(other._pid, -1);
        _dir = std::move(other._dir);
    }
    return *this;
}

Result<BrooddProcess> BrooddProcess::start(const LaunchOptions& o) {
    std::vector<std::string> args{o.broodd, "--data-dir", data_dir_in(o.dir), "--socket", socket_in(o.dir),
                                  "--vmm",  o.vmm};
    if (o.fork_concurrency) {
        args.push_back("--fork-concurrency");
        args.push_back(std::to_string(*o.fork_concurrency));
    }
    for (const auto& dir : o.images_dirs) args.insert(args.end(), {"--images-dir", dir});
    args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = log_path_in(o.dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail(Error::from_errno("start " + o.broodd, rc));
    BrooddProcess process(pid, o.dir);

    for (auto deadline = Clock::now() + o.ready_timeout; Clock::now() < deadline;) {
        if (auto c = Client::connect(process.socket()); c && c->version()) return process;
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            process._pid = -1;
            return fail("broodd exited at start: " + process.log_tail());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return fail(std::to_string(o.ready_timeout.count()) + " ms and broodd does not answer: " + process.log_tail());
}

std::string BrooddProcess::log_tail(size_t max_bytes) const {
    std::ifstream in(log_path());
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
    return text.empty() ? "(broodd's log is empty)" : text;
}

void BrooddProcess::kill9() {
    if (_pid <= 0) return;
    ::kill(_pid, SIGKILL);
    ::waitpid(_pid, nullptr, 0);
    _pid = -1;
}

void BrooddProcess::stop(std::chrono::milliseconds grace) {
    if (_pid <= 0) return;
    ::kill(_pid, SIGTERM);
    for (auto deadline = Clock::now() + grace; Clock::now() < deadline;) {
        if (::waitpid(_pid, nullptr, WNOHANG) == _pid) {
            _pid = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill9();
}

} // namespace brood::client
