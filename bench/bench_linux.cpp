// bench_linux: Debian's kernel with a busybox shell, brood-vmm against QEMU
// microvm on the same hardware-assisted KVM. Runs where a stock kernel boots
// (the hardware-KVM lane's L1: `scripts/hwkvm-lane.sh --bench`); JSON lines
// on stdout, "bench":"linux", subjects brood and qemu (docs/benchmarks.md).
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "linux/linux.hpp"

int main(int argc, char** argv) {
    using namespace brood::bench;
    using namespace brood::bench::linux_guest;
    CLI::App app{"bench_linux: Linux boot, restore, fan-out and density, brood-vmm vs QEMU (JSON lines on stdout)"};
    Config config;
    std::string assets;
    bool no_qemu = false;
    app.add_option("--vmm", config.vmm, "brood-vmm")->required();
    app.add_option("--assets", assets, "Directory with vmlinux and initrd.cpio.gz")->required();
    app.add_option("--qemu", config.qemu, "qemu-system-x86_64");
    app.add_option("--memory-mib", config.memory_mib, "Guest memory");
    app.add_option("--vcpus", config.vcpus, "Guest vCPUs");
    app.add_option("--boots", config.boots, "Cold boots per subject")->check(CLI::PositiveNumber);
    app.add_option("--restores", config.restores, "Single restores per subject")->check(CLI::PositiveNumber);
    app.add_option("--forks", config.forks, "VMs restored at once")->check(CLI::PositiveNumber);
    app.add_flag("--no-qemu", no_qemu, "Measure brood-vmm only");
    CLI11_PARSE(app, argc, argv);
    config.vmlinux = assets + "/vmlinux";
    config.initrd = assets + "/initrd.cpio.gz";
    if (!no_qemu && config.qemu.empty()) {
        note("bench_linux: --qemu is required unless --no-qemu");
        return 2;
    }

    auto scratch = ScratchDir::create("bench-linux");
    if (!scratch) {
        note("bench_linux: {}", scratch.error().message());
        return 1;
    }
    Reporter out("linux");
    int status = 0;
    if (auto r = brood_side(config, *scratch, out); !r) {
        note("bench_linux: brood: {}", r.error().message());
        status = 1;
    }
    out.flush();
    if (!no_qemu) {
        if (auto r = qemu_side(config, *scratch, out); !r) {
            note("bench_linux: qemu: {}", r.error().message());
            status = 1;
        }
        out.flush();
    }
    return status;
}
