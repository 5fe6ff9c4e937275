"""Helpers for QEMU integration tests: boot a guest, poll its serial log with a deadline, collect results.

Every test prints one PASS/FAIL line; the runner ends with the plain 'N passed, N failed' line.
QEMU_K=<text> in the environment (`make test-qemu QEMU_K=net-static`) runs only the tests whose name contains
<text>, like each script's -k; steps the other tests need (a shared guest's boot) run regardless.
Guest(qmp=True) gives a test QEMU's QMP socket (Guest.qmp("set_link", name="n0", up=False)); the human monitor
stays off."""
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]


class Guest:
    """A running QEMU whose serial output goes to a file we poll."""

    def __init__(self, args, name, workdir, uefi=False, mem="128M", prefix=(), qmp=False):
        self.name = name
        self.log_path = os.path.join(workdir, f"{name}.serial.log")
        self.workdir = workdir
        cmd = list(prefix) + ["qemu-system-x86_64", "-accel", "tcg", "-m", mem, "-display", "none", "-no-reboot",
               "-serial", f"file:{self.log_path}", "-monitor", "none"] + DEBUG_EXIT
        self.qmp_dir = None
        if qmp:  # a short path of its own: a Unix socket's path has at most 107 bytes
            self.qmp_dir = tempfile.mkdtemp(prefix="skerry-qmp-")
            cmd += ["-qmp", f"unix:{os.path.join(self.qmp_dir, 'qmp.sock')},server=on,wait=off"]
        if uefi:
            vars_copy = os.path.join(workdir, f"{name}.OVMF_VARS.fd")
            shutil.copyfile(OVMF_VARS, vars_copy)  # a fresh copy every run
            cmd += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}"]
        cmd += args
        self.cmd = cmd
        open(self.log_path, "w").close()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace").replace("\r\n", "\n")

    def wait_for(self, pattern, timeout, since=0):
        """Poll the serial log until the regex matches (at or after offset since of the log); returns the match
        (its positions are offsets in the whole log) or None at the deadline."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while True:
            m = rx.search(self.log(), since)
            if m:
                return m
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return rx.search(self.log(), since)
            time.sleep(0.05)

    def qmp(self, command, timeout=10, **arguments):
        """Runs one QMP command (Guest(qmp=True)) on a connection of its own; returns its "return" value.
        An error answer, a closed socket or no answer within timeout is a Failure."""
        if not self.qmp_dir:
            raise Failure(f"{self.name}: started without qmp=True")
        deadline = time.monotonic() + timeout
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            while True:  # QEMU creates the socket at start-up; it may not be there the moment QEMU is spawned
                try:
                    s.connect(os.path.join(self.qmp_dir, "qmp.sock"))
                    break
                except OSError as e:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise Failure(f"{self.name}: cannot connect to QMP: {e}")
                    time.sleep(0.05)
            s.settimeout(max(0.1, deadline - time.monotonic()))
            f = s.makefile("rwb")

            def answer():
                while True:
                    line = f.readline()
                    if not line:
                        raise Failure(f"{self.name}: QMP closed the connection during {command}")
                    msg = json.loads(line)
                    if "error" in msg:
                        raise Failure(f"{self.name}: QMP {command} {arguments}: {msg['error']}")
                    if "return" in msg:
                        return msg["return"]
                    # anything else is the greeting or an event

            if "QMP" not in json.loads(f.readline() or b"{}"):
                raise Failure(f"{self.name}: no QMP greeting")
            for cmd in ({"execute": "qmp_capabilities"}, {"execute": command, "arguments": arguments}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                result = answer()
            return result
        except (OSError, ValueError) as e:
            raise Failure(f"{self.name}: QMP {command}: {type(e).__name__}: {e}")
        finally:
            s.close()

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.qmp_dir:
            shutil.rmtree(self.qmp_dir, ignore_errors=True)

    def qemu_output(self):
        try:
            return self.proc.stdout.read().decode("utf-8", "replace") if self.proc.stdout else ""
        except Exception:
            return ""


class Failure(Exception):
    pass


class Runner:
    def __init__(self, keep_logs_dir=None):
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.only = os.environ.get("QEMU_K") or None
        self.workdir = keep_logs_dir or tempfile.mkdtemp(prefix="skerry-qemu-")
        os.makedirs(self.workdir, exist_ok=True)

    def selected(self, name):
        """False (and counted) for a test QEMU_K leaves out."""
        if self.only and self.only not in name:
            self.skipped += 1
            return False
        return True

    def run(self, name, fn, always=False):
        """Run one test; always=True for a step the others depend on (never left out by QEMU_K)."""
        if not always and not self.selected(name):
            return
        t0 = time.monotonic()
        try:
            fn(self.workdir)
            self.passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Failure as e:
            self.failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {e}", flush=True)
        except Exception as e:  # a harness error is a failure too, never a silent pass
            self.failed += 1
            print(f"FAIL {name}: harness error {type(e).__name__}: {e}", flush=True)

    def summary(self):
        if self.only:
            print(f"qemu: QEMU_K={self.only!r}: {self.skipped} other test(s) not run", flush=True)
        print(f"qemu: {self.passed} passed, {self.failed} failed", flush=True)
        print(f"(serial logs in {self.workdir})")
        return 0 if self.failed == 0 else 1


def expect(guest, pattern, timeout=60, what=None, since=0):
    """The regex's match in the guest's serial log (at or after offset since) within timeout, else a Failure."""
    m = guest.wait_for(pattern, timeout, since)
    if not m:
        tail = "\n    ".join(guest.log().splitlines()[-25:])
        extra = guest.qemu_output() if guest.proc.poll() is not None else ""
        raise Failure(f"{what or pattern!r} not seen in {guest.name}'s serial log within {timeout}s; "
                      f"last lines:\n    {tail}\n{extra}")
    return m


def expect_exit(guest, status, timeout=60):
    rc = guest.wait_exit(timeout)
    if rc is None:
        raise Failure(f"{guest.name} did not exit within {timeout}s (killed)")
    if rc != status:
        tail = "\n    ".join(guest.log().splitlines()[-25:])
        raise Failure(f"{guest.name} exited with QEMU status {rc}, expected {status}; last lines:\n    {tail}")


def free_port(kind=socket.SOCK_STREAM):
    """A free port on 127.0.0.1 for a hostfwd."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def connect(port, host="127.0.0.1", family=socket.AF_INET, timeout=30):
    """Connect, retrying while the guest is not yet listening behind QEMU's forward."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect((host, port))
            return s
        except OSError as e:
            s.close()
            if time.monotonic() > deadline:
                raise Failure(f"cannot connect to {host} port {port}: {e}")
            time.sleep(0.2)


def pvh_copy(kernel, workdir):
    """QEMU -kernel tries Multiboot1 before PVH; a copy with the MB1 magic cleared boots through the PVH note.
    The copy is <workdir>/<kernel name>-pvh.elf."""
    data = bytearray(open(kernel, "rb").read())
    off = data.find(struct.pack("<I", 0x1BADB002))
    if off < 0 or off >= 8192:
        raise Failure("no Multiboot1 header found in the kernel")
    data[off:off + 4] = b"\0\0\0\0"
    path = os.path.join(workdir, os.path.splitext(os.path.basename(kernel))[0] + "-pvh.elf")
    open(path, "wb").write(data)
    return path
