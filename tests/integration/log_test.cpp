// broodd's log: one line per operation, per VMM exit, per reconcile decision.
#include <signal.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include "fixture.hpp"

using namespace brood::testing;

namespace {

std::string read_log(const Daemon& d) {
    std::ifstream in(d.log());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Whether some line of `log` matches `pattern` (a regex searched in each line).
bool has_line(const std::string& log, const std::string& pattern) {
    std::regex re(pattern);
    size_t at = 0;
    while (at < log.size()) {
        size_t end = log.find('\n', at);
        if (end == std::string::npos) end = log.size();
        if (std::regex_search(log.begin() + static_cast<long>(at), log.begin() + static_cast<long>(end), re))
            return true;
        at = end + 1;
    }
    return false;
}

} // namespace

TEST_F(Broodd, LogsEveryOperationVmmExitAndReconcileDecision) {
    std::string id = running("logged");
    ASSERT_EQ(daemon.call("POST", "/instances/logged/stop").status, 200);
    EXPECT_EQ(daemon.call("POST", "/instances/nobody/start").status, 404);
    size_t from = daemon.log_size("logged");
    ASSERT_EQ(daemon.call("POST", "/instances/logged/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("logged", from));

    // A VMM that dies on its own, then a daemon that restarts with a live VMM.
    auto vmms = vmm_processes(daemon.guests_dir());
    ASSERT_EQ(vmms.count(id), 1u);
    kill9_and_wait(vmms[id]);
    for (int i = 0; i < 200 && state_of("logged") != "Failed"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(state_of("logged"), "Failed");
    running("second");
    daemon.kill9();
    daemon.start();
    ASSERT_EQ(daemon.call("DELETE", "/instances/logged").status, 204);

    std::string log = read_log(daemon);
    const std::string ms = R"( duration_ms=[0-9]+\.[0-9] )";
    EXPECT_TRUE(has_line(log, "op op=create instance=logged" + ms + "result=ok")) << log;
    EXPECT_TRUE(has_line(log, "op op=start instance=" + id + ms + "result=ok")) << log;
    EXPECT_TRUE(has_line(log, "op op=stop instance=logged" + ms + "result=ok")) << log;
    EXPECT_TRUE(has_line(log, "op op=start instance=nobody" + ms + "result=error code=not_found message=")) << log;
    EXPECT_TRUE(has_line(log, "op op=delete instance=logged" + ms + "result=ok")) << log;
    EXPECT_TRUE(has_line(log, "vmm_exit instance=logged pid=" + std::to_string(vmms[id]) + " state=Failed reason="))
        << log;
    EXPECT_TRUE(has_line(log, "reconcile instance=second pending=none decision=adopt_vmm state=Running")) << log;
    EXPECT_TRUE(has_line(log, "reconcile instance=logged pending=none decision=keep state=Failed")) << log;
}
