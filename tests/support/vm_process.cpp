#include "vm_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/http/client.hpp"
#include "stall_report.hpp"

namespace brood::test {

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string vmm_path() { return env_or("BROOD_VMM", BROOD_VMM_DEFAULT); }
std::string test_guest_path() { return env_or("BROOD_TEST_GUEST", BROOD_TEST_GUEST_DEFAULT); }
std::string assets_dir() { return env_or("BROOD_ASSETS", BROOD_ASSETS_DEFAULT); }
bool have_kvm() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }
bool hardware_kvm() {
    return have_kvm() && (::access("/sys/module/kvm_intel", F_OK) == 0 || ::access("/sys/module/kvm_amd", F_OK) == 0);
}

std::string make_temp_dir(const std::string& tag) {
    std::string tmpl = "/tmp/brood-" + tag + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return "/tmp";
    return buf.data();
}

std::string line_with(const std::string& text, const std::string& needle) {
    size_t at = text.rfind(needle);
    if (at == std::string::npos) return "";
    size_t begin = text.rfind('\n', at);
    begin = begin == std::string::npos ? 0 : begin + 1;
    size_t end = text.find('\n', at);
    std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    return line;
}

Result<VmProcess> VmProcess::start(const std::vector<std::string>& args, const std::string& dir, Millis timeout) {
    std::vector<std::string> argv = {vmm_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--serial-log", dir + "/serial.log", "--serial-socket", dir + "/serial.sock",
                             "--control-socket", dir + "/control.sock", "--ready-fd", "3"});
    bench::SpawnOptions options;
    options.stdin_pipe = false;
    options.stdout_pipe = false;
    options.ready_pipe = true;
    options.inherit_stderr = true; // brood-vmm's messages show in the test's output
    VmProcess vm;
    vm._dir = dir;
    vm._child = TRY(bench::Child::spawn(argv, options));
    if (!vm._child->wait_ready(bench::deadline_in(timeout))) {
        auto code = vm._child->wait_exit(bench::deadline_in(Millis(2000)));
        vm.kill_now();
        return fail(fmt::format("brood-vmm did not become ready ({})",
                                code ? fmt::format("exit code {}", *code) : std::string("timeout")));
    }
    UniqueFd serial(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir + "/serial.sock";
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(serial.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
        return fail_errno("connect serial socket");
    vm._serial = std::move(serial);
    return vm;
}

void VmProcess::kill_now() {
    if (_child) _child->kill_now();
}

std::optional<int> VmProcess::exited() {
    if (!_child) return std::nullopt;
    auto code = _child->wait_exit(Clock::now());
    return code ? std::optional<int>(*code) : std::nullopt;
}

std::string VmProcess::read_log() const {
    std::ifstream in(serial_log(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string VmProcess::all_output() const { return read_log(); }

Result<std::string> VmProcess::wait_for(const std::string& text, Millis timeout, std::optional<Millis> quiet) {
    auto deadline = Clock::now() + timeout;
    off_t searched_size = -1;
    auto grew_at = Clock::now();
    for (;;) {
        // The log is read again only when it has grown: a Linux boot's log is
        // long, and reading it every millisecond takes CPU from the guest.
        struct stat st{};
        off_t size = ::stat(serial_log().c_str(), &st) == 0 ? st.st_size : 0;
        std::optional<int> exit_code = exited();
        if (size == searched_size && !exit_code && Clock::now() <= deadline) {
            if (quiet && Clock::now() - grew_at > *quiet) {
                auto ms = std::chrono::duration_cast<Millis>(*quiet).count();
                std::string last = read_log().substr(_consumed);
                if (last.size() > 2000) last = "..." + last.substr(last.size() - 2000);
                return fail(fmt::format("waiting for \"{}\": the guest has printed nothing for {} ms; its last "
                                        "output: \"{}\"\n{}",
                                        text, ms, last, stall_report(pid())));
            }
            std::this_thread::sleep_for(Millis(2));
            continue;
        }
        if (size != searched_size) grew_at = Clock::now();
        searched_size = size;
        std::string log = read_log();
        size_t at = log.find(text, _consumed);
        size_t end = at == std::string::npos ? at : log.find('\n', at);
        if (end == std::string::npos && at != std::string::npos && exit_code) end = log.size() - 1;
        if (end != std::string::npos) {
            end += 1; // whole lines only: the guest may still be printing this one
            std::string out = log.substr(_consumed, end - _consumed);
            _consumed = end;
            return out;
        }
        if (Clock::now() > deadline)
            return fail(fmt::format("timed out waiting for \"{}\"; unread output: \"{}\"", text, log.substr(_consumed)));
        if (exit_code) {
            // It ended after the log was read: one more look at the log first.
            if (log.size() != read_log().size()) continue;
            return fail(fmt::format("brood-vmm exited ({}) before \"{}\" appeared; output: \"{}\"", *exit_code, text,
                                    log.substr(_consumed)));
        }
        std::this_thread::sleep_for(Millis(1));
    }
}

Result<void> VmProcess::send_line(const std::string& line) {
    std::string data = line + "\n";
    if (::send(_serial.get(), data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size()))
        return fail_errno("write serial socket");
    return {};
}

Result<std::string> VmProcess::command(const std::string& line, const std::string& expect, Millis timeout) {
    TRY(send_line(line));
    auto out = TRY(wait_for(expect, timeout));
    return line_with(out, expect);
}

Result<http::Response> VmProcess::api(const std::string& method, const std::string& path, const std::string& body) {
    auto client = TRY(http::Client::connect_unix(control_socket()));
    return client.request(method, path, body);
}

Result<int> VmProcess::wait_exit(Millis timeout) {
    if (!_child) return fail("brood-vmm was not started");
    auto code = _child->wait_exit(bench::deadline_in(timeout));
    if (!code) return fail("brood-vmm did not exit in time");
    return *code;
}

} // namespace brood::test

namespace brood::test {

ProcessResult run_vmm(const std::vector<std::string>& args, Millis timeout) {
    ProcessResult result;
    std::string dir = make_temp_dir("run-vmm");
    std::string err = dir + "/stderr";
    std::vector<std::string> argv = {vmm_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    bench::SpawnOptions options;
    options.stdin_pipe = false;
    options.stdout_pipe = false;
    options.stderr_path = err;
    auto child = bench::Child::spawn(argv, options);
    if (child) {
        auto code = child->wait_exit(bench::deadline_in(timeout));
        if (!code) child->stop(SIGKILL, Millis(0));
        result.exit_code = code ? *code : 128 + SIGKILL;
        std::ifstream in(err, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        result.stderr_text = ss.str();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return result;
}

} // namespace brood::test
