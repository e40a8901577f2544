#include "manager/instance_record.hpp"

#include <sys/time.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "manager/atomic_file.hpp"

namespace brood::manager {

namespace {

nlohmann::json exit_to_json(const ExitInfo& e) {
    nlohmann::json j{{"reason", e.reason}, {"at", e.at}};
    j["exit_code"] = e.exit_code ? nlohmann::json(*e.exit_code) : nlohmann::json(nullptr);
    j["signal"] = e.signal ? nlohmann::json(*e.signal) : nlohmann::json(nullptr);
    return j;
}

ExitInfo exit_from_json(const nlohmann::json& j) {
    ExitInfo e;
    e.reason = j.value("reason", "");
    e.at = j.value("at", "");
    if (j.contains("exit_code") && !j["exit_code"].is_null()) e.exit_code = j["exit_code"].get<int>();
    if (j.contains("signal") && !j["signal"].is_null()) e.signal = j["signal"].get<int>();
    return e;
}

} // namespace

std::string now_rfc3339() {
    timeval tv{};
    ::gettimeofday(&tv, nullptr);
    std::tm tm{};
    ::gmtime_r(&tv.tv_sec, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[80];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(tv.tv_usec / 1000));
    return out;
}

nlohmann::json to_json(const InstanceRecord& r) {
    nlohmann::json j{
        {"format_version", 1},
        {"id", r.id},
        {"name", r.name},
        {"kernel", r.kernel},
        {"initrd", r.initrd},
        {"cmdline", r.cmdline},
        {"memory_mib", r.memory_mib},
        {"vcpus", r.vcpus},
        {"vsock_cid", r.vsock_cid},
        {"created_at", r.created_at},
        {"updated_at", r.updated_at},
        {"state", std::string(to_string(r.state))},
        {"pending_op", std::string(to_string(r.pending_op))},
        {"vmm_pid", r.vmm_pid},
        {"restore_backend", r.restore_backend ? std::string(to_string(*r.restore_backend)) : ""},
        {"template_id", r.template_id},
        {"source_instance_id", r.source_instance_id},
        {"agent", r.agent},
        {"bridge", r.bridge},
        {"tap", r.tap},
        {"mac", r.mac},
        {"ip", r.ip},
    };
    j["last_exit"] = r.last_exit ? exit_to_json(*r.last_exit) : nlohmann::json(nullptr);
    j["disks"] = nlohmann::json::array();
    for (const auto& d : r.disks) j["disks"].push_back(to_json(d));
    return j;
}

InstanceRecord record_from_json(const nlohmann::json& j) {
    InstanceRecord r;
    r.id = j.at("id").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.kernel = j.value("kernel", "");
    r.initrd = j.value("initrd", "");
    r.cmdline = j.value("cmdline", "");
    r.memory_mib = j.at("memory_mib").get<uint32_t>();
    r.vcpus = j.at("vcpus").get<uint32_t>();
    r.vsock_cid = j.value("vsock_cid", uint32_t{0});
    r.created_at = j.value("created_at", "");
    r.updated_at = j.value("updated_at", "");
    auto state = state_from_string(j.at("state").get<std::string>());
    if (!state) throw nlohmann::json::other_error::create(501, "unknown state in record", &j);
    r.state = *state;
    r.pending_op = pending_op_from_string(j.value("pending_op", ""));
    r.vmm_pid = j.value("vmm_pid", 0);
    r.restore_backend = backend_from_string(j.value("restore_backend", ""));
    r.template_id = j.value("template_id", "");
    r.agent = j.value("agent", false);
    r.bridge = j.value("bridge", "");
    r.tap = j.value("tap", "");
    r.mac = j.value("mac", "");
    r.ip = j.value("ip", "");
    r.source_instance_id = j.value("source_instance_id", "");
    if (j.contains("last_exit") && j["last_exit"].is_object()) r.last_exit = exit_from_json(j["last_exit"]);
    if (j.contains("disks"))
        for (const auto& d : j.at("disks")) r.disks.push_back(disk_from_json(d));
    return r;
}

Result<InstanceRecord> load_record(const std::string& path) {
    std::string text = TRY(read_file(path));
    try {
        return record_from_json(nlohmann::json::parse(text));
    } catch (const nlohmann::json::exception& e) {
        return fail("malformed record " + path + ": " + e.what(), EBADMSG);
    }
}

Result<void> save_record(const std::string& path, const InstanceRecord& record) {
    return write_file_atomic(path, to_json(record).dump(2) + "\n");
}

} // namespace brood::manager
