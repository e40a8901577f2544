// Crash injection: two clients send randomized operations (create, start,
// stop, pause, resume, standby, restore, template, fork, fan-out, delete) on a small pool
// of names, in short rounds. SIGKILL hits broodd at the end of three rounds
// in four, in the middle of whatever is under way, and random VMMs at
// random points. After each round, with a daemon started again where it
// was killed:
//  - records, VMM processes, directories and fork counts agree
//    (expect_consistent);
//  - an instance whose VMM is gone has no sockets left, and no directory
//    under guests/ or templates/ belongs to nobody;
//  - a template's memory file is never written: while it is the same file
//    (a standby of the source, allowed when the template has no forks,
//    renames a new one in) its hash stays; with live forks it exists.
// At the end everything is deleted and nothing is left.
//
// BROOD_CHAOS_OPS (default 1000) sets how many operations, BROOD_CHAOS_SEED
// the seed (default: from the clock; printed, so a failure can be replayed).
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/read_file.hpp"
#include "file_hash.hpp"
#include "fixture.hpp"

using namespace brood::testing;
namespace fs = std::filesystem;

namespace {

int env_int(const char* name, int fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::atoi(v) : fallback;
}

// Instances made by create (and promoted to templates t-a, t-b, t-c), and
// forks (fan-outs name theirs fan-1 to fan-3); each operation on an
// instance picks from both.
const std::vector<std::string> kSources = {"a", "b", "c"};
const std::vector<std::string> kForks = {"f1", "f2", "fan-1", "fan-2", "fan-3"};
// Weighted by repetition: what makes instances and templates comes more
// often than what ends them, so that most operations find something to act on.
const std::vector<std::string> kOps = {"create",   "create",  "start",   "start",   "standby", "standby",
                                       "template", "fork",    "fork",    "fan-out", "restore", "stop",
                                       "pause",    "resume",  "delete",  "untemplate", "kill-vmm"};

class Chaos : public Broodd {
protected:
    // One random operation; its answer (status 0: none).
    Reply one_op(std::mt19937& rng, std::string& op) {
        auto pick = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
        op = pick(kOps);
        const std::string source = pick(kSources), fork = pick(kForks);
        const std::string name = rng() % 2 ? source : fork;
        const std::string tpl = "t-" + pick(kSources);
        if (op == "create")
            return daemon.call("POST", "/instances", {{"name", source}, {"kernel", guest_kernel()}, {"memory_mib", 32}});
        if (op == "start" || op == "standby" || op == "restore" || op == "pause" || op == "resume")
            return daemon.call("POST", "/instances/" + name + "/" + op);
        if (op == "stop") return daemon.call("POST", "/instances/" + name + "/stop", {{"timeout_ms", 300}});
        if (op == "delete") return daemon.call("DELETE", "/instances/" + name);
        if (op == "template")
            return daemon.call("POST", "/templates", {{"instance", source}, {"name", "t-" + source}});
        if (op == "untemplate") return daemon.call("DELETE", "/templates/" + tpl);
        if (op == "fork") return daemon.call("POST", "/templates/" + tpl + "/fork", {{"name", fork}});
        if (op == "fan-out")
            return daemon.call("POST", "/templates/" + tpl + "/fork", {{"name_prefix", "fan"}, {"count", 3}});
        // kill-vmm
        auto vmms = vmm_processes(daemon.guests_dir());
        Reply done;
        done.status = 200;
        if (vmms.empty()) return done;
        auto it = vmms.begin();
        std::advance(it, static_cast<long>(rng() % vmms.size()));
        ::kill(it->second, SIGKILL);
        return done;
    }

    // Whether every Running or Paused instance has its VMM and no VMM runs
    // for another: a VMM killed a moment ago is seen by the daemon's
    // supervisor shortly after, not at once.
    bool vmms_match_states() const {
        auto list = daemon.call("GET", "/instances");
        if (list.status != 200) return false;
        auto processes = vmm_processes(daemon.guests_dir());
        size_t live = 0;
        for (const auto& inst : list.body) {
            std::string state = inst.value("state", "");
            if (state != "Running" && state != "Paused") continue;
            ++live;
            if (!processes.count(inst.value("id", ""))) return false;
        }
        return live == processes.size();
    }

    // What the daemons logged, for a failure's message: the last lines of
    // reconcile decisions and operations.
    std::string history() const {
        std::string log = brood::read_file(daemon.log()).value_or("");
        std::vector<std::string> lines;
        size_t at = 0;
        while (at < log.size()) {
            size_t nl = log.find('\n', at);
            if (nl == std::string::npos) nl = log.size();
            std::string line = log.substr(at, nl - at);
            if (line.find("reconcile") != std::string::npos || line.find(" op=") != std::string::npos ||
                line.find("exited") != std::string::npos)
                lines.push_back(line);
            at = nl + 1;
        }
        std::string out;
        for (size_t i = lines.size() > 60 ? lines.size() - 60 : 0; i < lines.size(); ++i) out += lines[i] + "\n";
        return out + "instances: " + daemon.call("GET", "/instances").text;
    }

    void check_invariants() {
        // Up to 10 s. A VMM killed a moment ago leaves /proc's command lines
        // before its pidfd tells the daemon that it exited. Twice in about
        // 150,000 operations the two still disagreed after 2 s, which is not
        // explained yet: only a disagreement that lasts fails the test.
        bool waited = false;
        for (int i = 0; i < 200 && !vmms_match_states(); ++i) {
            waited = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        settle_waits += waited ? 1 : 0;
        if (!vmms_match_states()) ADD_FAILURE() << "VMMs and states still disagree after 10 s\n" << history();
        expect_consistent(daemon);
        auto list = daemon.call("GET", "/instances");
        ASSERT_EQ(list.status, 200);
        for (const auto& inst : list.body) {
            std::string state = inst.value("state", ""), id = inst.value("id", "");
            if (state == "Running" || state == "Paused") continue;
            for (const char* sock : {"control.sock", "serial.sock", "vsock.sock"})
                EXPECT_FALSE(fs::exists(daemon.guests_dir() + "/" + id + "/" + sock))
                    << sock << " left by " << inst.value("name", "") << " (" << state << ")";
        }
        auto templates = daemon.call("GET", "/templates");
        ASSERT_EQ(templates.status, 200);
        std::set<std::string> template_ids;
        for (const auto& t : templates.body) {
            const std::string id = t.value("id", "");
            template_ids.insert(id);
            std::string memory = daemon.guests_dir() + "/" + t.value("source_instance_id", "") +
                                 "/snapshots/snapshot-latest/memory";
            struct stat st {};
            if (::stat(memory.c_str(), &st) != 0) {
                // Without forks the source may run or stop, which drops its snapshot.
                EXPECT_EQ(t.value("fork_count", -1), 0) << "template " << t.value("name", "") << " has forks but no memory file";
                continue;
            }
            // A standby of the source (allowed with no forks) renames a new
            // file in; the same file must never be written.
            uint64_t hash = brood::test::file_hash(memory);
            auto [seen, first] = template_memory.try_emplace(id, MemoryFile{st.st_ino, hash});
            if (!first && seen->second.inode == st.st_ino) {
                EXPECT_EQ(seen->second.hash, hash) << "template " << t.value("name", "") << "'s memory file was written";
            }
            seen->second = MemoryFile{st.st_ino, hash};
        }
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(daemon.data_dir() + "/templates", ec))
            EXPECT_TRUE(template_ids.count(e.path().filename().string())) << "leaked template directory " << e.path();
    }

    struct MemoryFile {
        ino_t inode;
        uint64_t hash;
    };
    std::map<std::string, MemoryFile> template_memory; // by template id, as last seen
    int settle_waits = 0; // rounds whose check waited for the daemon to see a VMM's death
};

TEST_F(Chaos, RandomOperationsWithDaemonAndVmmKillsKeepEverythingConsistent) {
    const int total = env_int("BROOD_CHAOS_OPS", 1000);
    const auto seed = static_cast<unsigned>(
        env_int("BROOD_CHAOS_SEED", static_cast<int>(std::chrono::steady_clock::now().time_since_epoch().count() & 0x7fffffff)));
    std::printf("chaos: %d operations, seed %u (BROOD_CHAOS_SEED replays it)\n", total, seed);
    std::mt19937 main_rng(seed);
    std::atomic<int> issued{0};
    std::mutex tally_mutex;
    std::map<std::string, std::map<int, int>> tally; // op -> status -> count
    int rounds = 0, daemon_kills = 0;
    while (issued < total && !HasFatalFailure()) {
        ++rounds;
        std::atomic<bool> stop{false};
        std::vector<std::thread> clients;
        for (int c = 0; c < 2; ++c) {
            clients.emplace_back([&, client_seed = main_rng()] {
                std::mt19937 rng(client_seed);
                // A few operations each round, so that the daemon is killed often.
                for (unsigned quota = 1 + rng() % 6; quota > 0 && !stop && issued++ < total; --quota) {
                    std::string op;
                    Reply answer = one_op(rng, op);
                    std::lock_guard lock(tally_mutex);
                    ++tally[op][answer.status];
                    if (answer.status == 500) ADD_FAILURE() << op << " answered 500: " << answer.text << "\n" << history();
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(main_rng() % 60));
        // No new operation starts; those under way are cut short by the kill.
        stop = true;
        bool kill = main_rng() % 4 != 0;
        if (kill) {
            daemon.kill9();
            ++daemon_kills;
        }
        for (auto& t : clients) t.join();
        if (kill) daemon.start();
        SCOPED_TRACE("after round " + std::to_string(rounds) + (kill ? ", broodd killed" : ", broodd alive"));
        check_invariants();
    }
    std::printf("chaos: %d rounds, broodd killed %d times; %d checks waited (up to 10 s) for the daemon to see a "
                "VMM's death\n",
                rounds, daemon_kills, settle_waits);
    for (const auto& [op, statuses] : tally) {
        std::string line;
        for (const auto& [status, count] : statuses) line += " " + std::to_string(status) + "x" + std::to_string(count);
        std::printf("chaos: %-10s%s\n", op.c_str(), line.c_str());
    }
    // Everything goes: forks first (a template with live forks stays).
    for (int pass = 0; pass < 3; ++pass) {
        for (const auto& inst : daemon.call("GET", "/instances").body)
            if (inst["template_id"].is_string()) daemon.call("DELETE", "/instances/" + inst.value("id", ""));
        for (const auto& t : daemon.call("GET", "/templates").body)
            daemon.call("DELETE", "/templates/" + t.value("id", ""));
        for (const auto& inst : daemon.call("GET", "/instances").body)
            daemon.call("DELETE", "/instances/" + inst.value("id", ""));
    }
    EXPECT_EQ(daemon.call("GET", "/instances").body.size(), 0u);
    EXPECT_EQ(daemon.call("GET", "/templates").body.size(), 0u);
    EXPECT_TRUE(vmm_processes(daemon.guests_dir()).empty());
    EXPECT_TRUE(fs::is_empty(daemon.guests_dir()));
    check_invariants();
}

} // namespace
