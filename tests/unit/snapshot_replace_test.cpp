// Replacing a snapshot: the state and memory files change as a pair. A
// failure injected between the steps must leave the old pair whole and
// loadable.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/dir_swap.hpp"
#include "vmm/snapshot/pair_rename.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood {
namespace {

namespace fs = std::filesystem;

class SnapshotReplace : public ::testing::Test {
protected:
    void SetUp() override {
        _root = fs::temp_directory_path() / ("brood-replace-" + std::to_string(::getpid()) + "-" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(_root);
        fs::create_directories(_root);
    }
    void TearDown() override { fs::remove_all(_root); }

    // A state file that names its generation, and a memory file that matches it.
    static void write_pair(const std::string& state, const std::string& memory, uint32_t generation) {
        auto bytes = snapshot::encode_state_file({{1, generation, {static_cast<uint8_t>(generation)}}});
        ASSERT_TRUE(snapshot::write_file_atomically(state, bytes));
        std::ofstream(memory) << "memory-" << generation;
    }
    // The pair's generation, or -1 when the files are missing, do not load or do not match.
    static int pair_generation(const std::string& state, const std::string& memory) {
        auto bytes = snapshot::read_state_file(state);
        if (!bytes) return -1;
        auto sections = snapshot::decode_state_file(*bytes);
        if (!sections || sections->size() != 1) return -1;
        std::ifstream in(memory);
        std::stringstream content;
        content << in.rdbuf();
        uint32_t generation = (*sections)[0].version;
        return content.str() == "memory-" + std::to_string(generation) ? static_cast<int>(generation) : -1;
    }
    std::string path(const std::string& name) const { return (_root / name).string(); }
    size_t entries() const { return static_cast<size_t>(std::distance(fs::directory_iterator(_root), {})); }

    fs::path _root;
};

Result<void> injected(std::string_view) { return fail("injected failure"); }

TEST_F(SnapshotReplace, FilePairFailureBetweenRenamesKeepsOldPair) {
    write_pair(path("state"), path("memory"), 1);
    write_pair(path("state.tmp"), path("memory.tmp"), 2);
    auto renamed = snapshot::rename_pair({path("state.tmp"), path("memory.tmp")}, {path("state"), path("memory")},
                                         [] { return injected("between"); });
    ASSERT_FALSE(renamed);
    EXPECT_EQ(pair_generation(path("state"), path("memory")), 1) << "the old pair must be whole";
    EXPECT_FALSE(fs::exists(path("memory.prev-" + std::to_string(::getpid()))));

    ASSERT_TRUE(snapshot::rename_pair({path("state.tmp"), path("memory.tmp")}, {path("state"), path("memory")}));
    EXPECT_EQ(pair_generation(path("state"), path("memory")), 2);
    EXPECT_EQ(entries(), 2u) << "no temporaries or kept files are left";
}

TEST_F(SnapshotReplace, FilePairFailureWithNoOldPairLeavesNeither) {
    write_pair(path("state.tmp"), path("memory.tmp"), 2);
    ASSERT_FALSE(snapshot::rename_pair({path("state.tmp"), path("memory.tmp")}, {path("state"), path("memory")},
                                       [] { return injected("between"); }));
    EXPECT_FALSE(fs::exists(path("memory"))) << "a memory file without its state would look like a pair";
    EXPECT_FALSE(fs::exists(path("state")));
}

TEST_F(SnapshotReplace, DirectorySwapReplacesThePairInOneStep) {
    fs::create_directories(path("snap"));
    write_pair(path("snap/state"), path("snap/memory"), 1);
    fs::create_directories(path("snap.new"));
    write_pair(path("snap.new/state"), path("snap.new/memory"), 2);
    ASSERT_TRUE(sync_dir_files(path("snap.new")));

    ASSERT_FALSE(swap_in_dir(path("snap.new"), path("snap"), SwapMethod::exchange, injected));
    EXPECT_EQ(pair_generation(path("snap/state"), path("snap/memory")), 1);

    ASSERT_TRUE(swap_in_dir(path("snap.new"), path("snap")));
    EXPECT_EQ(pair_generation(path("snap/state"), path("snap/memory")), 2);
    EXPECT_EQ(entries(), 1u) << "the old directory is removed once the new one is in place";
}

TEST_F(SnapshotReplace, DirectorySwapIntoNothingIsAPlainRename) {
    fs::create_directories(path("snap.new"));
    write_pair(path("snap.new/state"), path("snap.new/memory"), 3);
    ASSERT_TRUE(swap_in_dir(path("snap.new"), path("snap")));
    EXPECT_EQ(pair_generation(path("snap/state"), path("snap/memory")), 3);
    EXPECT_EQ(entries(), 1u);
}

TEST_F(SnapshotReplace, AsideSwapPutsTheOldPairBackOnFailure) {
    fs::create_directories(path("snap"));
    write_pair(path("snap/state"), path("snap/memory"), 1);
    fs::create_directories(path("snap.new"));
    write_pair(path("snap.new/state"), path("snap.new/memory"), 2);

    // Fails after the old directory was moved aside, before the new one is in.
    auto fault = [](std::string_view step) -> Result<void> {
        if (step == "install") return fail("injected failure");
        return {};
    };
    ASSERT_FALSE(swap_in_dir(path("snap.new"), path("snap"), SwapMethod::aside, fault));
    EXPECT_EQ(pair_generation(path("snap/state"), path("snap/memory")), 1);
    EXPECT_EQ(entries(), 2u) << "snap and the staged snap.new, nothing moved aside";

    ASSERT_TRUE(swap_in_dir(path("snap.new"), path("snap"), SwapMethod::aside));
    EXPECT_EQ(pair_generation(path("snap/state"), path("snap/memory")), 2);
    EXPECT_EQ(entries(), 1u);
}

} // namespace
} // namespace brood
