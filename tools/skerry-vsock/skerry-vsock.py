#!/usr/bin/env python3
"""skerry-vsock: forward a local TCP port to a guest's vsock port.

    skerry-vsock --uds /run/fc/v.sock --port 80 --listen 127.0.0.1:8080    # Firecracker hybrid vsock
    skerry-vsock --cid 3 --port 80 --listen 8080                           # the host's AF_VSOCK (vhost-vsock)

Each TCP connection accepted on --listen becomes one vsock connection to the guest's --port:
  --uds  connects to Firecracker's vsock Unix socket, sends "CONNECT <port>\\n" and waits for the "OK ..." line;
  --cid  connects an AF_VSOCK socket to (cid, port).
Then bytes are copied both ways; an EOF in one direction is passed on as a half-close, so request/response
clients (curl, nc -N, iperf3) work. A connection the guest refuses is closed at once. Ctrl-C stops it.
"""
import argparse
import os
import signal
import socket
import sys
import threading

HANDSHAKE_TIMEOUT = 5.0  # Firecracker gives up on a guest that does not answer within 2 s
CHUNK = 256 * 1024


def log(msg):
    print(f"skerry-vsock: {msg}", file=sys.stderr, flush=True)


def open_uds(path, port):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(HANDSHAKE_TIMEOUT)
    try:
        s.connect(path)
        s.sendall(f"CONNECT {port}\n".encode())  # one write: Firecracker reads the line as it arrives
        line = b""
        while not line.endswith(b"\n"):
            b = s.recv(1)  # byte by byte: nothing after the line may be consumed here
            if not b or len(line) > 64:
                raise OSError(f"the guest refused vsock port {port} (no OK from {path})")
            line += b
        if not line.startswith(b"OK "):
            raise OSError(f"unexpected answer {line!r} from {path}")
        s.settimeout(None)
        return s
    except BaseException:
        s.close()
        raise


def open_vsock(cid, port):
    if not hasattr(socket, "AF_VSOCK"):
        raise OSError("this Python has no AF_VSOCK")
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    s.settimeout(HANDSHAKE_TIMEOUT)
    try:
        s.connect((cid, port))
        s.settimeout(None)
        return s
    except BaseException:
        s.close()
        raise


def pump(src, dst, done):
    """Copy src to dst until EOF, then half-close dst; on an error close both."""
    try:
        while True:
            b = src.recv(CHUNK)
            if not b:
                break
            dst.sendall(b)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        done()


def serve(client, peer, args):
    # No Nagle towards the client: what the guest sent is passed on at once (a request/response client would
    # otherwise wait on the second segment of a reply, as through any forwarder).
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if args.uds:
            guest = open_uds(args.uds, args.port)
        else:
            guest = open_vsock(args.cid, args.port)
    except OSError as e:
        log(f"{peer[0]}:{peer[1]}: {e}")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        client.close()
        return
    left = [2]
    lock = threading.Lock()

    def done():
        with lock:
            left[0] -= 1
            if left[0] == 0:
                client.close()
                guest.close()

    threading.Thread(target=pump, args=(client, guest, done), daemon=True).start()
    threading.Thread(target=pump, args=(guest, client, done), daemon=True).start()


def parse_listen(text):
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


def main():
    ap = argparse.ArgumentParser(prog="skerry-vsock", description="Forward a local TCP port to a guest vsock port.")
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--uds", help="Firecracker hybrid vsock Unix socket (the VM's vsock uds_path)")
    target.add_argument("--cid", type=int, help="guest CID, through the host's AF_VSOCK (vhost-vsock)")
    ap.add_argument("--port", type=int, required=True, help="guest vsock port")
    ap.add_argument("--listen", default="127.0.0.1:0",
                    help="local TCP [address:]port to listen on (default 127.0.0.1, port 0 = any free port)")
    args = ap.parse_args()
    if not 0 <= args.port <= 0xFFFFFFFF:
        ap.error("--port must fit in 32 bits")
    host, lport = parse_listen(args.listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((host, lport))
    except OSError as e:
        ap.exit(1, f"skerry-vsock: cannot listen on {host}:{lport}: {e}\n")
    srv.listen(128)
    bound = srv.getsockname()
    via = f"hybrid vsock {args.uds}" if args.uds else f"AF_VSOCK CID {args.cid}"
    # This line is the readiness signal scripts wait for.
    print(f"skerry-vsock: forwarding {bound[0]}:{bound[1]} -> vsock port {args.port} via {via}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    try:
        while True:
            client, peer = srv.accept()
            threading.Thread(target=serve, args=(client, peer, args), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
