#include "manager/manager.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <limits>

#include "manager/atomic_file.hpp"
#include "manager/instance_lock.hpp"
#include "manager/manager_inline.hpp"
#include "manager/names.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

// brood-vmm's virtio-mmio slots.
constexpr size_t kMaxDisks = 6;

OpResult<std::string> check_file(const std::string& what, const std::string& path) {
    if (path.empty()) return bad_request(what + " is required");
    if (path.front() != '/') return bad_request(what + " must be an absolute path: " + path);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return bad_request(what + " not found: " + path);
    if (!S_ISREG(st.st_mode)) return bad_request(what + " is not a regular file: " + path);
    if (::access(path.c_str(), R_OK) != 0) return bad_request(what + " is not readable: " + path);
    std::error_code ec;
    auto canonical = fs::canonical(path, ec);
    return ec ? path : canonical.string();
}

} // namespace

namespace {

AdmissionLimits resolved_limits(AdmissionLimits limits) {
    if (limits.memory_budget_mib == 0)
        limits.memory_budget_mib = default_memory_budget_mib().value_or(std::numeric_limits<uint64_t>::max() >> 20);
    return limits;
}

} // namespace

Manager::Manager(ManagerConfig config)
    : _config(std::move(config)), _layout(_config.data_dir), _admission(resolved_limits(_config.admission)) {}

OpResult<Admission::Ticket> Manager::admit(uint64_t count, uint32_t memory_mib, bool shares_template_memory) {
    double overcommit = _admission.limits().fork_overcommit;
    Usage requested{count, static_cast<double>(count) * memory_cost_mib(memory_mib, shares_template_memory, overcommit)};
    return _admission.admit(
        [&] {
            Usage used;
            for (const auto& instance : _registry.all()) {
                std::lock_guard lock(instance->mutex);
                const InstanceRecord& r = instance->record;
                ++used.instances;
                used.memory_mib += memory_cost_mib(r.memory_mib, !r.template_id.empty(), overcommit);
            }
            return used;
        },
        requested);
}

Manager::~Manager() {
    if (_supervisor) _supervisor->stop();
}

Result<std::unique_ptr<Manager>> Manager::open(ManagerConfig config) {
    std::error_code ec;
    fs::create_directories(config.data_dir, ec);
    if (ec) return fail("create data directory " + config.data_dir + ": " + ec.message());
    config.data_dir = fs::canonical(config.data_dir).string();
    auto subnet = Subnet::parse(config.subnet);
    if (!subnet) return fail(subnet.error());
    std::unique_ptr<Manager> manager(new Manager(std::move(config)));
    manager->_network = std::make_unique<NetworkPool>(*subnet);
    // The longest socket path must fit in sockaddr_un.sun_path (108 bytes).
    if (manager->_layout.serial_socket(std::string(16, 'x')).size() >= 108)
        return fail("data directory path too long for unix sockets: " + manager->_layout.root());
    for (const auto& dir : {manager->_layout.guests_dir(), manager->_layout.templates_dir()}) {
        fs::create_directories(dir, ec);
        if (ec) return fail("create " + dir + ": " + ec.message());
    }
    Manager* raw = manager.get();
    manager->_supervisor = std::make_unique<Supervisor>(
        [raw](const std::string& id, const std::shared_ptr<VmmProcess>& vmm) { raw->on_vmm_exit(id, vmm); });
    TRY_CTX(manager->reconcile(), "reconcile " + manager->_layout.root());
    return manager;
}

OpResult<std::shared_ptr<Instance>> Manager::lookup(const std::string& ref) const {
    auto instance = _registry.find(ref);
    if (!instance) return not_found("no instance \"" + ref + "\"");
    settle(instance);
    return instance;
}

OpResult<InstanceView> Manager::create(const CreateSpec& spec) {
    return timed("create", spec.name, [&] { return do_create(spec); });
}

OpResult<InstanceView> Manager::do_create(const CreateSpec& spec) {
    if (!valid_name(spec.name)) return bad_request("invalid name \"" + spec.name + "\": " + name_rule());
    if (looks_like_id(spec.name)) return bad_request("name \"" + spec.name + "\" looks like an instance id");
    if (spec.memory_mib < 16 || spec.memory_mib > _config.max_memory_mib)
        return bad_request("memory_mib must be between 16 and " + std::to_string(_config.max_memory_mib));
    if (spec.vcpus < 1 || spec.vcpus > _config.max_vcpus)
        return bad_request("vcpus must be between 1 and " + std::to_string(_config.max_vcpus));
    InstanceRecord record;
    record.kernel = TRY(check_file("kernel", spec.kernel));
    if (!spec.initrd.empty()) record.initrd = TRY(check_file("initrd", spec.initrd));
    if (spec.disks.size() > kMaxDisks)
        return bad_request("at most " + std::to_string(kMaxDisks) + " disks, got " + std::to_string(spec.disks.size()));
    for (size_t i = 0; i < spec.disks.size(); ++i) record.disks.push_back(TRY(check_disk(spec.disks[i], i)));
    record.name = spec.name;
    record.cmdline = spec.cmdline;
    record.memory_mib = static_cast<uint32_t>(spec.memory_mib);
    record.vcpus = static_cast<uint32_t>(spec.vcpus);
    record.agent = spec.agent;
    record.id = new_id();
    record.created_at = record.updated_at = now_rfc3339();
    record.state = State::created;

    // Held until the instance is registered (or given up).
    auto admitted = TRY(admit(1, record.memory_mib, false));
    TRY(_registry.reserve_name(spec.name));
    record.vsock_cid = _registry.reserve_cid();
    if (record.vsock_cid == 0) {
        _registry.release_name(spec.name);
        return internal("no vsock CID is left");
    }
    // Assemble the directory aside and rename it in: a crash leaves either
    // nothing or a complete instance (reconcile removes .creating-*).
    std::string staging = _layout.creating_dir(record.id);
    auto undo = [&] {
        std::error_code ignored;
        fs::remove_all(staging, ignored);
        _registry.release_name(spec.name);
        _registry.release_cid(record.vsock_cid);
        detach_network(record);
    };
    if (spec.network_bridge) {
        if (auto attached = attach_network(record, *spec.network_bridge); !attached) {
            _registry.release_name(spec.name);
            _registry.release_cid(record.vsock_cid);
            return tl::unexpected(attached.error());
        }
    }
    std::error_code ec;
    fs::create_directories(staging + "/logs", ec);
    if (ec) {
        undo();
        return internal("create " + staging + ": " + ec.message());
    }
    auto saved = save_record(staging + "/metadata.json", record);
    if (!saved) {
        undo();
        return fail(saved.error());
    }
    auto renamed = rename_durable(staging, _layout.instance_dir(record.id));
    if (!renamed) {
        undo();
        return fail(renamed.error());
    }
    auto instance = std::make_shared<Instance>(record);
    _registry.insert(instance);
    return view_of(*instance, _layout);
}

std::vector<InstanceView> Manager::list() const {
    std::vector<InstanceView> out;
    for (const auto& instance : _registry.all()) {
        settle(instance);
        out.push_back(view_of(*instance, _layout));
    }
    std::sort(out.begin(), out.end(),
              [](const InstanceView& a, const InstanceView& b) { return a.record.created_at < b.record.created_at; });
    return out;
}

OpResult<InstanceView> Manager::get(const std::string& ref) const {
    auto instance = TRY(lookup(ref));
    return view_of(*instance, _layout);
}

OpResult<void> Manager::remove(const std::string& ref) {
    return timed("delete", ref, [&]() -> OpResult<void> {
        auto instance = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(instance, _config.lock_timeout_ms));
        return do_remove(instance);
    });
}

OpResult<void> Manager::do_remove(const std::shared_ptr<Instance>& instance) {
    // A template's source holds the memory file its forks map. Without
    // forks, deleting the source deletes its template too.
    auto t = _templates.find_by_source(instance->id);
    if (t && t->fork_count > 0)
        return in_use("instance " + view_of(*instance, _layout).record.name +
                      " is in use as the source of template " + t->name + ", which has " +
                      std::to_string(t->fork_count) + (t->fork_count == 1 ? " live fork" : " live forks") +
                      "; delete them first");
    // Mark the intent first: a daemon killed from here on finishes the delete.
    TRY(update_record(*instance, [](InstanceRecord& r) { r.pending_op = PendingOp::remove; }));
    terminate_vmm(*instance, 0);
    std::string doomed = _layout.deleting_dir(instance->id);
    TRY(rename_durable(_layout.instance_dir(instance->id), doomed));
    {
        std::lock_guard lock(instance->mutex);
        instance->removed = true;
    }
    _registry.erase(instance->id);
    std::string template_id;
    {
        std::lock_guard lock(instance->mutex);
        template_id = instance->record.template_id;
    }
    if (!template_id.empty()) (void)_templates.add_forks(template_id, -1);
    {
        std::lock_guard lock(instance->mutex);
        detach_network(instance->record);
    }
    // A crash before this line leaves a template without its source, which
    // the next start removes (reconcile).
    if (t) TRY(_templates.remove_of_source(instance->id));
    std::error_code ec;
    fs::remove_all(doomed, ec);
    if (ec) return internal("remove " + doomed + ": " + ec.message());
    return {};
}

OpResult<ConsoleOutput> Manager::console(const std::string& ref, const std::string& input, const std::string& until,
                                         int timeout_ms) {
    return timed("console", ref, [&]() -> OpResult<ConsoleOutput> {
        auto instance = TRY(lookup(ref));
        if (!instance->console_mutex.try_lock_for(std::chrono::milliseconds(timeout_ms)))
            return busy("another console exchange is in progress");
        TimedLockHolder console_lock(&instance->console_mutex);
        InstanceView view = view_of(*instance, _layout);
        if (view.state != State::running)
            return wrong_state("instance " + view.record.name + " is " + std::string(to_string(view.state)) +
                               "; the console needs it Running");
        return console_exchange(_layout.serial_socket(instance->id), input, until, timeout_ms);
    });
}

OpResult<std::string> Manager::serial_log(const std::string& ref) const {
    auto instance = TRY(lookup(ref));
    return _layout.serial_log(instance->id);
}

bool Manager::vmm_alive(const std::string& ref) const {
    auto instance = _registry.find(ref);
    if (!instance) return false;
    std::lock_guard lock(instance->mutex);
    return !instance->removed && instance->vmm && !instance->vmm->poll_exit();
}

std::string Manager::metrics_text() const {
    std::map<std::string, int> by_state;
    for (State s : {State::created, State::running, State::paused, State::standby, State::stopped, State::failed})
        by_state[std::string(to_string(s))] = 0;
    for (const auto& view : list()) ++by_state[std::string(to_string(view.state))];
    return _metrics.render(by_state);
}

void Manager::remove_sockets(const std::string& id) const {
    ::unlink(_layout.control_socket(id).c_str());
    ::unlink(_layout.serial_socket(id).c_str());
    ::unlink(_layout.vsock_socket(id).c_str());
}

} // namespace brood::manager
