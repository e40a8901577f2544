#include "manager/manager.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include <spdlog/spdlog.h>

#include "common/read_file.hpp"
#include "manager/instance_lock.hpp"
#include "manager/op_log.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

Manager::Manager(ManagerConfig config, ImageDirs images, const Subnet& subnet, std::optional<VmmCgroups> cgroups)
    : _state(std::move(config), std::move(images)),
      _vmms(_state, std::move(cgroups)),
      _network(_state.config.bridge, subnet),
      _templates(_state),
      _agent(_state, _network),
      _lifecycle(_state, _vmms, _network, _templates),
      _forks(_state, _vmms, _network, _lifecycle, _agent) {}

Result<std::unique_ptr<Manager>> Manager::open(ManagerConfig config) {
    std::error_code ec;
    fs::create_directories(config.data_dir, ec);
    if (ec) return fail("create data directory " + config.data_dir + ": " + ec.message());
    config.data_dir = fs::canonical(config.data_dir).string();
    auto subnet = Subnet::parse(config.subnet);
    if (!subnet) return fail(subnet.error());
    if (config.images_dirs.empty()) {
        config.images_dirs = {config.data_dir + "/images"};
        fs::create_directories(config.images_dirs.front(), ec);
        if (ec) return fail("create " + config.images_dirs.front() + ": " + ec.message());
    }
    auto images = TRY(ImageDirs::open(config.images_dirs));
    std::optional<VmmCgroups> cgroups;
    if (config.vmm_cgroups) {
        auto found = VmmCgroups::setup(config.cgroup_root, read_file("/proc/self/cgroup").value_or(""),
                                       daemon_group(config.data_dir));
        if (found)
            cgroups = std::move(*found);
        else if (config.vmm_cgroups_required)
            return fail(found.error().context("--vmm-cgroups on"));
        else
            spdlog::warn("VMMs run without cgroup limits: {}", found.error().message());
    }
    std::unique_ptr<Manager> manager(new Manager(std::move(config), std::move(images), *subnet, std::move(cgroups)));
    const Layout& layout = manager->_state.layout;
    // The longest socket path must fit in sockaddr_un.sun_path (108 bytes).
    if (layout.serial_socket(std::string(16, 'x')).size() >= 108)
        return fail("data directory path too long for unix sockets: " + layout.root());
    for (const auto& dir : {layout.guests_dir(), layout.templates_dir()}) {
        fs::create_directories(dir, ec);
        if (ec) return fail("create " + dir + ": " + ec.message());
    }
    manager->_report = TRY_CTX(Reconciler(manager->_state, manager->_vmms, manager->_network).run(),
                               "reconcile " + layout.root());
    return manager;
}

template <typename F>
auto Manager::timed(const std::string& op, const std::string& ref, F fn) -> decltype(fn()) {
    auto started = std::chrono::steady_clock::now();
    auto result = fn();
    auto took = std::chrono::steady_clock::now() - started;
    _state.metrics.observe_operation(op, result.has_value(), took);
    log_operation(op, ref, took, result.has_value() ? nullptr : &result.error());
    return result;
}

template <typename F>
OpResult<InstanceView> Manager::on_instance(const std::string& op, const std::string& ref, F fn) {
    return timed(op, ref, [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _state.config.lock_timeout_ms));
        TRY(fn(lock.instance()));
        return view_of(lock.instance(), _state.layout);
    });
}

OpResult<std::shared_ptr<Instance>> Manager::lookup(const std::string& ref) const {
    auto instance = _state.registry.find(ref);
    if (!instance) return not_found("no instance \"" + ref + "\"");
    _vmms.settle(instance);
    return instance;
}

OpResult<InstanceView> Manager::create(const CreateSpec& spec) {
    return timed("create", spec.name, [&] { return _lifecycle.create(spec); });
}

std::vector<InstanceView> Manager::list() const {
    std::vector<InstanceView> out;
    for (const auto& instance : _state.registry.all()) {
        _vmms.settle(instance);
        out.push_back(view_of(*instance, _state.layout));
    }
    std::sort(out.begin(), out.end(),
              [](const InstanceView& a, const InstanceView& b) { return a.record.created_at < b.record.created_at; });
    return out;
}

OpResult<InstanceView> Manager::get(const std::string& ref) const {
    auto instance = TRY(lookup(ref));
    return view_of(*instance, _state.layout);
}

OpResult<InstanceView> Manager::start(const std::string& ref) {
    return on_instance("start", ref, [&](Instance& i) { return _lifecycle.start(i); });
}

OpResult<InstanceView> Manager::stop(const std::string& ref, std::optional<int> timeout_ms) {
    int timeout = timeout_ms.value_or(_state.config.default_stop_timeout_ms);
    return on_instance("stop", ref, [&](Instance& i) { return _lifecycle.stop(i, timeout); });
}

OpResult<InstanceView> Manager::standby(const std::string& ref) {
    return on_instance("standby", ref, [&](Instance& i) { return _lifecycle.standby(i); });
}

OpResult<InstanceView> Manager::restore(const std::string& ref) {
    return on_instance("restore", ref, [&](Instance& i) { return _lifecycle.restore(i); });
}

OpResult<InstanceView> Manager::pause(const std::string& ref) {
    return on_instance("pause", ref, [&](Instance& i) { return _lifecycle.pause(i); });
}

OpResult<InstanceView> Manager::resume(const std::string& ref) {
    return on_instance("resume", ref, [&](Instance& i) { return _lifecycle.resume(i); });
}

OpResult<void> Manager::remove(const std::string& ref) {
    return timed("delete", ref, [&]() -> OpResult<void> {
        auto instance = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(instance, _state.config.lock_timeout_ms));
        return _lifecycle.remove(instance);
    });
}

OpResult<ForkOutcome> Manager::fork_instance(const std::string& source_ref, const ForkRequest& request) {
    return timed("fork", source_ref, [&]() -> OpResult<ForkOutcome> {
        auto source = TRY(lookup(source_ref));
        auto lock = TRY(OpLock::acquire(source, _state.config.lock_timeout_ms));
        return _forks.fork(*source, request, std::nullopt, {});
    });
}

OpResult<ForkOutcome> Manager::fork_template(const std::string& template_ref, const ForkRequest& request,
                                             const ForkProgress& progress) {
    return timed("fork", template_ref, [&]() -> OpResult<ForkOutcome> {
        // Resolve the template to its source before any lock: the lock held
        // is the source's, as for every other operation that reads its snapshot.
        auto t = TRY(_templates.get(template_ref));
        auto source = _state.registry.find(t.source_instance_id);
        if (!source) return not_found("template " + t.name + " has lost its source instance " + t.source_instance_id);
        auto lock = TRY(OpLock::acquire(source, _state.config.lock_timeout_ms));
        auto current = _state.templates.find(t.id); // deleted while we waited?
        if (!current) return not_found("template " + t.name + " was deleted");
        return _forks.fork(*source, request, current, progress);
    });
}

OpResult<TemplateRecord> Manager::create_template(const TemplateSpec& spec) {
    return timed("create_template", spec.source, [&]() -> OpResult<TemplateRecord> {
        TRY(TemplateOps::check_name(spec.name));
        auto source = TRY(lookup(spec.source));
        auto lock = TRY(OpLock::acquire(source, _state.config.lock_timeout_ms));
        return _templates.promote(*source, spec);
    });
}

OpResult<void> Manager::delete_template(const std::string& ref) {
    return timed("delete_template", ref, [&]() -> OpResult<void> {
        auto t = TRY(_templates.get(ref));
        // Under the source's lock, like every fork of this template: no fork
        // can be under way while the count is checked.
        if (auto source = _state.registry.find(t.source_instance_id)) {
            auto lock = TRY(OpLock::acquire(source, _state.config.lock_timeout_ms));
            return _state.templates.remove(t.id);
        }
        return _state.templates.remove(t.id);
    });
}

OpResult<ConsoleOutput> Manager::console(const std::string& ref, const std::string& input, const std::string& until,
                                         int timeout_ms) {
    return timed("console", ref, [&]() -> OpResult<ConsoleOutput> {
        auto instance = TRY(lookup(ref));
        if (!instance->console_mutex.try_lock_for(std::chrono::milliseconds(timeout_ms)))
            return busy("another console exchange is in progress");
        TimedLockHolder console_lock(&instance->console_mutex);
        InstanceView view = view_of(*instance, _state.layout);
        if (view.state != State::running)
            return wrong_state("instance " + view.record.name + " is " + std::string(to_string(view.state)) +
                               "; the console needs it Running");
        return console_exchange(_state.layout.serial_socket(instance->id), input, until, timeout_ms);
    });
}

OpResult<ExecOutcome> Manager::exec(const std::string& ref, const ExecSpec& spec) {
    return timed("exec", ref, [&]() -> OpResult<ExecOutcome> {
        auto instance = TRY(lookup(ref));
        return _agent.exec(*instance, spec);
    });
}

OpResult<size_t> Manager::write_guest_file(const std::string& ref, const std::string& path, unsigned mode,
                                           const std::string& data) {
    return timed("write_file", ref, [&]() -> OpResult<size_t> {
        auto instance = TRY(lookup(ref));
        return _agent.write_file(*instance, path, mode, data);
    });
}

OpResult<std::string> Manager::read_guest_file(const std::string& ref, const std::string& path) {
    return timed("read_file", ref, [&]() -> OpResult<std::string> {
        auto instance = TRY(lookup(ref));
        return _agent.read_file(*instance, path);
    });
}

OpResult<std::string> Manager::serial_log(const std::string& ref) const {
    auto instance = TRY(lookup(ref));
    return _state.layout.serial_log(instance->id);
}

bool Manager::vmm_alive(const std::string& ref) const {
    auto instance = _state.registry.find(ref);
    if (!instance) return false;
    std::lock_guard lock(instance->mutex);
    return !instance->removed && instance->vmm && !instance->vmm->poll_exit();
}

std::string Manager::metrics_text() const {
    std::map<std::string, int> by_state;
    for (State s : {State::created, State::running, State::paused, State::standby, State::stopped, State::failed})
        by_state[std::string(to_string(s))] = 0;
    for (const auto& view : list()) ++by_state[std::string(to_string(view.state))];
    return _state.metrics.render(by_state);
}

} // namespace brood::manager
