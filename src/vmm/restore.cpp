#include "vmm/restore.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/machine_builder.hpp"
#include "vmm/snapshot/persist.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood {
namespace {

tl::unexpected<BuildError> bad_input(Error e) { return tl::unexpected(BuildError{std::move(e), true}); }
tl::unexpected<BuildError> internal(Error e) { return tl::unexpected(BuildError{std::move(e), false}); }

} // namespace

tl::expected<std::unique_ptr<Machine>, BuildError> build_from_snapshot(const RestoreSource& source,
                                                                       std::shared_ptr<Console> console) {
    auto bytes = snapshot::read_state_file(source.state_path);
    if (!bytes) return bad_input(bytes.error());
    auto sections = snapshot::decode_state_file(*bytes);
    if (!sections) return bad_input(std::move(sections.error()).context(source.state_path));
    // The machine's shape comes first: it says what to build.
    auto config = snapshot::decode_section<MachineConfigCodec>(*sections);
    if (!config) return bad_input(std::move(config.error()).context(source.state_path));
    auto kvm = kvm::Kvm::open();
    if (!kvm) return internal(kvm.error());
    if (config->vcpus > kvm->max_vcpus())
        return bad_input(
            Error(fmt::format("snapshot has {} vCPUs, this host allows {}", config->vcpus, kvm->max_vcpus())));
    if (auto ok = check_memory_size(config->memory_bytes >> 20); !ok) return bad_input(ok.error());
    auto disks = open_disks(source.disks);
    if (!disks) return bad_input(disks.error());
    std::vector<DiskShape> shapes;
    for (const auto& d : *disks) shapes.push_back({d->size(), d->read_only()});
    if (auto ok = check_disks_match(config->disks, shapes); !ok) return bad_input(ok.error());
    // A vsock device sits after the disks; the snapshot says whether there is one.
    bool saved_vsock = std::any_of(sections->begin(), sections->end(),
                                   [](const snapshot::Section& s) { return s.id == virtio::section_id::kVsock; });
    if (saved_vsock && !source.vsock)
        return bad_input(Error("the snapshot has a vsock device: give --vsock-socket (and --vsock-cid for a new CID)"));
    std::optional<VsockOptions> vsock_options = saved_vsock ? source.vsock : std::nullopt;
    if (source.vsock && !saved_vsock) spdlog::warn("the snapshot has no vsock device; --vsock-* ignored");
    auto vsock = open_vsock(vsock_options, true);
    if (!vsock) return bad_input(vsock.error());
    // So does the NIC, after the vsock device; a fork brings its own TAP and MAC.
    bool saved_net = std::any_of(sections->begin(), sections->end(),
                                 [](const snapshot::Section& s) { return s.id == virtio::section_id::kNet; });
    if (saved_net && !source.net)
        return bad_input(Error("the snapshot has a network device: give --net tap=NAME,mac=MAC"));
    if (source.net && !saved_net) spdlog::warn("the snapshot has no network device; --net ignored");
    std::unique_ptr<virtio::Net> nic;
    if (saved_net) {
        auto opened = open_net(*source.net);
        if (!opened) return bad_input(opened.error());
        nic = std::move(*opened);
    }

    Result<GuestMemory> memory = source.backend == "copy"
                                     ? GuestMemory::copy_of_file(source.memory_path, config->memory_bytes)
                                     : GuestMemory::private_file(source.memory_path, config->memory_bytes);
    if (!memory) return bad_input(memory.error());

    auto builder = MachineBuilder::create(std::move(*kvm), std::move(*memory), config->vcpus, std::move(console));
    if (!builder) return internal(builder.error());
    builder->disks(std::move(*disks));
    builder->vsock(std::move(*vsock));
    builder->net(std::move(nic));
    builder->boot_description(config->boot_description);
    auto machine = builder->build();
    if (!machine) return internal(machine.error());
    // Every section is matched, checked and decoded before any is restored.
    if (auto ok = (*machine)->persist().load(*sections); !ok)
        return bad_input(std::move(ok.error()).context(source.state_path));
    if (auto ok = (*machine)->persist().apply(); !ok) return internal(ok.error());
    if (auto ok = (*machine)->restore_clock(); !ok) return internal(ok.error());
    // A restored machine may be one of many clones: it gets its own generation ID.
    if (auto ok = (*machine)->new_vm_generation(true); !ok) return internal(ok.error());
    return std::move(*machine);
}

} // namespace brood
