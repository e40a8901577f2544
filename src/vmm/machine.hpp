// A running VM: KVM objects, guest memory, devices and one thread per vCPU,
// with pause/resume and an orderly exit. MachineBuilder assembles it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/console.hpp"
#include "vmm/devices/acpi_pm.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/io_bus.hpp"
#include "vmm/devices/mmio_bus.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/exit_code.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/machine_config.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/virtio/block_backend.hpp"
#include "vmm/virtio/io_thread.hpp"
#include "vmm/virtio/transport.hpp"
#include "vmm/virtio/net.hpp"
#include "vmm/virtio/vsock_device.hpp"

namespace brood {

struct MachineExit {
    ExitCode code = ExitCode::power_off;
    std::string reason;
};

class MachineBuilder;

class Machine final {
public:
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    kvm::Kvm& kvm() { return _kvm; }
    GuestMemory& memory() { return _memory; }
    devices::Serial& serial() { return *_serial; }
    devices::I8042& i8042() { return *_i8042; }
    uint32_t vcpu_count() const { return _config.vcpus; }
    // virtio-mmio devices, in slot order (see virtio/mmio_layout.hpp).
    std::vector<std::unique_ptr<virtio::MmioTransport>>& virtio_devices() { return _virtio; }
    const MachineConfig& config() const { return _config; }

    // Writes a fresh random VM generation ID where the DSDT's VGEN device
    // points; with `announce`, raises the GPE that makes the guest re-read it.
    // Boot writes the first; every restore (and so every fork) a new one.
    Result<void> new_vm_generation(bool announce);

    // Every component's saved state, in restore order (see snapshot/persist.hpp).
    snapshot::Registry& persist() { return _persist; }
    // After persist().apply(), before start(): sets the restored clock to
    // what the guest reads at its first vCPU's TSC now (guest_clock.hpp; KVM
    // keeps the other vCPUs' TSCs in step with the first's), else as saved,
    // and tells the guest it was stopped (tell_guest_it_was_stopped()).
    Result<void> restore_clock();

    // Runs first on each vCPU thread (before start()); a failure ends the machine.
    void set_vcpu_thread_setup(std::function<Result<void>()> setup) { _vcpu_thread_setup = std::move(setup); }
    // Starts one thread per vCPU; they run unless `paused`.
    Result<void> start(bool paused);
    // Stops every vCPU outside KVM_RUN and waits until they are.
    Result<void> pause();
    Result<void> resume();
    bool paused() const { return _paused; }

    // Ends the machine: the first request wins; exit_fd() becomes readable.
    void request_exit(ExitCode code, std::string reason);
    int exit_fd() const { return _exit_event.get(); }
    // Stops and joins the vCPU threads; returns why the machine ended.
    MachineExit finish();

private:
    friend class MachineBuilder;
    Machine(kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory, std::shared_ptr<Console> console);
    // The devices, each on its bus and in the snapshot registry.
    Result<void> add_devices();
    // With every vCPU out of KVM_RUN, after a restore or a pause: a kvmclock
    // guest forgives the time it stood still, rather than taking a clock jump
    // or a TSC-to-kvmclock skew for a fault (kvm::Vcpu::tell_guest_it_was_stopped).
    void tell_guest_it_was_stopped();
    // A virtio device in the next virtio-mmio slot: its window, interrupt
    // line, queue notifications on the I/O thread, its snapshot section.
    Result<void> add_virtio_device(std::unique_ptr<virtio::Device> device);
    template <typename Codec, typename Device>
    Device& add_device(std::unique_ptr<Device> device);
    template <typename Device>
    Device& add_stateless_device(std::unique_ptr<Device> device);
    void vcpu_loop(kvm::Vcpu& vcpu);
    bool handle_exit(kvm::Vcpu& vcpu, const kvm::VcpuExit& exit);
    void kick_vcpus();
    void on_guest_request(devices::GuestRequest request);

    kvm::Kvm _kvm;
    kvm::Vm _vm;
    GuestMemory _memory;
    std::vector<kvm::Vcpu> _vcpus;
    MachineConfig _config;
    snapshot::Registry _persist;
    std::shared_ptr<Console> _console;
    devices::IoBus _bus;
    devices::MmioBus _mmio;
    std::vector<std::unique_ptr<devices::PioDevice>> _devices;
    devices::Serial* _serial = nullptr;
    devices::I8042* _i8042 = nullptr;
    devices::AcpiPm* _acpi_pm = nullptr;
    std::vector<std::unique_ptr<virtio::BlockBackend>> _disks; // until add_devices() makes them devices
    std::unique_ptr<virtio::VsockDevice> _vsock;                 // likewise
    std::unique_ptr<virtio::Net> _net;                           // likewise
    std::unique_ptr<virtio::IoThread> _io;
    std::vector<UniqueFd> _irqfds;
    std::vector<std::unique_ptr<virtio::MmioTransport>> _virtio; // after _io: destroyed before it

    std::vector<std::thread> _threads;
    std::function<Result<void>()> _vcpu_thread_setup;
    std::mutex _mutex;
    std::condition_variable _cv;
    bool _pause_requested = false;
    bool _paused = false;
    uint32_t _parked = 0;
    std::atomic<bool> _stopping{false};
    MachineExit _exit;
    bool _exit_requested = false;
    // The vCPU that triple faulted: finish() reads its registers, from the
    // main thread (a vCPU thread's seccomp filter allows only KVM_RUN).
    std::optional<size_t> _triple_faulted;
    UniqueFd _exit_event;
};

} // namespace brood
