#include "manager/instance_network.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "manager/host_network.hpp"

namespace brood::manager {

OpResult<void> InstanceNetwork::attach(InstanceRecord& record, const std::string& bridge) {
    if (!bridge.empty() && bridge != _bridge)
        return bad_request(fmt::format("network.bridge {:?}: this daemon manages bridge {:?} only", bridge,
                                       _bridge));
    const Subnet& subnet = _pool.subnet();
    auto identity = _pool.reserve(record.id);
    if (!identity) return op_fail(ErrorKind::conflict, "network_full", identity.error().message());
    std::string tap = tap_name_for(record.id);
    auto made = ensure_bridge(_bridge, subnet.gateway(), subnet.prefix_len)
                    .and_then([&] { return create_tap(tap, _bridge); });
    if (!made) {
        _pool.release(*identity);
        return fail(std::move(made.error()).context("give instance " + record.name + " a network interface"));
    }
    record.bridge = _bridge;
    record.tap = tap;
    record.mac = format_mac(identity->mac);
    record.ip = format_ipv4(identity->ip);
    return {};
}

void InstanceNetwork::detach(const InstanceRecord& record) {
    if (record.tap.empty()) return;
    if (auto removed = delete_tap(record.tap); !removed)
        spdlog::warn("instance {}: remove TAP {}: {}", record.name, record.tap, removed.error().message());
    auto mac = parse_mac(record.mac);
    auto ip = parse_ipv4(record.ip);
    if (mac && ip) _pool.release({*mac, *ip});
}

OpResult<void> InstanceNetwork::ensure(const InstanceRecord& record) {
    if (record.tap.empty()) return {};
    const Subnet& subnet = _pool.subnet();
    auto made = ensure_bridge(record.bridge, subnet.gateway(), subnet.prefix_len)
                    .and_then([&] { return ensure_tap(record.tap, record.bridge); });
    if (!made) return fail(std::move(made.error()).context("network interface of " + record.name));
    return {};
}

void InstanceNetwork::adopt(InstanceRecord& r) {
    if (r.tap.empty()) return;
    auto mac = parse_mac(r.mac);
    auto ip = parse_ipv4(r.ip);
    if (mac && ip && _pool.adopt({*mac, *ip})) return;
    // Another subnet, or a clash with an instance loaded before: new ones,
    // used from the next start or restore.
    auto identity = _pool.reserve(r.id);
    if (!identity) {
        spdlog::warn("instance {}: {}; it keeps {} {}", r.name, identity.error().message(), r.mac, r.ip);
        return;
    }
    r.mac = format_mac(identity->mac);
    r.ip = format_ipv4(identity->ip);
}

} // namespace brood::manager
