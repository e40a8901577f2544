#include "vmm/disk_config.hpp"

#include <fmt/format.h>

#include "vmm/virtio/mmio_layout.hpp"
#include "vmm/virtio/overlay_file.hpp"

namespace brood {

Result<DiskConfig> parse_disk_arg(const std::string& arg) {
    DiskConfig disk;
    size_t pos = arg.find(',');
    disk.path = arg.substr(0, pos);
    if (disk.path.empty()) return fail(fmt::format("--disk {:?} has no path", arg));
    while (pos != std::string::npos) {
        size_t next = arg.find(',', pos + 1);
        std::string opt = arg.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
        if (opt == "ro") disk.read_only = true;
        else if (opt.starts_with("base=") && opt.size() > 5) disk.base = opt.substr(5);
        else return fail(fmt::format("--disk {:?}: unknown option {:?} (ro, base=PATH)", arg, opt));
        pos = next;
    }
    return disk;
}

Result<std::vector<std::unique_ptr<virtio::BlockBackend>>> open_disks(const std::vector<DiskConfig>& disks) {
    if (disks.size() > virtio::kMaxDevices)
        return fail(fmt::format("{} disks given, at most {}", disks.size(), virtio::kMaxDevices));
    std::vector<std::unique_ptr<virtio::BlockBackend>> out;
    for (size_t i = 0; i < disks.size(); ++i) {
        const auto& d = disks[i];
        auto ctx = fmt::format("disk {}", i);
        if (d.base.empty()) out.push_back(TRY_CTX(virtio::RawFile::open(d.path, d.read_only), ctx));
        else out.push_back(TRY_CTX(virtio::OverlayFile::open(d.path, d.base, d.read_only), ctx));
    }
    return out;
}

} // namespace brood
