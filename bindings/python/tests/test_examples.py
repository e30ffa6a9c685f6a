# SPDX-License-Identifier: MIT
"""examples/python and bindings/python/bench.py, run as a user would run them,
on a real KVM."""
import os
import subprocess
import sys

from conftest import BUILD, TOP, guest, program

EXAMPLES = os.path.join(TOP, "examples", "python")


def run_script(path, *args, timeout=120):
    return subprocess.run([sys.executable, path] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def run_example(name, *args, timeout=120):
    return run_script(os.path.join(EXAMPLES, name), *args, timeout=timeout)


def test_sandbox_run(kvm):
    p = run_example("sandbox_run.py", program("hello"))
    assert p.returncode == 0, p.stderr
    assert "stdout: b'hello from the sandbox\\n'" in p.stdout
    assert "syscall writev" in p.stdout and "outcome: EXITED, exit status 0" in p.stdout
    # musl's stdio writes with writev: denied, nothing comes out.
    p = run_example("sandbox_run.py", "--deny", "20", program("hello"))
    assert "-> denied" in p.stdout and "stdout: b''" in p.stdout, p.stdout
    p = run_example("sandbox_run.py", program("nullptr"))
    assert p.returncode == 128 + 14 and "outcome: FAULT" in p.stdout, p.stdout + p.stderr
    p = run_example("sandbox_run.py", "/nonexistent/program")
    assert p.returncode == 2 and "sandbox_run:" in p.stderr


def test_python_device(kvm):
    p = run_example("python_device.py", guest("counter"))
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and all("status=84" in l and "holds 42" in l for l in lines), lines


def test_fuzz_loop_finds_the_planted_bug(kvm):
    target = os.path.join(BUILD, "examples", "fuzz_target.elf")
    p = run_example("fuzz_loop.py", "--seconds", "240", "--seed", "1", target, timeout=300)
    assert p.returncode == 0 and "CRASH:" in p.stdout, p.stdout + p.stderr


def test_bench_smoke(kvm):
    """bindings/python/bench.py --quick runs and prints each figure; the
    figures themselves are not checked (docs/benchmarks.md)."""
    p = run_script(os.path.join(TOP, "bindings", "python", "bench.py"), "--quick", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    ratios = dict(l.split()[1:3] for l in p.stdout.splitlines() if l.startswith("RATIO"))
    assert set(ratios) == {"exit_roundtrip", "sandbox_cycle"}, p.stdout
    assert all(float(v) > 0 for v in ratios.values()), p.stdout
