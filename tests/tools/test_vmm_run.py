#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end tests of vmm-run: every spec in examples/specs/, bad specs, exit
codes, signals, the console, plugins, the control channel driven by a real
UNIX-socket client, and static programs run with --elf.

usage: test_vmm_run.py VMM_RUN SOURCE_DIR GUEST_DIR PLUGIN_SO SANDBOX_DIR
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

VMM_RUN, SRC, GUESTS, PLUGIN, PROGRAMS, LINUX = sys.argv[1:7]
del sys.argv[1:7]
SKIP = 77


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def spec(self, name, spec):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(spec, f)
        return path

    def example(self, name):
        """An example spec, with its guest paths (relative to a build dir named
        build/) pointed at this build's guest images."""
        with open(os.path.join(SRC, "examples", "specs", name)) as f:
            text = f.read()
        text = text.replace("../../build/guest/", GUESTS + "/")
        text = text.replace("../../build/linux-kernel/", LINUX + "/")
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_vmm(self, *args, stdin=b"", timeout=60):
        p = subprocess.run([VMM_RUN, *args], input=stdin, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def guest_spec(self, image, mode="long", cpl=0, devices=None, **extra):
        spec = {
            "memory": {"size": "2M"},
            "cpu": {"mode": mode, "cpl": cpl, "stack": "0x9000"},
            "boot": {"kind": "flat", "path": os.path.join(GUESTS, image)},
            "devices": devices if devices is not None else [
                {"type": "serial", "console": True},
                {"type": "debug-exit", "size": 1},
            ],
        }
        spec.update(extra)
        return spec


class Examples(Base):
    expected = {
        "hello-real.json": (0x10, "Hello from real mode\n"),
        "hello-protected.json": (0x20, "Hello from protected mode\n"),
        "hello-long.json": (0x40, "Hello from long mode\n"),
        "hello-elf.json": (0x40, "Hello from long mode\n"),
        "compute-cpl3.json": (0x33, ""),
        "echo.json": (6, "hello\n"),
        "linux.json": None,
    }

    def test_every_example_runs(self):
        names = sorted(n for n in os.listdir(os.path.join(SRC, "examples", "specs"))
                       if n.endswith(".json"))
        self.assertEqual(sorted(self.expected), names, "an example spec has no expectation here")
        for name in names:
            if name == "linux.json":
                continue  # test_linux_example
            code, out = self.expected[name]
            with self.subTest(spec=name):
                rc, stdout, stderr = self.run_vmm(self.example(name), stdin=b"hello\n")
                self.assertEqual(rc, code, stderr)
                self.assertEqual(stdout, out)


    def test_linux_example(self):
        """The Linux example boots the Debian kernel (tests/linux/fetch_kernel.sh):
        within 30 s it prints its banner and the command line vmm_boot_linux
        built (with the virtio-rng announced, and noxsave on a PVM host)."""
        rc, stdout, stderr = self.run_vmm("--timeout", "30", self.example("linux.json"))
        self.assertEqual(rc, 124, stderr)
        self.assertIn("vmm-run: time limit reached", stderr)
        self.assertIn("Linux version ", stdout)
        pvm = os.path.exists("/sys/module/kvm_pvm")
        self.assertIn("Command line: console=ttyS0 earlyprintk=serial panic=-1 " +
                      ("noxsave " if pvm else "") +
                      "virtio_mmio.device=512@0xd0000000:5", stdout)


class CommandLine(Base):
    def test_help_and_version(self):
        rc, out, _ = self.run_vmm("--help")
        self.assertEqual(rc, 0)
        self.assertIn("usage: vmm-run", out)
        rc, out, _ = self.run_vmm("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^vmm-run \d+\.\d+\.\d+\n$")

    def test_usage_errors(self):
        for args in ([], ["--bogus"], ["a.json", "b.json"], ["--timeout", "-1", "x.json"],
                     ["--timeout", "abc", "x.json"]):
            with self.subTest(args=args):
                rc, _, err = self.run_vmm(*args)
                self.assertEqual(rc, 2)
                self.assertTrue(err)

    def test_bad_specs_give_one_line(self):
        cases = {
            "missing file": (os.path.join(self.dir, "nope.json"), "No such file"),
            "not json": (self.spec("t.json", {}) and self._write("t.json", "{\"memory\": "),
                         "invalid JSON"),
            "wrong type": (self.spec("w.json", {"vcpus": "two", "memory": {"size": 4096}}),
                           "vcpus:"),
            "unknown device": (self.spec("d.json", self.guest_spec(
                "hello_long.bin", devices=[{"type": "frobnicator"}])),
                "devices[0].type: unknown device type"),
            "duplicate ids": (self.spec("i.json", self.guest_spec(
                "hello_long.bin", devices=[{"type": "serial", "id": "a"},
                                           {"type": "debug-exit", "id": "a"}])),
                "devices[1].id: duplicate id"),
        }
        for what, (path, msg) in cases.items():
            with self.subTest(case=what):
                rc, out, err = self.run_vmm(path)
                self.assertEqual(rc, 126)
                self.assertEqual(out, "")
                self.assertEqual(len(err.strip().splitlines()), 1, err)
                self.assertIn(msg, err)

    def _write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class Outcomes(Base):
    def test_timeout_option(self):
        path = self.spec("spin.json", self.guest_spec("spin_cpl3.bin", cpl=3, devices=[]))
        t0 = time.monotonic()
        rc, _, err = self.run_vmm("--timeout", "0.3", path)
        self.assertEqual(rc, 124, err)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertIn("time limit", err)

    def test_spec_time_budget(self):
        path = self.spec("spin.json", self.guest_spec(
            "spin_cpl3.bin", cpl=3, devices=[], limits={"time_budget_ms": 200}))
        rc, _, _ = self.run_vmm(path)
        self.assertEqual(rc, 124)

    def test_guest_crash(self):
        image = os.path.join(self.dir, "ud2.bin")
        with open(image, "wb") as f:
            f.write(b"\x0f\x0b")  # ud2 with no IDT: triple fault
        spec = self.guest_spec("x", devices=[])
        spec["boot"]["path"] = image
        rc, _, err = self.run_vmm(self.spec("crash.json", spec))
        self.assertEqual(rc, 125)
        self.assertIn("SHUTDOWN", err)

    @staticmethod
    def catches(pid, sig):
        """Whether process pid takes sig itself rather than dying of it: vmm-run
        blocks SIGINT and SIGTERM and takes them with sigwait() (SigBlk in
        /proc/PID/status); a handler would show in SigCgt."""
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                mask = line.split()
                if mask[0] in ("SigBlk:", "SigCgt:") and int(mask[1], 16) >> (sig - 1) & 1:
                    return True
        return False

    def test_signals_stop_cleanly(self):
        path = self.spec("spin.json", self.guest_spec("spin_cpl3.bin", cpl=3, devices=[]))
        for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
            with self.subTest(signal=sig):
                p = subprocess.Popen([VMM_RUN, path], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                # Signal it once it handles the signal (a slow host, such as the
                # nested test VM under a sanitizer, takes longer to get there).
                deadline = time.monotonic() + 30
                while not self.catches(p.pid, sig):
                    self.assertIsNone(p.poll(), "vmm-run exited early")
                    self.assertLess(time.monotonic(), deadline, "vmm-run never handled %s" % sig)
                    time.sleep(0.02)
                p.send_signal(sig)
                p.communicate(timeout=30)
                self.assertEqual(p.returncode, code)

    def test_closed_stdout(self):
        """A reader of the console that goes away does not end vmm-run."""
        r, w = os.pipe()
        os.close(r)
        p = subprocess.run([VMM_RUN, self.example("hello-long.json")], stdin=subprocess.DEVNULL,
                           stdout=w, stderr=subprocess.PIPE, timeout=60)
        os.close(w)
        self.assertEqual(p.returncode, 0x40, p.stderr)

    def test_plugin_device(self):
        spec = self.guest_spec("counter.bin", devices=[
            {"type": "debug-exit", "size": 1},
            {"type": "plugin-counter", "plugin": PLUGIN, "id": "counter"},
        ])
        rc, _, err = self.run_vmm(self.spec("plugin.json", spec))
        self.assertEqual(rc, 84, err)

    def test_plugin_missing_symbol(self):
        spec = self.guest_spec("counter.bin", devices=[
            {"type": "plugin-counter", "plugin": "/lib/x86_64-linux-gnu/libc.so.6"}])
        rc, _, err = self.run_vmm(self.spec("plugin.json", spec))
        self.assertEqual(rc, 126)
        self.assertIn("devices[0].plugin:", err)
        self.assertIn("vmm_plugin_init", err)


class Control(Base):
    def start(self):
        self.sock_path = os.path.join(self.dir, "ctl.sock")
        path = self.spec("spin.json", self.guest_spec(
            "spin_cpl3.bin", cpl=3, devices=[], name="spinner"))
        self.proc = subprocess.Popen([VMM_RUN, "--control", self.sock_path, path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.sock_path):
            self.assertIsNone(self.proc.poll(), "vmm-run exited early")
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.sock_path)
        self.sock.settimeout(20)
        self.rfile = self.sock.makefile("rb")

    def ask(self, raw):
        self.sock.sendall(raw if isinstance(raw, bytes) else json.dumps(raw).encode() + b"\n")
        return json.loads(self.rfile.readline())

    def wait_status(self, want):
        deadline = time.monotonic() + 20
        while True:
            r = self.ask({"command": "query-status"})
            if r["return"]["status"] == want:
                return r
            self.assertLess(time.monotonic(), deadline, r)
            time.sleep(0.02)

    def test_session(self):
        self.start()
        try:
            r = self.wait_status("running")
            self.assertEqual(r["return"]["name"], "spinner")
            self.assertEqual(r["return"]["vcpus"], 1)
            self.assertRegex(r["return"]["uuid"], r"^[0-9a-f-]{36}$")
            self.assertEqual(self.ask({"command": "pause", "id": 7}), {"id": 7, "return": {}})
            self.wait_status("paused")
            self.assertEqual(self.ask({"command": "pause"})["return"], {})
            self.assertEqual(self.ask({"command": "resume"}), {"return": {}})
            self.wait_status("running")
            self.assertEqual(self.ask({"command": "resume"})["error"]["class"], "GenericError")
            # Bad input gets an error reply and the VM keeps running.
            self.assertEqual(self.ask(b"this is not json\n")["error"]["class"], "GenericError")
            self.assertEqual(self.ask(b"[1, 2]\n")["error"]["class"], "GenericError")
            self.assertEqual(self.ask({"nocommand": 1})["error"]["class"], "GenericError")
            self.assertEqual(self.ask({"command": 5})["error"]["class"], "GenericError")
            r = self.ask({"command": "reboot", "id": "x"})
            self.assertEqual(r["id"], "x")
            self.assertEqual(r["error"]["class"], "CommandNotFound")
            # Snapshots: one kept in memory; a paused VM stays paused around them.
            r = self.ask({"command": "restore"})
            self.assertIn("no snapshot", r["error"]["desc"])
            r = self.ask({"command": "snapshot", "id": 3})
            self.assertEqual(r["id"], 3)
            self.assertGreater(r["return"]["memory_bytes"], 0)
            self.wait_status("running")
            r = self.ask({"command": "restore"})
            self.assertIs(r["return"]["full"], False)
            self.assertGreaterEqual(r["return"]["pages_copied"], 0)
            self.wait_status("running")
            self.ask({"command": "pause"})
            self.wait_status("paused")
            self.assertIn("memory_bytes", self.ask({"command": "snapshot"})["return"])
            self.assertIn("pages_copied", self.ask({"command": "restore"})["return"])
            self.assertEqual(self.wait_status("paused")["return"]["status"], "paused")
            self.ask({"command": "resume"})
            self.assertIn("4096", self.ask(b"x" * 10000 + b"\n")["error"]["desc"])
            # A second client works alongside the first.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s2:
                s2.connect(self.sock_path)
                s2.sendall(b'{"command": "query-status"}\n')
                self.assertEqual(json.loads(s2.makefile("rb").readline())["return"]["status"],
                                 "running")
            self.wait_status("running")
            self.assertEqual(self.ask({"command": "stop"}), {"return": {}})
            self.proc.communicate(timeout=30)
            self.assertEqual(self.proc.returncode, 0)
            self.assertFalse(os.path.exists(self.sock_path), "socket not removed")
        finally:
            self.sock.close()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()

    def test_socat_client(self):
        socat = subprocess.run(["sh", "-c", "command -v socat"], capture_output=True).stdout
        if not socat:
            self.skipTest("socat not installed")
        self.start()
        try:
            self.wait_status("running")
            out = subprocess.run(
                [socat.decode().strip(), "-t", "5", "-", "UNIX-CONNECT:" + self.sock_path],
                input=b'{"command": "query-status", "id": 1}\n', capture_output=True, timeout=30)
            reply = json.loads(out.stdout.decode().splitlines()[0])
            self.assertEqual(reply["id"], 1)
            self.assertEqual(reply["return"]["status"], "running")
            self.ask({"command": "stop"})
            self.proc.communicate(timeout=30)
            self.assertEqual(self.proc.returncode, 0)
        finally:
            self.sock.close()
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.communicate()


class Elf(Base):
    """vmm-run --elf with the static musl programs of tests/sandbox."""

    def prog(self, name):
        return os.path.join(PROGRAMS, name)

    def test_hello_and_exit_status(self):
        rc, out, err = self.run_vmm("--elf", self.prog("hello"))
        self.assertEqual((rc, out, err), (0, "hello from the sandbox\n", ""))
        rc, out, _ = self.run_vmm("--elf", self.prog("exit3"))
        self.assertEqual(rc, 3)

    def test_arguments_belong_to_the_program(self):
        # Options after PROGRAM, even vmm-run's own, are the program's arguments.
        rc, out, _ = self.run_vmm("--elf", self.prog("args"), "--timeout", "x y")
        self.assertEqual(rc, 0, out)
        self.assertIn("argv[1]=--timeout", out)
        self.assertIn("argv[2]=x y", out)

    def test_stdin_stdout_stderr(self):
        rc, out, _ = self.run_vmm("--elf", self.prog("cat"), stdin=b"abc\ndef\n")
        self.assertEqual((rc, out), (0, "ABC\nDEF\n"))
        rc, out, err = self.run_vmm("--elf", self.prog("stdio"))
        self.assertEqual(rc, 0)
        self.assertTrue(out and err and out != err, (out, err))

    def test_fault_timeout_and_bad_program(self):
        rc, _, err = self.run_vmm("--elf", self.prog("nullptr"))
        self.assertEqual(rc, 125)
        self.assertIn("page fault (#PF) at address 0x0", err)
        t = time.monotonic()
        rc, _, err = self.run_vmm("--timeout", "0.5", "--elf", self.prog("loop"))
        self.assertEqual(rc, 124)
        self.assertIn("time limit", err)
        self.assertLess(time.monotonic() - t, 30)
        rc, _, err = self.run_vmm("--elf", os.path.join(SRC, "README.md"))
        self.assertEqual(rc, 126)
        self.assertIn("not an ELF file", err)
        rc, _, err = self.run_vmm("--elf", self.prog("hello_dyn"))
        self.assertEqual(rc, 126)
        self.assertIn("dynamically linked", err)

    def test_memory_option_and_usage(self):
        rc, out, _ = self.run_vmm("--memory", "32", "--elf", self.prog("membomb"))
        self.assertEqual(rc, 0, out)
        self.assertIn("refused after", out)
        for bad in (["--memory", "7", "--elf", self.prog("hello")], ["--elf"],
                    ["--memory", "64", self.example("hello-real.json")]):
            rc, _, _ = self.run_vmm(*bad)
            self.assertEqual(rc, 2, bad)

    def test_sigterm_stops_the_program(self):
        p = subprocess.Popen([VMM_RUN, "--elf", self.prog("loop")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.assertEqual(p.stdout.readline(), b"looping\n")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)


if __name__ == "__main__":
    if not kvm_usable():
        if os.environ.get("LIBVMM_REQUIRE_KVM") == "1":
            print("test_vmm_run: KVM is required (LIBVMM_REQUIRE_KVM=1) but /dev/kvm is unusable")
            sys.exit(1)
        print("test_vmm_run: SKIP: /dev/kvm unusable")
        sys.exit(SKIP)
    unittest.main(verbosity=2)
