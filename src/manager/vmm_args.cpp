#include "manager/vmm_args.hpp"

#include <filesystem>

namespace brood::manager {

namespace {

void add_common(std::vector<std::string>& args, const Layout& layout, const InstanceRecord& record) {
    const std::string& id = record.id;
    args.insert(args.end(), {"--control-socket", layout.control_socket(id), "--serial-log", layout.serial_log(id),
                             "--serial-socket", layout.serial_socket(id)});
    for (const auto& disk : record.disks) args.insert(args.end(), {"--disk", vmm_disk_arg(disk)});
    // A restore gives the CID again: a fork's differs from its source's.
    if (record.vsock_cid != 0)
        args.insert(args.end(),
                    {"--vsock-cid", std::to_string(record.vsock_cid), "--vsock-socket", layout.vsock_socket(id)});
    // Likewise the TAP and MAC: a fork's are its own from its first instruction.
    if (!record.tap.empty()) args.insert(args.end(), {"--net", "tap=" + record.tap + ",mac=" + record.mac});
}

// Forks' memory files are symlinks to a template's file: hand the VMM the
// resolved path so nothing depends on the link later.
std::string resolved(const std::string& path) {
    std::error_code ec;
    auto canonical = std::filesystem::canonical(path, ec);
    return ec ? path : canonical.string();
}

} // namespace

std::vector<std::string> boot_args(const Layout& layout, const InstanceRecord& record) {
    std::vector<std::string> args{"boot", "--kernel", record.kernel};
    if (!record.initrd.empty()) args.insert(args.end(), {"--initrd", record.initrd});
    if (!record.cmdline.empty()) args.insert(args.end(), {"--cmdline", record.cmdline});
    args.insert(args.end(), {"--memory-mib", std::to_string(record.memory_mib), "--vcpus", std::to_string(record.vcpus)});
    add_common(args, layout, record);
    return args;
}

std::vector<std::string> restore_args(const Layout& layout, const InstanceRecord& record,
                                      Backend backend) {
    std::vector<std::string> args{"restore",
                                  "--state",
                                  resolved(layout.snapshot_state(record.id)),
                                  "--memory",
                                  resolved(layout.snapshot_memory(record.id)),
                                  "--backend",
                                  std::string(to_string(backend))};
    add_common(args, layout, record);
    return args;
}

} // namespace brood::manager
