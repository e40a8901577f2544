// A running VM: KVM objects, guest memory, devices and one thread per vCPU,
// with pause/resume and an orderly exit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/console.hpp"
#include "vmm/devices/acpi_pm.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/io_bus.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/exit_code.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood {

struct MachineExit {
    ExitCode code = ExitCode::power_off;
    std::string reason;
};

class Machine final {
public:
    // Creates the VM, registers memory (before the irqchip: cheaper there,
    // see docs/development-hosts.md),
    // creates the irqchip, PIT, vCPUs and devices. The vCPUs are not set up.
    static Result<std::unique_ptr<Machine>> create(kvm::Kvm kvm, GuestMemory memory, uint32_t vcpu_count,
                                                   std::shared_ptr<Console> console);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    kvm::Kvm& kvm() { return _kvm; }
    kvm::Vm& vm() { return _vm; }
    GuestMemory& memory() { return _memory; }
    std::vector<kvm::Vcpu>& vcpus() { return _vcpus; }
    devices::Serial& serial() { return *_serial; }
    devices::I8042& i8042() { return *_i8042; }
    uint32_t vcpu_count() const { return static_cast<uint32_t>(_vcpus.size()); }

    // What the vCPUs were given and how the VM first booted: saved in snapshots.
    std::vector<x86::CpuidTable>& cpuid_tables() { return _cpuid_tables; }
    std::string& boot_description() { return _boot_description; }

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
    Machine(kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory, std::shared_ptr<Console> console);
    void vcpu_loop(kvm::Vcpu& vcpu);
    bool handle_exit(kvm::Vcpu& vcpu, const kvm::VcpuExit& exit);
    void kick_vcpus();
    void on_guest_request(devices::GuestRequest request);

    kvm::Kvm _kvm;
    kvm::Vm _vm;
    GuestMemory _memory;
    std::vector<kvm::Vcpu> _vcpus;
    std::vector<x86::CpuidTable> _cpuid_tables;
    std::string _boot_description;
    std::shared_ptr<Console> _console;
    devices::IoBus _bus;
    std::unique_ptr<devices::Serial> _serial;
    std::unique_ptr<devices::I8042> _i8042;
    std::unique_ptr<devices::AcpiPm> _pm;
    std::unique_ptr<devices::QuietPorts> _quiet;

    std::vector<std::thread> _threads;
    std::mutex _mutex;
    std::condition_variable _cv;
    bool _pause_requested = false;
    bool _paused = false;
    uint32_t _parked = 0;
    std::atomic<bool> _stopping{false};
    MachineExit _exit;
    bool _exit_requested = false;
    UniqueFd _exit_event;
};

} // namespace brood
