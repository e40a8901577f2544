// Disks through broodd: create with a disk, template, forks that each write
// their own data while the template's base image stays as it was.
#include <fstream>

#include "fork_fixture.hpp"

namespace brood::testing {
namespace {

constexpr uint64_t kDiskBytes = 2 << 20;

class Disks : public Forks {
protected:
    std::string make_disk(const std::string& name) {
        std::string p = daemon.dir() + "/" + name;
        std::ofstream out(p, std::ios::binary);
        std::vector<char> zeros(kDiskBytes, 0);
        out.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
        return p;
    }
    Reply create_with(const std::string& name, const nlohmann::json& disks) {
        return daemon.call("POST", "/instances",
                           {{"name", name}, {"kernel", guest_kernel()}, {"memory_mib", 128},
                            {"vcpus", 1}, {"disks", disks}});
    }
    void expect_bad(const Reply& r, const std::string& words) {
        EXPECT_EQ(r.status, 400) << r.text;
        EXPECT_NE(r.body.value("message", "").find(words), std::string::npos) << r.text;
    }
};

TEST_F(Disks, CreateChecksTheDisks) {
    auto disk = make_disk("disk.img");
    expect_bad(create_with("a", {{{"path", daemon.dir() + "/missing.img"}}}), "not found");
    expect_bad(create_with("a", {{{"path", daemon.dir()}}}), "not a regular file");
    expect_bad(create_with("a", {{{"path", "disk.img"}}}), "absolute");
    expect_bad(create_with("a", {{{"path", disk}, {"read_only", "yes"}}}), "read_only must be a boolean");
    expect_bad(create_with("a", {{{"path", disk}, {"size", 1}}}), "unknown field");
    expect_bad(create_with("a", "disk.img"), "disks must be an array");
    std::ofstream(daemon.dir() + "/odd.img") << "not sectors";
    expect_bad(create_with("a", {{{"path", daemon.dir() + "/odd.img"}}}), "multiple of 512");
    auto ok = create_with("a", {{{"path", disk}}, {{"path", disk}, {"read_only", true}}});
    ASSERT_EQ(ok.status, 201) << ok.text;
    ASSERT_EQ(ok.body["disks"].size(), 2u);
    EXPECT_EQ(ok.body["disks"][1].value("read_only", false), true);
}

TEST_F(Disks, TemplateForksWriteTheirOwnLayers) {
    auto base = make_disk("base.img");
    auto created = create_with("src", {{{"path", base}}});
    ASSERT_EQ(created.status, 201) << created.text;
    ASSERT_EQ(daemon.call("POST", "/instances/src/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("src"));
    EXPECT_EQ(daemon.console("src", "disk", "disk "), "disk sectors=4096 rw\n");
    EXPECT_EQ(daemon.console("src", "dwrite 0 8 1", "dwrite"), "dwrite ok\n");
    ASSERT_EQ(daemon.call("POST", "/instances/src/standby").status, 200);
    auto t = daemon.call("POST", "/templates", {{"instance", "src"}, {"name", "tpl"}});
    ASSERT_EQ(t.status, 201) << t.text;
    ASSERT_EQ(t.body["disks"].size(), 1u);
    EXPECT_EQ(t.body["disks"][0].value("read_only", false), true);
    uint64_t base_hash = file_hash(base);

    ASSERT_EQ(fork_template({{"name", "f1"}}).size(), 1u);
    ASSERT_EQ(fork_template({{"name", "f2"}}).size(), 1u);
    // Each fork sees the template's data, writes its own, and not the other's.
    for (int i = 1; i <= 2; ++i) {
        std::string f = "f" + std::to_string(i);
        EXPECT_EQ(daemon.console(f, "dverify 0 8 1", "dverify"), "dverify ok\n") << f;
        EXPECT_EQ(daemon.console(f, "dwrite 100 8 " + std::to_string(10 + i), "dwrite"), "dwrite ok\n") << f;
        EXPECT_EQ(daemon.console(f, "dwrite 0 1 " + std::to_string(20 + i), "dwrite"), "dwrite ok\n") << f;
    }
    for (int i = 1; i <= 2; ++i) {
        std::string f = "f" + std::to_string(i);
        EXPECT_EQ(daemon.console(f, "dverify 100 8 " + std::to_string(10 + i), "dverify"), "dverify ok\n") << f;
        EXPECT_EQ(daemon.console(f, "dverify 0 1 " + std::to_string(20 + i), "dverify"), "dverify ok\n") << f;
        EXPECT_EQ(daemon.console(f, "dverify 1 7 1", "dverify"), "dverify ok\n") << f << ": the rest of the base";
        auto view = daemon.call("GET", "/instances/" + f).body;
        ASSERT_EQ(view["disks"].size(), 1u);
        std::string layer = view["disks"][0].value("path", "");
        EXPECT_EQ(layer.rfind(daemon.guests_dir() + "/" + view.value("id", ""), 0), 0u) << layer;
        EXPECT_NE(layer, base);
    }
    // Stop the forks (their disks flushed) and check the base once more.
    for (const char* f : {"f1", "f2"}) EXPECT_EQ(daemon.call("POST", std::string("/instances/") + f + "/stop").status, 200);
    EXPECT_EQ(file_hash(base), base_hash) << "the template's base image was written";
}

} // namespace
} // namespace brood::testing
