// bench_fork: fan-outs of 1, 10 and 100 forks of one warmed-up guest (512 MiB,
// 256 MiB touched), A/B/C in one run on one host:
//   brood-template  POST /templates/{id}/fork with count N: forks map the template's memory file
//   brood-template-unboxed  the same from a broodd with --vmm-jail off (as root): the box's cost
//   brood-copy      N x POST /instances/{source}/fork: each fork copies the memory file
//   qemu            N x QEMU `-incoming` restores of one migration file (plain)
//   qemu-template   N x QEMU clones of a shared memory file (x-ignore-shared): its best
// For each: every fork's latency from the start of the fan-out to its `pong`,
// the time until all N answered, and what the forks cost the host in memory
// while idle. Prints one JSON object per line (docs/benchmarks.md).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include <CLI/CLI.hpp>

#include "fork/fork.hpp"
#include "support/proc_memory.hpp"
#include "support/stats.hpp"

namespace {

using namespace brood;
using namespace brood::bench;
using namespace brood::bench::fork;

constexpr double kKibPerMib = 1024.0;
constexpr double kBytesPerMib = 1024.0 * 1024.0;

// What the summary at the end needs, per subject and N.
struct Figures {
    std::vector<double> ready_ms, all_ready_ms, pss_mib, host_per_fork_mib;
};
using FigureKey = std::pair<std::string, unsigned>;

struct Run {
    Config config;
    Reporter out{"fork"};
    std::map<FigureKey, Figures> figures;
    unsigned concurrency = 1;
    double template_mib = 0;
};

// Weighs the forks of a fan-out and reports everything about it.
Result<void> record(Run& run, const std::string& subject, const nlohmann::json& params, const Fanout& f,
                    const char* call_metric) {
    auto& fig = run.figures[{subject, static_cast<unsigned>(f.ready_ms.size())}];
    for (double ms : f.ready_ms) {
        run.out.add(subject, "fork_ready", "ms", params, ms);
        fig.ready_ms.push_back(ms);
    }
    run.out.add(subject, "all_ready", "ms", params, f.all_ready_ms);
    fig.all_ready_ms.push_back(f.all_ready_ms);
    for (double ms : f.call_ms) run.out.add(subject, call_metric, "ms", params, ms);
    for (pid_t pid : f.pids) {
        auto usage = TRY_CTX(read_rollup(pid), subject);
        run.out.add(subject, "pss_per_fork", "MiB", params, usage.pss_kib / kKibPerMib);
        fig.pss_mib.push_back(usage.pss_kib / kKibPerMib);
    }
    // The forks' Pss plus the page cache of the files behind their memory
    // (one file for all template forks or QEMU clones, one per copied fork),
    // each page counted once (support/proc_memory.hpp).
    auto host = TRY_CTX(read_host_memory(f.pids, f.memory_files), subject);
    double n = static_cast<double>(f.pids.size());
    run.out.add(subject, "pss_total", "MiB", params, host.pss_mib);
    run.out.add(subject, "memory_files_cached", "MiB", params, host.page_cache_mib);
    run.out.add(subject, "host_memory", "MiB", params, host.total_mib());
    run.out.add(subject, "host_memory_per_fork", "MiB", params, host.total_mib() / n);
    fig.host_per_fork_mib.push_back(host.total_mib() / n);
    return {};
}

nlohmann::json params_for(const Run& run, unsigned n) {
    return {{"memory_mib", run.config.memory_mib}, {"touched_mib", run.config.touch_mib}, {"forks", n},
            {"n_times_touched_mib", n * run.config.touch_mib}};
}

// Fan-outs per N: many of one fork (its p50 and p99 need samples), fewer of
// many forks, whose every fork is a sample. Copies and QEMU cost ~0.1-0.3 s each.
unsigned template_runs(const Config& c, unsigned n) { return n == 1 ? c.single_runs : n <= 10 ? 5 : 3; }
unsigned slow_runs(const Config& c, unsigned n) { return n == 1 ? std::max(1u, c.single_runs / 2) : 1; }

Result<void> brood_subjects(Run& run, const Daemon& daemon, const Source& source, unsigned n, bool copies,
                            const std::string& copy_note) {
    auto params = params_for(run, n);
    params["concurrency"] = run.concurrency;
    note("bench_fork: brood-template, {} fork{} x {} fan-out{}", n, n == 1 ? "" : "s", template_runs(run.config, n),
         template_runs(run.config, n) == 1 ? "" : "s");
    for (unsigned r = 0; r < template_runs(run.config, n); ++r) {
        auto f = TRY_CTX(template_fanout(daemon, source, n, r, run.config), "brood-template");
        TRY(record(run, "brood-template", params, f, "fanout_call"));
        TRY_CTX(delete_forks(daemon, f), "delete template forks");
    }
    run.out.flush();
    if (!copies) return {};
    if (!copy_note.empty()) params["note"] = copy_note;
    note("bench_fork: brood-copy, {} fork{} x {}", n, n == 1 ? "" : "s", slow_runs(run.config, n));
    for (unsigned r = 0; r < slow_runs(run.config, n); ++r) {
        auto f = TRY_CTX(copy_fanout(daemon, source, n, r, run.concurrency, run.config), "brood-copy");
        TRY(record(run, "brood-copy", params, f, "fork_call"));
        TRY_CTX(delete_forks(daemon, f), "delete copied forks");
    }
    run.out.flush();
    return {};
}

Result<void> qemu_template_subject(Run& run, const QemuTemplate& tpl, unsigned n, const ScratchDir& scratch) {
    auto params = params_for(run, n);
    params["note"] = fmt::format("clones of a shared memory-backend-file (share=off) with x-ignore-shared, "
                                 "capped at N={}",
                                 run.config.qemu_template_max);
    unsigned runs = n == 1 ? std::max(1u, run.config.single_runs / 2) : n <= 10 ? 3 : 1;
    note("bench_fork: qemu-template, {} clone{} x {}", n, n == 1 ? "" : "s", runs);
    for (unsigned r = 0; r < runs; ++r) {
        std::vector<Child> vms;
        auto f = TRY_CTX(qemu_clone_fanout(tpl, n, r, run.config, scratch, vms), "qemu-template");
        TRY(record(run, "qemu-template", params, f, "fork_call"));
        for (auto& vm : vms) vm.stop(SIGKILL, Millis(0));
    }
    run.out.flush();
    return {};
}

Result<void> qemu_subject(Run& run, const std::string& migration_file, unsigned n, const ScratchDir& scratch) {
    auto params = params_for(run, n);
    params["note"] = fmt::format("plain -incoming restores from one migration file, capped at N={}",
                                 run.config.qemu_max);
    note("bench_fork: qemu, {} restore{} x {}", n, n == 1 ? "" : "s", slow_runs(run.config, n));
    for (unsigned r = 0; r < slow_runs(run.config, n); ++r) {
        std::vector<Child> vms;
        auto f = TRY_CTX(qemu_fanout(migration_file, n, r, run.config, scratch, vms), "qemu");
        TRY(record(run, "qemu", params, f, "fork_call")); // no API calls: no call times
        for (auto& vm : vms) vm.stop(SIGKILL, Millis(0));
    }
    run.out.flush();
    return {};
}

// Template forks of a broodd whose VMMs run unboxed (--vmm-jail off: no
// namespaces, seccomp, uid or cgroups): what the box costs a fork.
Result<void> unboxed_subject(Run& run, const std::string& dir) {
    const Config& c = run.config;
    note("bench_fork: brood-template-unboxed: a second broodd with --vmm-jail off, its own template");
    auto daemon = TRY(Daemon::start(dir, run.concurrency, {"--vmm-jail", "off"}));
    Result<void> measured = [&]() -> Result<void> {
        auto source = TRY_CTX(prepare_source(daemon, c), "prepare the unboxed template");
        for (unsigned n : c.counts) {
            if (n > c.box_cost_max) continue;
            auto params = params_for(run, n);
            params["concurrency"] = run.concurrency;
            params["note"] = "VMMs without the box (--vmm-jail off)";
            for (unsigned r = 0; r < template_runs(c, n); ++r) {
                auto f = TRY_CTX(template_fanout(daemon, source, n, r, c), "brood-template-unboxed");
                TRY(record(run, "brood-template-unboxed", params, f, "fanout_call"));
                TRY_CTX(delete_forks(daemon, f), "delete unboxed template forks");
            }
            run.out.flush();
        }
        auto api = TRY(Api::connect(daemon.socket()));
        TRY(api.call("DELETE", "/templates/" + source.template_id));
        TRY(api.call("DELETE", "/instances/" + source.instance_id));
        return {};
    }();
    daemon.stop();
    return measured;
}

void summary(const Run& run) {
    note("bench_fork: summary, medians over the runs (ms from the start of the fan-out; MiB; host = Pss plus the "
         "page cache of the files behind the forks, each page once)");
    note("  {:<24} {:>4} {:>9} {:>9} {:>10} {:>10} {:>14}", "subject", "N", "p50", "p99", "all ready", "Pss/fork",
         "host/fork");
    for (const auto& [key, fig] : run.figures) {
        auto ready = summarize(fig.ready_ms);
        note("  {:<24} {:>4} {:>9.1f} {:>9.1f} {:>10.1f} {:>10.2f} {:>14.1f}", key.first, key.second, ready.p50,
             ready.p99, summarize(fig.all_ready_ms).p50, summarize(fig.pss_mib).p50,
             summarize(fig.host_per_fork_mib).p50);
    }
    auto find = [&](const std::string& subject, unsigned n) -> const Figures* {
        auto it = run.figures.find({subject, n});
        return it == run.figures.end() ? nullptr : &it->second;
    };
    auto verdict = [](bool met) { return met ? "met" : "MISSED"; };
    note("bench_fork: goals, judged on the medians (not asserted):");
    if (auto* one = find("brood-template", 1)) {
        double p50 = summarize(one->ready_ms).p50;
        note("  single template fork p50 < 10 ms: {:.1f} ms, {}", p50, verdict(p50 < 10));
    }
    if (auto* hundred = find("brood-template", 100)) {
        double all = summarize(hundred->all_ready_ms).p50;
        note("  100 template forks all answering < 1 s: {:.0f} ms, {}", all, verdict(all < 1000));
    }
    unsigned largest = 0;
    for (const auto& [key, fig] : run.figures)
        if (key.first == "brood-template") largest = std::max(largest, key.second);
    if (auto* big = find("brood-template", largest)) {
        double pss = summarize(big->pss_mib).p50;
        note("  Pss per idle template fork < 2 MiB: {:.2f} MiB (N={}), {}", pss, largest, verdict(pss < 2));
    }
    // The box's cost: boxed (the default as root) against unboxed forks.
    for (const auto& [key, fig] : run.figures) {
        if (key.first != "brood-template-unboxed") continue;
        const Figures* boxed = find("brood-template", key.second);
        if (!boxed) continue;
        double with = summarize(boxed->ready_ms).p50, without = summarize(fig.ready_ms).p50;
        note("  box cost at N={}: fork_ready p50 {:.1f} ms boxed vs {:.1f} ms unboxed ({:+.1f} ms)", key.second, with,
             without, with - without);
    }
    // Density and speed against each other subject, at the same N only: a
    // QEMU clone's cost per clone falls with N as a template fork's does.
    // Every figure is the median over the runs.
    for (const char* other : {"brood-copy", "qemu", "qemu-template"}) {
        unsigned n = 0;
        for (const auto& [key, fig] : run.figures)
            if (key.first == other && find("brood-template", key.second)) n = std::max(n, key.second);
        if (n == 0) continue;
        const Figures* tpl = find("brood-template", n);
        const Figures* them = find(other, n);
        double tpl_mem = summarize(tpl->host_per_fork_mib).p50, them_mem = summarize(them->host_per_fork_mib).p50;
        double tpl_ms = summarize(tpl->ready_ms).p50, them_ms = summarize(them->ready_ms).p50;
        std::string line = fmt::format("  vs {} at N={}: host memory per fork {:.1f} vs {:.1f} MiB = {:.1f}x denser; "
                                       "fork_ready p50 {:.1f} vs {:.1f} ms = {:.1f}x sooner",
                                       other, n, tpl_mem, them_mem, them_mem / tpl_mem, tpl_ms, them_ms,
                                       them_ms / tpl_ms);
        if (std::string(other) == "brood-copy")
            line += fmt::format("; goal >= 10x denser than copies: {}", verdict(them_mem / tpl_mem >= 10));
        note("{}", line);
    }
}

Result<void> run_bench(Run& run) {
    auto scratch = TRY(ScratchDir::create("fork"));
    std::string needle = scratch.path() + "/";
    const Config& c = run.config;

    run.concurrency = c.concurrency;
    note("bench_fork: broodd fans out {} forks at a time (--fork-concurrency)", run.concurrency);
    auto daemon = TRY(Daemon::start(scratch.path(), run.concurrency));
    kill_on_signal(needle);
    Result<void> outcome = [&]() -> Result<void> {
        note("bench_fork: source: {} MiB test guest, touch {} MiB, standby, promote to a template", c.memory_mib,
             c.touch_mib);
        auto source = TRY_CTX(prepare_source(daemon, c), "prepare the template");
        run.template_mib = static_cast<double>(TRY(file_size(source.memory_file)).allocated) / kBytesPerMib;
        run.out.add("brood-template", "template_memory", "MiB",
                    {{"memory_mib", c.memory_mib}, {"touched_mib", c.touch_mib}}, run.template_mib);
        run.out.flush();

        unsigned copy_max = c.copy_max;
        std::string copy_note;
        if (reflink_works(daemon.data_dir())) {
            copy_max = *std::max_element(c.counts.begin(), c.counts.end());
        } else {
            copy_note = fmt::format("capped at N={}: no reflink on this file system, each copied fork writes a "
                                    "{:.0f} MiB memory file",
                                    copy_max, run.template_mib);
            note("bench_fork: brood-copy {}", copy_note);
        }
        std::optional<std::string> migration;
        std::optional<QemuTemplate> qemu_tpl;
        if (c.qemu) {
            note("bench_fork: qemu: boot, touch {} MiB, migrate to a file", c.touch_mib);
            migration = TRY_CTX(qemu_migration_file(c, scratch), "QEMU source");
            note("bench_fork: qemu-template: boot on a shared memory file, touch {} MiB, save with x-ignore-shared",
                 c.touch_mib);
            qemu_tpl = TRY_CTX(qemu_template(c, scratch), "QEMU template");
        } else {
            note("bench_fork: QEMU not measured (not installed, or --no-qemu)");
        }
        for (unsigned n : c.counts) {
            TRY(brood_subjects(run, daemon, source, n, c.copies && n <= copy_max, copy_note));
            if (migration && n <= c.qemu_max) TRY(qemu_subject(run, *migration, n, scratch));
            if (qemu_tpl && n <= c.qemu_template_max) TRY(qemu_template_subject(run, *qemu_tpl, n, scratch));
        }
        auto api = TRY(Api::connect(daemon.socket()));
        TRY(api.call("DELETE", "/templates/" + source.template_id));
        TRY(api.call("DELETE", "/instances/" + source.instance_id));
        return {};
    }();
    daemon.stop();
    // As root broodd boxes its VMMs; the same forks without the box, after.
    if (outcome && c.box_cost && ::geteuid() == 0) {
        std::string dir = scratch.path() + "/unboxed";
        if (::mkdir(dir.c_str(), 0700) != 0) outcome = fail_errno("mkdir " + dir);
        else outcome = unboxed_subject(run, dir);
    }
    if (int stray = client::kill_processes_mentioning(needle); stray > 0)
        note("bench_fork: killed {} leftover processes", stray);
    if (outcome) summary(run);
    return outcome;
}

} // namespace

int main(int argc, char** argv) {
    Run run;
    Config& c = run.config;
    bool no_qemu = false, no_copy = false;
    unsigned timeout_s = 60;
    CLI::App app{"bench_fork: fan-outs of N forks: brood template forks vs copied forks vs QEMU restores "
                 "(JSON lines on stdout)"};
    app.add_option("--counts", c.counts, "Forks per fan-out")->delimiter(',')->capture_default_str();
    app.add_option("--single-runs", c.single_runs, "Fan-outs of one template fork (fewer for larger N)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--memory-mib", c.memory_mib, "Guest memory")->capture_default_str();
    app.add_option("--touch-mib", c.touch_mib, "Memory the guest writes before it becomes the template")
        ->capture_default_str();
    app.add_option("--copy-max", c.copy_max, "Largest N for copied forks (no cap where reflinks work)")
        ->capture_default_str();
    app.add_option("--qemu-max", c.qemu_max, "Largest N for plain QEMU restores")->capture_default_str();
    app.add_option("--qemu-template-max", c.qemu_template_max, "Largest N for QEMU clones of a shared memory file")
        ->capture_default_str();
    app.add_option("--concurrency", c.concurrency, "broodd's --fork-concurrency, and copied forks asked for at once")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--timeout-s", timeout_s, "Longest wait for one step")->check(CLI::PositiveNumber);
    app.add_flag("--no-qemu", no_qemu, "Leave QEMU out");
    app.add_flag("--no-copy", no_copy, "Leave copied forks out");
    bool no_box_cost = false;
    app.add_flag("--no-box-cost", no_box_cost, "As root: leave out template forks of an unboxed broodd");
    app.add_option("--box-cost-max", c.box_cost_max, "Largest N for template forks of an unboxed broodd")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    c.timeout = Millis(timeout_s * 1000);
    c.copies = !no_copy;
    c.box_cost = !no_box_cost;
    if (!ready_to_run("bench_fork")) return 0;
    if (::access(broodd_path().c_str(), X_OK) != 0) {
        note("bench_fork: skipped: {} is missing (build it first: make build)", broodd_path());
        return 0;
    }
    if (!no_qemu) c.qemu = find_qemu();
    if (!c.qemu) note("bench_fork: measuring brood alone (no QEMU: not installed or --no-qemu)");
    note_host_load("bench_fork");
    auto done = run_bench(run);
    while (!done && signalled()) ::pause(); // the signal's clean-up ends the process
    run.out.flush();
    if (!done) {
        note("bench_fork: {}", done.error().message());
        return 1;
    }
    note_host_load("bench_fork");
    return 0;
}
