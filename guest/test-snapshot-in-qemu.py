#!/usr/bin/env python3
"""Snapshot the test guest under QEMU microvm + KVM and restore it twice.

The guest keeps its state in RAM and its devices are programmed once at boot,
so after a restore `count` must continue from the snapshot, `cpus` must still
reach every AP, `verify` must find what `touch` wrote and `sleep` must still
get its timer interrupt. Two restores of one snapshot must agree (forks).

    guest/test-snapshot-in-qemu.py ELF
Exits 77 (skip) where qemu-system-x86_64 or /dev/kvm is missing.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CPUS = "2"


class Guest:
    def __init__(self, elf, workdir, extra=()):
        self.qmp_path = os.path.join(workdir, "qmp.sock")
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        self.proc = subprocess.Popen(
            [os.path.join(HERE, "run-in-qemu.sh"), elf, "--cpus", CPUS, "--mem", "128",
             "-qmp", f"unix:{self.qmp_path},server=on,wait=off", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buf = b""
        deadline = time.monotonic() + 10
        while not os.path.exists(self.qmp_path):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("QEMU did not open its QMP socket")
            time.sleep(0.02)
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(self.qmp_path)
        self.qmp_file = sock.makefile("rw")
        self.qmp_file.readline()  # greeting
        self.qmp("qmp_capabilities")

    def qmp(self, command, **arguments):
        self.qmp_file.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
        self.qmp_file.flush()
        while True:
            reply = json.loads(self.qmp_file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {command}: {reply['error']}")

    def read_line(self, timeout=20):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                return None
            data = os.read(self.proc.stdout.fileno(), 4096)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def ask(self, command):
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()
        return self.read_line()

    def wait_ready(self):
        while True:
            line = self.read_line()
            if line is None or line.startswith("brood-guest ready"):
                return line

    def close(self):
        self.proc.kill()
        self.proc.wait()


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} ELF", file=sys.stderr)
        return 2
    if not shutil.which("qemu-system-x86_64"):
        print("SKIP: qemu-system-x86_64 is not installed")
        return 77
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not usable")
        return 77
    elf = sys.argv[1]
    results = {"passed": 0, "failed": 0}

    def check(what, got, want):
        ok = got == want
        results["passed" if ok else "failed"] += 1
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {got!r}" + ("" if ok else f" (wanted {want!r})"))

    with tempfile.TemporaryDirectory() as workdir:
        snapshot = os.path.join(workdir, "snapshot")
        guest = Guest(elf, workdir)
        try:
            check("ready", guest.wait_ready(), f"brood-guest ready cpus={CPUS} mem_mib=128")
            check("count", guest.ask("count"), "count 1")
            touched = guest.ask("touch 8 5")
            check("touch", touched.split(" checksum")[0], "touched pages=2048")
            guest.qmp("stop")
            guest.qmp("migrate", uri=f"exec:cat > {snapshot}")
            status = ""
            for _ in range(200):
                status = guest.qmp("query-migrate").get("status")
                if status in ("completed", "failed"):
                    break
                time.sleep(0.05)
            check("snapshot", status, "completed")
        finally:
            guest.close()

        for fork in (1, 2):
            guest = Guest(elf, workdir, ["-incoming", f"exec:cat {snapshot}"])
            try:
                for _ in range(200):
                    if guest.qmp("query-status")["status"] != "inmigrate":
                        break
                    time.sleep(0.05)
                guest.qmp("cont")
                check(f"restore {fork}: count", guest.ask("count"), "count 2")
                check(f"restore {fork}: cpus", guest.ask("cpus"), "cpus online=2 ids=0,1")
                check(f"restore {fork}: verify", guest.ask("verify 8 5"),
                      touched.replace("touched", "ok"))
                start = time.monotonic()
                check(f"restore {fork}: sleep", guest.ask("sleep 100"), "slept ms=100")
                took = time.monotonic() - start
                # At least the 100 ms asked for; the upper bound only catches a
                # clock that stopped, not a busy host (the suite runs two at once).
                check(f"restore {fork}: sleep took 0.1-5 s ({took:.3f})", 0.095 <= took < 5.0, True)
            finally:
                guest.close()

    print(f"{results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
