// Disks at create and for forks: checks, the VMM's --disk values, and each
// fork's own files, with the source's files never written.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/disk_overlay.hpp"
#include "manager/disk_record.hpp"

namespace brood::manager {
namespace {

namespace fs = std::filesystem;

class DiskRecordTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = (fs::temp_directory_path() / "brood-disks-XXXXXX").string();
        dir = ::mkdtemp(templ.data());
        image = dir + "/base.img";
        std::ofstream(image, std::ios::binary) << std::string(8192, 'x');
        fs::create_directories(dir + "/staging");
    }
    void TearDown() override { fs::remove_all(dir); }
    std::string dir, image;
};

TEST_F(DiskRecordTest, CreateChecks) {
    auto images = ImageDirs::open({dir});
    ASSERT_TRUE(images) << images.error().message();
    auto check_disk = [&](const DiskRecord& d, size_t i) { return manager::check_disk(d, i, *images); };
    auto ok = check_disk({image, false, "ignored"}, 0);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(ok->path, fs::canonical(image).string());
    EXPECT_TRUE(ok->base.empty()) << "a client cannot name a base";
    EXPECT_FALSE(check_disk({"relative.img", false, ""}, 0));
    EXPECT_FALSE(check_disk({dir + "/missing", false, ""}, 0));
    EXPECT_FALSE(check_disk({dir, false, ""}, 0));
    std::ofstream(dir + "/odd.img") << "abc";
    auto odd = check_disk({dir + "/odd.img", false, ""}, 1);
    ASSERT_FALSE(odd);
    EXPECT_NE(odd.error().message.find("disks[1]"), std::string::npos) << odd.error().message;
}

TEST_F(DiskRecordTest, VmmArguments) {
    EXPECT_EQ(vmm_disk_arg({"/a", false, ""}), "/a");
    EXPECT_EQ(vmm_disk_arg({"/a", true, ""}), "/a,ro");
    EXPECT_EQ(vmm_disk_arg({"/l", false, "/b"}), "/l,base=/b");
}

TEST_F(DiskRecordTest, TemplateForkGetsItsOwnLayer) {
    auto disks = fork_disks({{image, false, ""}, {image, true, ""}}, dir + "/staging", dir + "/final", true);
    ASSERT_TRUE(disks) << disks.error().message();
    ASSERT_EQ(disks->size(), 2u);
    const DiskRecord& own = (*disks)[0];
    EXPECT_EQ(own.path.rfind(dir + "/final/disks/disk0.", 0), 0u) << own.path;
    EXPECT_FALSE(own.read_only);
    std::string staged = dir + "/staging/" + own.path.substr((dir + "/final/").size());
    EXPECT_TRUE(fs::exists(staged)) << staged;
    if (own.base.empty()) {
        EXPECT_EQ(fs::file_size(staged), 8192u) << "a reflink copy";
    } else {
        EXPECT_EQ(own.base, image) << "an overlay above the template's image";
        std::ifstream in(staged, std::ios::binary);
        char magic[8];
        in.read(magic, 8);
        EXPECT_EQ(std::string(magic, 8), "BROODOVL");
    }
    EXPECT_EQ((*disks)[1], (DiskRecord{image, true, ""})) << "read-only disks are shared";
}

TEST_F(DiskRecordTest, InstanceForkCopiesAndKeepsTheBase) {
    ASSERT_TRUE(overlay::create(dir + "/layer.overlay", 8192, 4096));
    auto disks = fork_disks({{dir + "/layer.overlay", false, image}}, dir + "/staging", dir + "/final", false);
    ASSERT_TRUE(disks) << disks.error().message();
    EXPECT_EQ((*disks)[0].path, dir + "/final/disks/disk0.overlay");
    EXPECT_EQ((*disks)[0].base, image);
    EXPECT_EQ(fs::file_size(dir + "/staging/disks/disk0.overlay"), fs::file_size(dir + "/layer.overlay"));
}

} // namespace
} // namespace brood::manager
