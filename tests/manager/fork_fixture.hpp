// A Manager on a scratch data directory with Standby and Stopped instances
// written straight to disk, and a stand-in VMM (a shell script that signals
// ready and idles), so forks and templates run without /dev/kvm.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "manager/manager.hpp"
#include "manager/names.hpp"

namespace brood::manager::testing {

namespace fs = std::filesystem;

class ForkFixture : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-forks-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        data = root / "data";
        fake_vmm = (root / "fake-vmm").string();
        std::ofstream(fake_vmm) << "#!/bin/sh\n"
                                   "# Stands in for brood-vmm: notes its pid, signals ready, idles until killed.\n"
                                   "echo $$ >> " + (root / "vmm-pids").string() + "\n"
                                   "echo ready >&3\n"
                                   "exec 3>&-\n"
                                   "exec sleep 600\n";
        fs::permissions(fake_vmm, fs::perms::owner_all);
        fs::create_directories(root / "images");
        kernel = (root / "images" / "kernel").string();
        std::ofstream(kernel) << "not a kernel: the fake VMM never reads it";
        source_id = write_instance("src", State::standby);
        open();
        auto t = manager->create_template({"src", "tpl", {{"app", "test"}}});
        ASSERT_TRUE(t) << t.error().message;
        template_id = t->id;
    }

    void TearDown() override {
        manager.reset();
        kill_fake_vmms();
        fs::remove_all(root);
    }

    void open() {
        ManagerConfig config;
        config.data_dir = data.string();
        config.vmm_binary = fake_vmm;
        config.images_dirs = {(root / "images").string()};
        config.ready_timeout_ms = 5'000;
        config.lock_timeout_ms = 10'000;
        config.fork_fault = [this](ForkStep step, const std::string& name) -> Result<void> {
            return fault ? fault(step, name) : Result<void>{};
        };
        auto opened = Manager::open(config);
        ASSERT_TRUE(opened) << opened.error().message();
        manager = std::move(*opened);
    }
    // What a daemon restart does: a new Manager reconciles the data directory.
    void restart() {
        manager.reset();
        open();
    }

    // Writes guests/<id>/ as a daemon would have left it: Standby (with a
    // snapshot whose memory is a sparse 8 MiB file) or Stopped.
    std::string write_instance(const std::string& name, State state) {
        InstanceRecord r;
        r.id = new_id();
        r.name = name;
        r.kernel = kernel;
        r.memory_mib = 8;
        r.created_at = r.updated_at = now_rfc3339();
        r.state = state;
        fs::path dir = data / "guests" / r.id;
        fs::create_directories(dir / "logs");
        std::ofstream(dir / "logs/serial.log") << "source output\n";
        if (state == State::standby) {
            fs::create_directories(dir / "snapshots/snapshot-latest");
            std::ofstream(dir / "snapshots/snapshot-latest/state") << "state of " << name;
            std::ofstream memory(dir / "snapshots/snapshot-latest/memory", std::ios::binary);
            memory.seekp(1 << 20);
            memory << "page of " << name;
            memory.seekp((8 << 20) - 1);
            memory << '\0';
        }
        EXPECT_TRUE(save_record((dir / "metadata.json").string(), r));
        return r.id;
    }

    ForkRequest request(std::vector<std::string> names, std::optional<State> target = State::standby,
                        int concurrency = 4) {
        ForkRequest r;
        r.names = std::move(names);
        r.target_state = target;
        r.concurrency = concurrency;
        return r;
    }

    uint64_t fork_count() {
        auto t = manager->get_template("tpl");
        EXPECT_TRUE(t);
        return t ? t->fork_count : ~0ull;
    }
    uint64_t fork_count_on_disk() {
        auto t = load_template((data / "templates" / template_id / "template.json").string());
        EXPECT_TRUE(t);
        return t ? t->fork_count : ~0ull;
    }
    // Instances that name the template, as the API lists them.
    uint64_t live_forks() {
        uint64_t n = 0;
        for (const auto& v : manager->list()) n += v.record.template_id == template_id ? 1 : 0;
        return n;
    }
    // Entries of guests/ (ids, and any .creating-/.deleting- leftovers).
    std::set<std::string> guest_dirs() {
        std::set<std::string> out;
        for (const auto& e : fs::directory_iterator(data / "guests")) out.insert(e.path().filename().string());
        return out;
    }
    std::set<std::string> listed_ids() {
        std::set<std::string> out;
        for (const auto& v : manager->list()) out.insert(v.record.id);
        return out;
    }
    std::string memory_of(const std::string& id) {
        return (data / "guests" / id / "snapshots/snapshot-latest/memory").string();
    }
    static bool is_link(const std::string& path) {
        struct stat st {};
        return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
    }
    // Pids of stand-in VMMs still alive.
    std::set<pid_t> live_fake_vmms() {
        std::set<pid_t> out;
        std::ifstream in(root / "vmm-pids");
        for (pid_t pid; in >> pid;)
            if (::kill(pid, 0) == 0 && !is_zombie(pid)) out.insert(pid);
        return out;
    }
    void kill_fake_vmms() {
        for (pid_t pid : live_fake_vmms()) ::kill(pid, SIGKILL);
    }
    static bool is_zombie(pid_t pid) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        size_t paren = text.rfind(')');
        return paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] == 'Z' ||
               text[paren + 2] == 'X';
    }

    fs::path root, data;
    std::string fake_vmm, kernel, source_id, template_id;
    std::function<Result<void>(ForkStep, const std::string&)> fault;
    std::unique_ptr<Manager> manager;
};

} // namespace brood::manager::testing
