"""A guest with a vsock device and no NIC, behind the vhost-user test backend (build/tools/skerry-vsock-backend,
Firecracker's hybrid vsock on the host side): the vsock tests' and the benchmark's one way to start such a guest.

    vm = VsockVm("q35", kernel, "name", tools, workdir, cmdline="...", initrd=None)
    s = vm.hybrid(7)            # a host-initiated connection (CONNECT 7 / OK), or None if refused
    tool, port = vm.forward(80) # skerry-vsock forwarding 127.0.0.1:<port> to guest port 80
    vm.stats(), vm.cpu_seconds(), vm.stop()

q35 uses vhost-user-vsock-pci; microvm the MMIO vhost-user-vsock-device (virtio-mmio v2). The guest's memory is a
shared memfd, which vhost-user needs (docs/protocols/vsock.md)."""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Guest, pvh_copy  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def read_line(sock, limit=64):
    line = b""
    while not line.endswith(b"\n"):
        b = sock.recv(1)
        if not b or len(line) > limit:
            return None
        line += b
    return line


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class VsockVm:
    """The backend, then QEMU with `kernel` (and `initrd`: the Linux guest); stop() leaves no process or socket."""

    def __init__(self, machine, kernel, name, tools, workdir, cmdline="", initrd=None, mem="128M", backend_args=(),
                 cpu=None):
        self.dir = tempfile.mkdtemp(prefix=f"vsock-{machine}-")  # short: a Unix socket path has at most 107 bytes
        self.vu = os.path.join(self.dir, "vu.sock")
        self.uds = os.path.join(self.dir, "v.sock")
        self.tools = tools
        self.backend_log = os.path.join(workdir, f"{name}.backend.log")
        self.tool_log = os.path.join(workdir, f"{name}.skerry-vsock.log")
        extra = list(backend_args) + os.environ.get("VSOCK_BACKEND_ARGS", "").split()  # e.g. -v -v -v
        self.backend = subprocess.Popen(
            [os.path.join(tools, "skerry-vsock-backend"), "--socket", self.vu, "--uds", self.uds, "--cid", "3"] + extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.backend_log, "w"))
        self.guest = None
        deadline = time.monotonic() + 10
        while not os.path.exists(self.uds):
            if time.monotonic() > deadline or self.backend.poll() is not None:
                raise Failure(f"the backend did not start: {open(self.backend_log).read()}")
            time.sleep(0.02)
        if machine == "q35":
            m = ["-machine", "q35,memory-backend=mem0", "-device", "vhost-user-vsock-pci,chardev=vu0"]
        else:
            # Linux: acpi=off (Debian's kernel stops at its timer set-up on microvm's hardware-reduced ACPI under
            # TCG); with the MP table it boots and QEMU appends virtio_mmio.device=, as Firecracker does.
            m = ["-machine", f"microvm,{'acpi=off,' if initrd else ''}memory-backend=mem0",
                 "-global", "virtio-mmio.force-legacy=false", "-device", "vhost-user-vsock-device,chardev=vu0"]
            if not initrd:
                kernel = pvh_copy(kernel, workdir)
        qargs = m + (["-cpu", cpu] if cpu else []) + ["-object", f"memory-backend-memfd,id=mem0,size={mem},share=on",
                     "-chardev", f"socket,id=vu0,path={self.vu}", "-nic", "none", "-kernel", kernel]
        if initrd:
            qargs += ["-initrd", initrd, "-append", f"console=ttyS0 quiet {cmdline}".strip()]
        else:
            qargs += ["-append", f"debug_exit=0xf4 {cmdline}".strip()]
        self.guest = Guest(qargs, name, workdir, mem=mem)

    def hybrid(self, port, timeout=10):
        """A host-initiated connection to guest `port`; None if refused."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.uds)
        s.sendall(f"CONNECT {port}\n".encode())
        line = read_line(s)
        if not line or not line.startswith(b"OK "):
            s.close()
            return None
        return s

    def forward(self, port):
        """skerry-vsock forwarding a local TCP port to guest `port`: (process, local port)."""
        tool = subprocess.Popen([sys.executable, os.path.join(self.tools, "skerry-vsock"), "--uds", self.uds,
                                 "--port", str(port), "--listen", "127.0.0.1:0"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=open(self.tool_log, "a"))
        r, _, _ = select.select([tool.stdout], [], [], 10)
        line = tool.stdout.readline().decode() if r else ""
        if "forwarding 127.0.0.1:" not in line:
            tool.kill()
            raise Failure(f"skerry-vsock did not start: {line!r}")
        return tool, int(line.split("127.0.0.1:")[1].split()[0])

    def stats(self):
        """The backend's counters (its STATS line)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.uds)
        s.sendall(b"STATS\n")
        data = b""
        while not data.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        return json.loads(data)

    def cpu_seconds(self):
        """The backend's CPU time so far."""
        return cpu_seconds(self.backend.pid)

    def stop(self):
        if self.guest:
            self.guest.kill()
        if self.backend.poll() is None:
            self.backend.send_signal(signal.SIGTERM)
            try:
                self.backend.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.backend.kill()
                self.backend.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
