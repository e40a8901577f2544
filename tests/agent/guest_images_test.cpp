// The Linux guest's images with brood-agent (guest/linux/build-images.sh,
// target guest-images): what the guest will find in them. Skipped where the
// images were not built (they need the fetched assets).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace {

const std::string kImages = BROOD_GUEST_IMAGES_DIR;

std::string run(const std::string& cmd, int* code = nullptr) {
    std::string out;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    int status = ::pclose(pipe);
    if (code) *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

bool built() { return fs::exists(kImages + "/initrd-agent.cpio.gz") && fs::exists(kImages + "/rootfs.ext4"); }

} // namespace

TEST(GuestImages, TheInitrdCarriesTheModulesTheInitAndTheAgent) {
    if (!built()) GTEST_SKIP() << "no images in " << kImages << " (cmake --build . --target guest-images)";
    // The kernel unpacks the concatenated archives in turn; cpio -t stops at
    // the first trailer, so list the second archive on its own too.
    std::string first = run("gzip -dc " + kImages + "/initrd-agent.cpio.gz | cpio -t 2>/dev/null");
    for (const char* entry : {"init\n", "lib/modules/brood/load-order\n", "lib/modules/brood/virtio_mmio.ko\n",
                              "lib/modules/brood/vmw_vsock_virtio_transport.ko\n", "lib/modules/brood/virtio_blk.ko\n",
                              "newroot\n"})
        EXPECT_NE(first.find(entry), std::string::npos) << entry << " missing from the initrd";
    // A newc header (magic 070701 and 104 hex digits) naming the agent.
    std::string all = run("gzip -dc " + kImages +
                          "/initrd-agent.cpio.gz | grep -aEo '070701[0-9A-Fa-f]{104}bin/brood-agent' | wc -l");
    EXPECT_EQ(all, "1\n") << "the agent's archive is not appended";
    std::string init = run("gzip -dc " + kImages + "/initrd-agent.cpio.gz | cpio -i --to-stdout init 2>/dev/null");
    EXPECT_NE(init.find("/bin/brood-agent"), std::string::npos);
    EXPECT_NE(init.find("switch_root"), std::string::npos);
    EXPECT_NE(init.find("insmod"), std::string::npos);
}

TEST(GuestImages, TheRootDiskIsACleanExt4WithInitAndAgent) {
    if (!built()) GTEST_SKIP() << "no images in " << kImages;
    int code = -1;
    std::string fsck = run("e2fsck -fn " + kImages + "/rootfs.ext4 2>&1", &code);
    EXPECT_EQ(code, 0) << fsck;
    for (const char* path : {"/sbin/init", "/bin/brood-agent", "/bin/busybox"}) {
        std::string stat = run("debugfs -R 'stat " + std::string(path) + "' " + kImages + "/rootfs.ext4 2>/dev/null");
        EXPECT_NE(stat.find("Type: regular    Mode:  0755"), std::string::npos) << path << ": " << stat;
    }
    std::string init = run("debugfs -R 'cat /sbin/init' " + kImages + "/rootfs.ext4 2>/dev/null");
    EXPECT_NE(init.find("brood-rootfs ready"), std::string::npos) << init;
}
