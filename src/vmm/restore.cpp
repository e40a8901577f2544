#include "vmm/restore.hpp"

#include <fmt/format.h>

#include "vmm/snapshot/machine_state.hpp"
#include "vmm/snapshot/state_file.hpp"

namespace brood {
namespace {

tl::unexpected<BuildError> bad_input(Error e) { return tl::unexpected(BuildError{std::move(e), true}); }
tl::unexpected<BuildError> internal(Error e) { return tl::unexpected(BuildError{std::move(e), false}); }

Result<void> restore_devices(Machine& m, const snapshot::MachineSnapshot& snap) {
    TRY_CTX(m.vm().restore_state(snap.vm), "restore VM state");
    for (auto& vcpu : m.vcpus()) {
        const auto& saved = snap.vcpus.at(vcpu.index());
        auto ctx = fmt::format("restore vcpu {}", vcpu.index());
        TRY_CTX(vcpu.set_cpuid(saved.cpuid), ctx);
        TRY_CTX(vcpu.restore_state(saved.state), ctx);
        m.cpuid_tables().push_back(saved.cpuid);
    }
    m.serial().restore(snap.serial);
    m.i8042().restore(snap.i8042);
    m.boot_description() = snap.config.boot_description;
    return {};
}

} // namespace

tl::expected<std::unique_ptr<Machine>, BuildError> build_from_snapshot(const RestoreSource& source,
                                                                       std::shared_ptr<Console> console) {
    auto bytes = snapshot::read_state_file(source.state_path);
    if (!bytes) return bad_input(bytes.error());
    auto snap = snapshot::decode_snapshot(*bytes);
    if (!snap) return bad_input(std::move(snap.error()).context(source.state_path));
    auto kvm = kvm::Kvm::open();
    if (!kvm) return internal(kvm.error());
    if (snap->config.vcpus > kvm->max_vcpus())
        return bad_input(Error(fmt::format("snapshot has {} vCPUs, this host allows {}", snap->config.vcpus,
                                           kvm->max_vcpus())));
    if (auto ok = check_memory_size(snap->config.memory_bytes >> 20); !ok) return bad_input(ok.error());

    Result<GuestMemory> memory = source.backend == "copy"
                                     ? GuestMemory::copy_of_file(source.memory_path, snap->config.memory_bytes)
                                     : GuestMemory::private_file(source.memory_path, snap->config.memory_bytes);
    if (!memory) return bad_input(memory.error());

    auto machine = Machine::create(std::move(*kvm), std::move(*memory), snap->config.vcpus, std::move(console));
    if (!machine) return internal(machine.error());
    if (auto ok = restore_devices(**machine, *snap); !ok) return internal(ok.error());
    return std::move(*machine);
}

} // namespace brood
