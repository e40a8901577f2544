#include "manager/reconcile.hpp"

#include <signal.h>

#include <filesystem>
#include <thread>

#include "manager/atomic_file.hpp"
#include "manager/host_network.hpp"
#include "manager/op_log.hpp"
#include "manager/process_scan.hpp"
#include "manager/snapshot_files.hpp"
#include "manager/vmm_control.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Asks a VMM for its state, allowing a few seconds for one that was still
// starting when the daemon died. Empty when it does not answer.
std::optional<std::string> probe_vmm(const std::string& control_socket, VmmProcess& vmm) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline && !vmm.poll_exit()) {
        auto vm = VmmControl(control_socket).get_vm(2'000);
        if (vm) return vm->value("state", "running");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
}

void kill_and_wait(const std::shared_ptr<VmmProcess>& vmm) {
    vmm->kill(SIGKILL);
    vmm->wait_exit(10'000);
}

} // namespace

Result<ReconcileReport> Reconciler::run() {
    std::vector<std::string> ids;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(_state.layout.guests_dir(), ec)) {
        std::string name = entry.path().filename().string();
        if (starts_with(name, ".creating-") || starts_with(name, ".deleting-") ||
            !fs::exists(entry.path() / "metadata.json")) {
            // A half-made or half-deleted instance may have made its TAP.
            if (auto leftover = load_record((entry.path() / "metadata.json").string()); leftover && !leftover->tap.empty())
                (void)delete_tap(leftover->tap);
            fs::remove_all(entry.path(), ec);
            ++_report.removed_dirs;
            log_reconcile(name, "", "remove_leftover_dir", "none");
            continue;
        }
        if (entry.is_directory()) ids.push_back(name);
    }
    if (ec) return fail("list " + _state.layout.guests_dir() + ": " + ec.message());

    auto processes = find_vmm_processes(_state.layout.guests_dir());
    for (const std::string& id : ids) {
        auto record = load_record(_state.layout.metadata(id));
        if (!record || record->id != id) continue; // never delete what we cannot read
        ++_report.loaded;
        auto instance = std::make_shared<Instance>(*record);
        pid_t pid = 0;
        if (auto it = processes.find(id); it != processes.end()) {
            pid = it->second;
            processes.erase(it);
        }
        reconcile_instance(instance, pid);
    }
    // Templates, with fork counts recounted from the instances that exist.
    TRY(_state.templates.load());
    // A source delete that died before it removed its template.
    _state.templates.drop_without_source([this](const std::string& id) { return _state.registry.find(id) != nullptr; });
    std::map<std::string, uint64_t> forks;
    for (const auto& instance : _state.registry.all())
        if (!instance->record.template_id.empty()) ++forks[instance->record.template_id];
    _state.templates.recount(forks);
    // VMMs that point into our guests directory but belong to no instance.
    for (const auto& [id, pid] : processes) {
        if (auto vmm = VmmProcess::adopt(pid); vmm && is_vmm_for(pid, _state.layout.control_socket(id))) {
            kill_and_wait(*vmm);
            _vmms.remove_cgroups(id);
            ++_report.killed_strays;
            log_reconcile(id, "", "kill_stray_vmm", "none");
        }
    }
    // Cgroups left by VMMs that are gone (a daemon killed between a VMM's
    // death and their removal).
    _vmms.sweep_cgroups();
    return _report;
}

void Reconciler::reconcile_instance(const std::shared_ptr<Instance>& instance, pid_t live_pid) {
    const std::string id = instance->id;
    recover_snapshot_dirs(_state.layout, id);
    std::shared_ptr<VmmProcess> vmm;
    if (live_pid > 0) {
        auto adopted = VmmProcess::adopt(live_pid);
        if (adopted && is_vmm_for(live_pid, _state.layout.control_socket(id))) vmm = *adopted;
    }
    InstanceRecord& r = instance->record;
    const PendingOp pending = r.pending_op;
    const std::string pending_name(to_string(pending));

    if (pending == PendingOp::remove) {
        if (vmm) kill_and_wait(vmm);
        _vmms.remove_cgroups(id);
        if (!r.tap.empty()) (void)delete_tap(r.tap);
        std::error_code ec;
        fs::remove_all(_state.layout.instance_dir(id), ec);
        ++_report.removed_dirs;
        log_reconcile(r.name, pending_name, "finish_delete", "deleted");
        return;
    }
    std::string decision = "keep";
    std::optional<std::string> vm_state;
    if (vmm) {
        vm_state = probe_vmm(_state.layout.control_socket(id), *vmm);
        if (!vm_state) { // alive but deaf: not something we can manage
            kill_and_wait(vmm);
            vmm.reset();
            decision = "kill_deaf_vmm";
        }
    }
    bool snapshot = snapshot_present(_state.layout, id);
    bool paused = vm_state && *vm_state == "paused";
    if (vmm && (pending == PendingOp::stop || (pending == PendingOp::standby && snapshot))) {
        // Finish what the user asked for: the VMM's part is done or not needed.
        kill_and_wait(vmm);
        vmm.reset();
        r.state = pending == PendingOp::stop ? State::stopped : State::standby;
        decision = "finish_" + pending_name;
    } else if (vmm) {
        if (pending == PendingOp::standby && paused && VmmControl(_state.layout.control_socket(id)).resume()) paused = false;
        r.state = paused ? State::paused : State::running;
        r.vmm_pid = vmm->pid();
        ++_report.adopted;
        decision = "adopt_vmm";
    } else if (pending == PendingOp::stop) {
        r.state = State::stopped;
        decision = "finish_stop";
    } else if (pending == PendingOp::standby) {
        r.state = snapshot ? State::standby : State::failed;
        decision = snapshot ? "finish_standby" : "standby_lost";
    } else if (pending == PendingOp::none) {
        if (r.state == State::running || r.state == State::paused || (r.state == State::standby && !snapshot)) {
            std::string reason = r.state == State::standby
                                     ? "standby snapshot is missing"
                                     : "vmm exited while the daemon was not running (exit status unknown)";
            r.last_exit = ExitInfo{std::nullopt, std::nullopt, reason, now_rfc3339()};
            r.state = State::failed;
            decision = "mark_failed";
        }
    }
    // A start or restore that never committed leaves the old state in place.
    if (r.state == State::failed && pending == PendingOp::standby && !r.last_exit)
        r.last_exit = ExitInfo{std::nullopt, std::nullopt, "vmm lost during standby", now_rfc3339()};
    if (r.state == State::failed) ++_report.marked_failed;
    // A Stopped instance has no snapshot and names no template: a stop that
    // died between its record and its files, or a guest that powered off,
    // may have left them (the fork counts are recounted below).
    if (r.state == State::stopped || r.state == State::created) {
        (void)drop_snapshot(_state.layout, id); // a failure leaves files that are never used
        r.template_id.clear();
    }
    if (!vmm) {
        r.vmm_pid = 0;
        _vmms.remove_sockets(id);
        _vmms.remove_cgroups(id);
    }
    log_reconcile(r.name, pending_name, decision, std::string(to_string(r.state)));
    r.pending_op = PendingOp::none;
    // A record from before vsock, or one whose CID another holds (a copied
    // directory): a new CID, used from the next start or restore.
    if (!_state.registry.cid_free(r.vsock_cid)) r.vsock_cid = _state.registry.reserve_cid();
    _network.adopt(r);
    instance->vmm = vmm;
    instance->paused = vmm && paused;
    (void)_state.update_record(*instance, [](InstanceRecord&) {});
    _state.registry.insert(instance);
    if (vmm) _vmms.watch(id, vmm);
}

} // namespace brood::manager
