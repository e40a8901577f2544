// The virtio-vsock device (type 19): rx, tx and event queues, the guest's
// CID in config space, and the connection engine (vsock_muxer.hpp) that
// joins guest streams to host Unix sockets. Host sockets and timeouts are
// served on the machine's I/O thread through the transport's fd watches.
//
// Connections do not survive a pause: the host sockets are closed, and when
// the guest runs again (resumed, or restored from a snapshot, maybe as a
// fork with another CID) the device puts a TRANSPORT_RESET event on the
// event queue so the guest drops its stale connections and reads its CID
// again. Listening guest sockets are not affected. Until the guest has
// handled that event (its driver posts the event buffer again), nothing
// goes to the guest's rx queue: a host connection made right after a
// restore must not be dropped by the reset meant for the old ones.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/snapshot/bytes.hpp"
#include "vmm/virtio/device.hpp"
#include "vmm/virtio/vsock_muxer.hpp"

namespace brood::virtio {

struct VsockConfig {
    // 0 on restore: keep the CID the snapshot saved.
    uint64_t guest_cid = 0;
    std::string socket_path;
};

// What a snapshot keeps of the device: plain data. Connections are not kept.
struct VsockState {
    uint64_t guest_cid = 0;
};

struct VsockStateCodec {
    using State = VsockState;
    static constexpr uint32_t kVersion = 1;
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class VsockDevice final : public Device {
public:
    static constexpr uint16_t kRxQueue = 0, kTxQueue = 1, kEventQueue = 2;
    static constexpr uint16_t kQueueSize = 256;

    // Listens on the host socket at once, so host programs can connect
    // before the guest's driver is up.
    static Result<std::unique_ptr<VsockDevice>> create(VsockConfig config);
    ~VsockDevice() override;

    uint64_t guest_cid() const { return _cid.load(); }

    DeviceType type() const override { return DeviceType::vsock; }
    const char* name() const override { return "vsock"; }
    uint64_t features() const override { return 0; } // streams only; VERSION_1 comes from the transport
    uint16_t queue_count() const override { return 3; }
    uint16_t queue_max_size(uint16_t) const override { return kQueueSize; }
    void read_config(uint64_t offset, std::span<uint8_t> data) const override;

    Result<void> activate(DeviceContext& context, uint64_t acked_features) override;
    Result<void> process_queue(uint16_t index) override;
    void reset() override;
    Result<void> quiesce() override;

    snapshot::SectionKind section_kind() const override {
        return {section_id::kVsock, VsockStateCodec::kVersion, "vsock"};
    }
    std::vector<uint8_t> save_state() const override;
    Result<void> restore_state(std::span<const uint8_t> bytes, uint32_t version) override;

private:
    VsockDevice(VsockConfig config, std::unique_ptr<vsock::Muxer> muxer, UniqueFd timer);

    Result<void> process_tx();
    Result<void> fill_rx();
    Result<void> send_reset_event();
    // Ends the wait for the guest to handle a sent reset: once it posted
    // the event buffer again, or after kResetAckTimeout.
    Result<void> check_reset_handled();
    // Host-side work reaches the queues through kick(): errors the guest
    // causes then surface from process_queue().
    void after_host_work();
    void on_host_ready();
    void on_timer();
    void arm_timer();

    VsockConfig _config;
    std::atomic<uint64_t> _cid;
    std::unique_ptr<vsock::Muxer> _muxer;
    UniqueFd _timer;
    DeviceContext* _context = nullptr;
    bool _cid_from_command_line = false;
    // The guest must drop its connections: after a pause closed the host
    // side, and after a restore.
    bool _reset_event_pending = false;
    // Set while a sent reset waits for the guest: rx is held until then.
    static constexpr auto kResetAckTimeout = std::chrono::seconds(2);
    std::optional<vsock::Clock::time_point> _reset_ack_deadline;
    uint16_t _reset_ack_avail_idx = 0;
};

} // namespace brood::virtio
