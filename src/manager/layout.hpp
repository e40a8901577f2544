// Where things live in the data directory (see docs/manager.md).
#pragma once

#include <string>

namespace brood::manager {

class Layout final {
public:
    explicit Layout(std::string data_dir) : _root(std::move(data_dir)) {}

    const std::string& root() const { return _root; }
    std::string guests_dir() const { return _root + "/guests"; }
    std::string templates_dir() const { return _root + "/templates"; }

    std::string instance_dir(const std::string& id) const { return guests_dir() + "/" + id; }
    // A new instance is assembled here and renamed into place when complete.
    std::string creating_dir(const std::string& id) const { return guests_dir() + "/.creating-" + id; }
    // A deleted instance is renamed here first, then removed.
    std::string deleting_dir(const std::string& id) const { return guests_dir() + "/.deleting-" + id; }

    std::string metadata(const std::string& id) const { return instance_dir(id) + "/metadata.json"; }
    std::string logs_dir(const std::string& id) const { return instance_dir(id) + "/logs"; }
    std::string serial_log(const std::string& id) const { return logs_dir(id) + "/serial.log"; }
    std::string vmm_log(const std::string& id) const { return logs_dir(id) + "/vmm.log"; }
    std::string control_socket(const std::string& id) const { return instance_dir(id) + "/control.sock"; }
    std::string serial_socket(const std::string& id) const { return instance_dir(id) + "/serial.sock"; }
    // The VMM's vsock socket: host programs connect and write "CONNECT <port>\n".
    std::string vsock_socket(const std::string& id) const { return instance_dir(id) + "/vsock.sock"; }
    std::string snapshots_dir(const std::string& id) const { return instance_dir(id) + "/snapshots"; }
    std::string snapshot_dir(const std::string& id) const { return snapshots_dir(id) + "/snapshot-latest"; }
    std::string snapshot_state(const std::string& id) const { return snapshot_dir(id) + "/state"; }
    std::string snapshot_memory(const std::string& id) const { return snapshot_dir(id) + "/memory"; }

    std::string template_dir(const std::string& id) const { return templates_dir() + "/" + id; }
    std::string template_record(const std::string& id) const { return template_dir(id) + "/template.json"; }

private:
    std::string _root;
};

} // namespace brood::manager
