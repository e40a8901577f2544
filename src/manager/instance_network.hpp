// Instance networking in the manager (docs/networking.md): identities (MAC
// and address) from the pool, TAPs on the one bridge the daemon manages
// (host_network.hpp), kept in the instance record.
#pragma once

#include <string>

#include "manager/instance_record.hpp"
#include "manager/network_pool.hpp"
#include "manager/op_error.hpp"

namespace brood::manager {

class InstanceNetwork final {
public:
    InstanceNetwork(std::string bridge, Subnet subnet) : _bridge(std::move(bridge)), _pool(subnet) {}

    // Gives a record a MAC, an address and a TAP on `bridge` (empty: the
    // daemon's), or leaves it as it was; 400 for another bridge, 409
    // network_full when no address is left.
    OpResult<void> attach(InstanceRecord& record, const std::string& bridge);
    // Undoes attach(); a record without a TAP is left alone.
    void detach(const InstanceRecord& record);
    // Makes the bridge and TAP again before a start or restore if the host lost them.
    OpResult<void> ensure(const InstanceRecord& record);
    // Holds a loaded record's MAC and address; a clash gets it new ones.
    void adopt(InstanceRecord& record);
    const Subnet& subnet() const { return _pool.subnet(); }

private:
    std::string _bridge;
    NetworkPool _pool;
};

} // namespace brood::manager
