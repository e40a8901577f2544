#include "vmm/boot.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/unique_fd.hpp"
#include "vmm/arch/x86_64/cpuid.hpp"
#include "vmm/arch/x86_64/msr.hpp"
#include "vmm/arch/x86_64/regs.hpp"
#include "vmm/loader/loader.hpp"
#include "vmm/virtio/mmio_layout.hpp"

namespace brood {
namespace {

tl::unexpected<BuildError> bad_input(Error e) { return tl::unexpected(BuildError{std::move(e), true}); }
tl::unexpected<BuildError> internal(Error e) { return tl::unexpected(BuildError{std::move(e), false}); }

Result<std::vector<uint8_t>> read_file(const std::string& path, const char* what) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::from_errno(fmt::format("cannot read {} {}", what, path)));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail(Error::from_errno(fmt::format("cannot read {} {}", what, path)));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("cannot read {} {}: not a regular file", what, path));
    std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::from_errno(fmt::format("cannot read {} {}", what, path)));
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    bytes.resize(done);
    return bytes;
}

} // namespace

Result<void> check_memory_size(uint64_t memory_mib) {
    if (memory_mib < kMinMemoryMib)
        return fail(fmt::format("memory must be at least {} MiB, got {} MiB", kMinMemoryMib, memory_mib));
    uint64_t host_bytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t host_mib = host_bytes >> 20;
    if (memory_mib > host_mib)
        return fail(fmt::format("memory of {} MiB exceeds this host's {} MiB", memory_mib, host_mib));
    return {};
}

Result<void> configure_vcpus_for_boot(const kvm::Kvm& kvm, std::vector<kvm::Vcpu>& vcpus) {
    auto supported = TRY(kvm.supported_cpuid());
    auto count = static_cast<uint32_t>(vcpus.size());
    for (auto& vcpu : vcpus) {
        auto ctx = fmt::format("set up vcpu {}", vcpu.index());
        TRY_CTX(vcpu.set_cpuid(x86::apply_cpuid_policy(supported, vcpu.index(), count)), ctx);
        TRY_CTX(vcpu.set_msrs(x86::boot_msrs()), ctx);
        TRY_CTX(vcpu.set_default_fpu(), ctx);
        TRY_CTX(vcpu.update_lapic([](std::span<uint8_t, 1024> regs) { x86::configure_lapic_lints(regs); }), ctx);
    }
    return {};
}

Result<std::unique_ptr<virtio::VsockDevice>> open_vsock(const std::optional<VsockOptions>& options, bool restore) {
    if (!options) return nullptr;
    if (options->socket_path.empty()) return fail("a vsock device needs --vsock-socket");
    if (!restore && options->guest_cid == 0) return fail("a vsock device needs --vsock-cid");
    return TRY_CTX(virtio::VsockDevice::create({options->guest_cid, options->socket_path}), "vsock");
}

tl::expected<std::unique_ptr<Machine>, BuildError> build_for_boot(const BootSource& source,
                                                                  const MachineShape& shape,
                                                                  const std::vector<DiskConfig>& disks,
                                                                  std::shared_ptr<Console> console) {
    if (auto ok = check_memory_size(shape.memory_mib); !ok) return bad_input(ok.error());
    auto backends = open_disks(disks);
    if (!backends) return bad_input(backends.error());
    auto vsock = open_vsock(source.vsock, false);
    if (!vsock) return bad_input(vsock.error());
    std::unique_ptr<virtio::Net> nic;
    if (source.net) {
        auto opened = open_net(*source.net);
        if (!opened) return bad_input(opened.error());
        nic = std::move(*opened);
    }
    // Opened, not read: the loader reads its segments straight into guest memory.
    auto kernel = loader::KernelImage::open(source.kernel_path);
    if (!kernel) return bad_input(kernel.error());
    if (kernel->size() == 0) return bad_input(Error(fmt::format("kernel {} is empty", source.kernel_path)));
    std::vector<uint8_t> initrd;
    if (!source.initrd_path.empty()) {
        auto bytes = read_file(source.initrd_path, "initrd");
        if (!bytes) return bad_input(bytes.error());
        initrd = std::move(*bytes);
    }
    auto kvm = kvm::Kvm::open();
    if (!kvm) return internal(kvm.error());
    if (shape.vcpus == 0 || shape.vcpus > kvm->max_vcpus())
        return bad_input(Error(fmt::format("vcpus must be between 1 and {} on this host, got {}",
                                           kvm->max_vcpus(), shape.vcpus)));
    auto memory = GuestMemory::anonymous(shape.memory_mib << 20);
    if (!memory) return internal(memory.error());

    loader::BootParams params;
    const size_t virtio_devices = backends->size() + (*vsock ? 1 : 0) + (nic ? 1 : 0);
    params.cmdline = virtio::with_kernel_parameters(source.cmdline, virtio_devices);
    for (size_t i = 0; i < virtio_devices && i < virtio::kMaxDevices; ++i)
        params.mmio_devices.push_back({virtio::mmio_address(i), static_cast<uint32_t>(virtio::kMmioStride),
                                       virtio::kGsis[i]});
    params.vcpu_count = shape.vcpus;
    if (!source.initrd_path.empty()) params.initrd = std::span<const uint8_t>(initrd);
    // Loading touches only the pages the kernel lands on; do it before KVM
    // sees the memory so a bad image costs no VM.
    auto boot_state = loader::prepare_boot(*kernel, params, *memory);
    if (!boot_state) return bad_input(boot_state.error());

    auto builder = MachineBuilder::create(std::move(*kvm), std::move(*memory), shape.vcpus, std::move(console));
    if (!builder) return internal(builder.error());
    if (auto ok = configure_vcpus_for_boot(builder->kvm(), builder->vcpus()); !ok) return internal(ok.error());
    if (auto ok = builder->vcpus().front().set_boot_state(*boot_state); !ok)
        return internal(ok.error().context("set up boot vcpu"));
    builder->disks(std::move(*backends));
    builder->vsock(std::move(*vsock));
    builder->net(std::move(nic));
    builder->boot_description(
        nlohmann::json{{"kernel", source.kernel_path}, {"initrd", source.initrd_path}, {"cmdline", source.cmdline}}
            .dump());
    auto machine = builder->build();
    if (!machine) return internal(machine.error());
    if (auto ok = (*machine)->new_vm_generation(false); !ok) return internal(ok.error());
    return std::move(*machine);
}

} // namespace brood
