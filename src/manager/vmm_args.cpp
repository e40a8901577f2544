#include "manager/vmm_args.hpp"

#include <filesystem>

namespace brood::manager {

namespace {

Result<std::string> image_arg(const ImageArg& image, const std::string& path, bool writable) {
    if (!image) return path;
    return image(path, writable);
}

Result<void> add_common(std::vector<std::string>& args, const Layout& layout, const InstanceRecord& record,
                        const ImageArg& image) {
    const std::string& id = record.id;
    args.insert(args.end(), {"--control-socket", layout.control_socket(id), "--serial-log", layout.serial_log(id),
                             "--serial-socket", layout.serial_socket(id)});
    for (DiskRecord disk : record.disks) {
        disk.path = TRY(image_arg(image, disk.path, !disk.read_only));
        if (!disk.base.empty()) disk.base = TRY(image_arg(image, disk.base, false));
        args.insert(args.end(), {"--disk", vmm_disk_arg(disk)});
    }
    // A restore gives the CID again: a fork's differs from its source's.
    if (record.vsock_cid != 0)
        args.insert(args.end(),
                    {"--vsock-cid", std::to_string(record.vsock_cid), "--vsock-socket", layout.vsock_socket(id)});
    // Likewise the TAP and MAC: a fork's are its own from its first instruction.
    if (!record.tap.empty()) args.insert(args.end(), {"--net", "tap=" + record.tap + ",mac=" + record.mac});
    return {};
}

// Forks' memory files are symlinks to a template's file: hand the VMM the
// resolved path so nothing depends on the link later.
std::string resolved(const std::string& path) {
    std::error_code ec;
    auto canonical = std::filesystem::canonical(path, ec);
    return ec ? path : canonical.string();
}

} // namespace

Result<std::vector<std::string>> boot_args(const Layout& layout, const InstanceRecord& record,
                                           const ImageArg& image) {
    std::vector<std::string> args{"boot", "--kernel", TRY(image_arg(image, record.kernel, false))};
    if (!record.initrd.empty()) args.insert(args.end(), {"--initrd", TRY(image_arg(image, record.initrd, false))});
    if (!record.cmdline.empty()) args.insert(args.end(), {"--cmdline", record.cmdline});
    args.insert(args.end(), {"--memory-mib", std::to_string(record.memory_mib), "--vcpus", std::to_string(record.vcpus)});
    TRY(add_common(args, layout, record, image));
    return args;
}

Result<std::vector<std::string>> restore_args(const Layout& layout, const InstanceRecord& record, Backend backend,
                                              const ImageArg& image) {
    std::vector<std::string> args{"restore",
                                  "--state",
                                  resolved(layout.snapshot_state(record.id)),
                                  "--memory",
                                  resolved(layout.snapshot_memory(record.id)),
                                  "--backend",
                                  std::string(to_string(backend))};
    TRY(add_common(args, layout, record, image));
    return args;
}

Result<std::string> VmmImageFiles::arg(const std::string& path, bool writable) {
    if (_images.contains(path)) {
        auto file = TRY(_images.open_file(path, writable));
        _files.push_back(std::move(file));
        return "/proc/self/fd/" + std::to_string(_first_fd + static_cast<int>(_files.size()) - 1);
    }
    const std::string own = _layout.root() + "/";
    if (path.compare(0, own.size(), own) == 0) return path;
    return fail(path + " is outside the image directories (" + _images.describe() + ")");
}

} // namespace brood::manager
