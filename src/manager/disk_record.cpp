#include "manager/disk_record.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/disk_overlay.hpp"
#include "common/file_copy.hpp"
#include "common/unique_fd.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

nlohmann::json to_json(const DiskRecord& d) {
    nlohmann::json j{{"path", d.path}, {"read_only", d.read_only}};
    if (!d.base.empty()) j["base"] = d.base;
    return j;
}

DiskRecord disk_from_json(const nlohmann::json& j) {
    DiskRecord d;
    d.path = j.at("path").get<std::string>();
    d.read_only = j.value("read_only", false);
    d.base = j.value("base", "");
    return d;
}

OpResult<DiskRecord> check_disk(const DiskRecord& disk, size_t index, const ImageDirs& images) {
    std::string what = fmt::format("disks[{}]", index);
    if (disk.path.empty()) return bad_request(what + ".path is required");
    DiskRecord out = disk;
    out.path = TRY(images.check(what, disk.path, !disk.read_only));
    out.base.clear();
    struct stat st{};
    if (::stat(out.path.c_str(), &st) != 0) return bad_request(what + " not found: " + disk.path);
    if (st.st_size == 0 || st.st_size % 512 != 0)
        return bad_request(fmt::format("{} has {} bytes, not a positive multiple of 512: {}", what, st.st_size,
                                       disk.path));
    return out;
}

std::string vmm_disk_arg(const DiskRecord& d) {
    std::string arg = d.path;
    if (d.read_only) arg += ",ro";
    if (!d.base.empty()) arg += ",base=" + d.base;
    return arg;
}

namespace {

// A reflink copy of `src` at `dst`, or false where the file system cannot share extents.
Result<bool> try_reflink(const std::string& src, const std::string& dst) {
    UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return fail(Error::from_errno("open " + src));
    UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return fail(Error::from_errno("create " + dst));
    if (::ioctl(out.get(), FICLONE, in.get()) == 0) return true;
    ::unlink(dst.c_str());
    return false;
}

Result<uint64_t> file_size(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return fail(Error::from_errno("stat " + path));
    return static_cast<uint64_t>(st.st_size);
}

} // namespace

Result<std::vector<DiskRecord>> fork_disks(const std::vector<DiskRecord>& source, const std::string& staging_dir,
                                           const std::string& final_dir, bool share_base) {
    std::vector<DiskRecord> out;
    bool made_dir = false;
    for (size_t i = 0; i < source.size(); ++i) {
        const DiskRecord& s = source[i];
        if (s.read_only) {
            out.push_back(s);
            continue;
        }
        if (!made_dir) {
            std::error_code ec;
            fs::create_directories(staging_dir + "/disks", ec);
            if (ec) return fail("create " + staging_dir + "/disks: " + ec.message());
            made_dir = true;
        }
        auto ctx = fmt::format("give the fork its own disk {}", i);
        bool raw = s.base.empty();
        std::string name = fmt::format("disks/disk{}.{}", i, raw ? "img" : "overlay");
        DiskRecord d{final_dir + "/" + name, false, s.base};
        std::string staged = staging_dir + "/" + name;
        if (raw && share_base) {
            if (!TRY_CTX(try_reflink(s.path, staged), ctx)) {
                d.path = final_dir + "/" + fmt::format("disks/disk{}.overlay", i);
                d.base = s.path;
                uint64_t size = TRY_CTX(file_size(s.path), ctx);
                TRY_CTX(overlay::create(staging_dir + "/" + fmt::format("disks/disk{}.overlay", i), size), ctx);
            }
        } else {
            TRY_CTX(copy_file_sparse(s.path, staged, 0600), ctx);
        }
        out.push_back(std::move(d));
    }
    return out;
}

} // namespace brood::manager
