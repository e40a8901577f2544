#include "vmm/machine.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>

#include <array>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/arch/x86_64/acpi.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/guest_clock.hpp"
#include "vmm/virtio/block.hpp"
#include "vmm/virtio/mmio_layout.hpp"

namespace brood {
namespace {

// vCPU threads are kicked out of KVM_RUN with this signal; its handler is
// empty, the point is the EINTR.
constexpr int kKickSignal = SIGUSR1;

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa{};
        sa.sa_handler = [](int) {};
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; // no SA_RESTART: KVM_RUN must return
        sigaction(kKickSignal, &sa, nullptr);
    });
}

} // namespace

Machine::Machine(kvm::Kvm kvm, kvm::Vm vm, GuestMemory memory, std::shared_ptr<Console> console)
    : _kvm(std::move(kvm)), _vm(std::move(vm)), _memory(std::move(memory)), _console(std::move(console)) {}

Machine::~Machine() {
    if (!_threads.empty()) {
        request_exit(ExitCode::vmm_error, "machine destroyed while running");
        finish();
    }
    if (_io) _io->stop();
}

template <typename Codec, typename Device>
Device& Machine::add_device(std::unique_ptr<Device> device) {
    Device& d = add_stateless_device(std::move(device));
    _persist.add<Codec>(d);
    return d;
}

template <typename Device>
Device& Machine::add_stateless_device(std::unique_ptr<Device> device) {
    Device& d = *device;
    for (const auto& ports : Device::kPorts) _bus.add(ports.base, ports.length, &d);
    _devices.push_back(std::move(device));
    return d;
}

// One line per device: its ports come from the device, its section from its codec.
Result<void> Machine::add_devices() {
    auto irq = [this](uint32_t line) {
        return [this, line](bool level) {
            if (auto r = _vm.set_irq_line(line, level); !r) spdlog::error("{}", r.error().message());
        };
    };
    auto requests = [this](devices::GuestRequest req) { on_guest_request(req); };
    using namespace devices;
    _serial = &add_device<SerialCodec>(
        std::make_unique<Serial>(irq(Serial::kCom1Irq), [this](uint8_t b) { _console->write(b); }));
    _i8042 = &add_device<I8042Codec>(std::make_unique<I8042>(irq(I8042::kKeyboardIrq), requests));
    _acpi_pm = &add_device<AcpiPmCodec>(std::make_unique<AcpiPm>(requests, irq(AcpiPm::kSciIrq)));
    add_stateless_device(std::make_unique<QuietPorts>());

    _io = TRY(virtio::IoThread::create());
    for (auto& disk : _disks) TRY(add_virtio_device(std::make_unique<virtio::Block>(std::move(disk))));
    _disks.clear();
    if (_vsock) TRY(add_virtio_device(std::move(_vsock)));
    if (_net) TRY(add_virtio_device(std::move(_net)));
    return {};
}

Result<void> Machine::add_virtio_device(std::unique_ptr<virtio::Device> device) {
    size_t slot = _virtio.size();
    if (slot >= virtio::kMaxDevices) return fail(fmt::format("at most {} virtio devices", virtio::kMaxDevices));
    uint64_t base = virtio::mmio_address(slot);
    auto ctx = fmt::format("virtio {} device at {:#x}", device->name(), base);
    UniqueFd irqfd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!irqfd) return fail_errno("eventfd");
    TRY_CTX(_vm.add_irqfd(irqfd.get(), virtio::kGsis[slot]), ctx);
    int fd = irqfd.get();
    _irqfds.push_back(std::move(irqfd));
    auto interrupt = [fd] {
        uint64_t one = 1;
        (void)!::write(fd, &one, sizeof(one));
    };
    auto transport = std::make_unique<virtio::MmioTransport>(_memory, std::move(device), interrupt, _io.get());
    virtio::MmioTransport* t = transport.get();
    TRY_CTX(_mmio.add(base, virtio::MmioTransport::kWindowSize, t), ctx);
    for (uint16_t q = 0; q < t->queue_count(); ++q) {
        int notify = t->notify_fd(q);
        TRY_CTX(_vm.add_mmio_ioeventfd(notify, base + virtio::reg::kQueueNotify, q), ctx);
        TRY_CTX(_io->watch(notify, EPOLLIN,
                           [t, q, notify](uint32_t) {
                               uint64_t count;
                               (void)!::read(notify, &count, sizeof(count));
                               t->on_notify(q);
                           }),
                ctx);
    }
    _persist.add(std::make_unique<virtio::TransportPersist>(*t));
    _virtio.push_back(std::move(transport));
    return {};
}

Result<void> Machine::new_vm_generation(bool announce) {
    std::array<uint8_t, x86::kVmGenerationIdSize> id{};
    for (size_t got = 0; got < id.size();) {
        ssize_t n = ::getrandom(id.data() + got, id.size() - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail_errno("getrandom for the VM generation ID");
        got += static_cast<size_t>(n);
    }
    TRY_CTX(_memory.write(x86::kVmGenerationIdAddr, id), "write the VM generation ID");
    if (announce) _acpi_pm->raise_gpe(x86::acpi::kGpeVmGeneration);
    return {};
}

void Machine::on_guest_request(devices::GuestRequest request) {
    if (request == devices::GuestRequest::reset) request_exit(ExitCode::reset, "guest reset");
    else request_exit(ExitCode::power_off, "guest powered off");
}

Result<void> Machine::restore_clock() {
    TRY(_vm.restore_clock(guest_kvmclock(_vcpus.front(), _memory)));
    tell_guest_it_was_stopped();
    return {};
}

void Machine::tell_guest_it_was_stopped() {
    for (auto& vcpu : _vcpus) {
        auto told = vcpu.tell_guest_it_was_stopped();
        if (!told) spdlog::warn("vCPU {}: {}", vcpu.index(), told.error().message());
    }
}

Result<void> Machine::start(bool paused) {
    install_kick_handler();
    TRY(_console->start([this](std::span<const uint8_t> bytes) { _serial->receive(bytes); }));
    {
        std::lock_guard lock(_mutex);
        _pause_requested = paused;
        _paused = paused;
        for (auto& v : _vcpus) v.set_immediate_exit(paused);
    }
    // Before a pause the I/O thread finishes what the guest asked and makes
    // disks durable; after a start or resume it looks at every queue, as a
    // restored machine may have requests the guest made before its snapshot.
    virtio::IoThread::Hooks hooks;
    hooks.on_park = [this] {
        for (auto& t : _virtio) {
            t->process_all();
            if (auto r = t->quiesce(); !r) spdlog::error("{}", r.error().message());
        }
    };
    hooks.on_resume = [this] {
        for (auto& t : _virtio) t->process_all();
    };
    _io->start(std::move(hooks), paused);
    for (auto& vcpu : _vcpus) _threads.emplace_back([this, &vcpu] { vcpu_loop(vcpu); });
    if (paused) {
        std::unique_lock lock(_mutex);
        _cv.wait(lock, [this] { return _parked == _vcpus.size() || _stopping; });
    }
    return {};
}

void Machine::kick_vcpus() {
    for (auto& v : _vcpus) v.set_immediate_exit(true);
    for (auto& t : _threads) pthread_kill(t.native_handle(), kKickSignal);
}

Result<void> Machine::pause() {
    {
        std::unique_lock lock(_mutex);
        if (_stopping) return fail("the VM is shutting down");
        if (_paused) return {};
        _pause_requested = true;
        kick_vcpus();
        _cv.wait(lock, [this] { return _parked == _vcpus.size() || _stopping; });
        if (_stopping) return fail("the VM stopped while pausing");
    }
    // With the vCPUs parked no new request comes; the I/O thread drains.
    _io->pause();
    std::lock_guard lock(_mutex);
    _paused = true;
    return {};
}

Result<void> Machine::resume() {
    std::lock_guard lock(_mutex);
    if (_stopping) return fail("the VM is shutting down");
    if (_paused) {
        tell_guest_it_was_stopped();
        _io->resume();
    }
    _pause_requested = false;
    _paused = false;
    _cv.notify_all();
    return {};
}

void Machine::request_exit(ExitCode code, std::string reason) {
    {
        std::lock_guard lock(_mutex);
        if (_exit_requested) return;
        _exit_requested = true;
        _exit = {code, std::move(reason)};
        _stopping = true;
        _cv.notify_all();
    }
    uint64_t one = 1;
    (void)!::write(_exit_event.get(), &one, sizeof(one));
}

MachineExit Machine::finish() {
    {
        std::lock_guard lock(_mutex);
        _stopping = true;
        kick_vcpus();
        _cv.notify_all();
    }
    for (auto& t : _threads) t.join();
    _threads.clear();
    if (_io) _io->stop();
    // What the guest wrote reaches the disk even if it did not flush.
    for (auto& t : _virtio)
        if (auto r = t->quiesce(); !r) spdlog::error("{}", r.error().message());
    std::lock_guard lock(_mutex);
    if (_triple_faulted && *_triple_faulted < _vcpus.size()) {
        _exit.reason += " (" + _vcpus[*_triple_faulted].register_summary() + ")";
        _triple_faulted.reset();
    }
    return _exit;
}

void Machine::vcpu_loop(kvm::Vcpu& vcpu) {
    if (_vcpu_thread_setup) {
        if (auto ok = _vcpu_thread_setup(); !ok) {
            request_exit(ExitCode::vmm_error, fmt::format("vCPU {}: {}", vcpu.index(), ok.error().message()));
            return; // the machine is stopping: nobody waits for this thread to park
        }
    }
    // After an I/O or MMIO exit KVM finishes the instruction (an IN's value
    // into rax, rip past an OUT) only in the next KVM_RUN. A vCPU that parked
    // right then would be saved mid-instruction, and its restore would run
    // the access again: a byte sent twice, a received byte or a read-to-clear
    // register lost. So it first re-enters with immediate_exit set, which
    // completes the instruction and returns at once.
    bool mid_instruction = false;
    while (!_stopping) {
        {
            std::unique_lock lock(_mutex);
            if (_pause_requested && !_stopping && !mid_instruction) {
                ++_parked;
                _cv.notify_all();
                _cv.wait(lock, [this] { return !_pause_requested || _stopping; });
                --_parked;
            }
            if (_stopping) break;
            vcpu.set_immediate_exit(_pause_requested);
        }
        auto exit = vcpu.run();
        if (!exit) {
            request_exit(ExitCode::vmm_error, exit.error().message());
            break;
        }
        mid_instruction = exit->kind == kvm::VcpuExit::Kind::io || exit->kind == kvm::VcpuExit::Kind::mmio;
        if (!handle_exit(vcpu, *exit)) break;
    }
}

// Returns false when this vCPU must stop.
bool Machine::handle_exit(kvm::Vcpu& vcpu, const kvm::VcpuExit& exit) {
    using Kind = kvm::VcpuExit::Kind;
    bool handled = false;
    switch (exit.kind) {
    case Kind::io: {
        for (uint32_t i = 0; i < exit.count; ++i) {
            auto chunk = exit.data.subspan(static_cast<size_t>(i) * exit.size, exit.size);
            if (exit.is_write) _bus.write(exit.port, chunk);
            else _bus.read(exit.port, chunk);
        }
        return true;
    }
    case Kind::mmio:
        if (exit.is_write) handled = _mmio.write(exit.address, exit.data);
        else handled = _mmio.read(exit.address, exit.data);
        if (!handled)
            spdlog::debug("vcpu {}: unclaimed MMIO {} at {:#x}", vcpu.index(), exit.is_write ? "write" : "read",
                          exit.address);
        return true;
    case Kind::interrupted:
    case Kind::hlt:
        return true;
    case Kind::shutdown:
        {
            std::lock_guard lock(_mutex);
            if (!_exit_requested) _triple_faulted = vcpu.index();
        }
        request_exit(ExitCode::crash, fmt::format("vcpu {}: triple fault", vcpu.index()));
        return false;
    case Kind::system_reset:
        request_exit(ExitCode::reset, "guest reset");
        return false;
    case Kind::system_off:
        request_exit(ExitCode::power_off, "guest powered off");
        return false;
    case Kind::internal_error:
        request_exit(ExitCode::crash,
                     fmt::format("vcpu {}: KVM internal error (suberror {})", vcpu.index(), exit.detail));
        return false;
    case Kind::fail_entry:
        request_exit(ExitCode::crash,
                     fmt::format("vcpu {}: VM entry failed (reason {:#x})", vcpu.index(), exit.detail));
        return false;
    case Kind::other:
        request_exit(ExitCode::vmm_error,
                     fmt::format("vcpu {}: unexpected KVM exit {}", vcpu.index(), exit.raw_reason));
        return false;
    }
    return true;
}

} // namespace brood
