#!/usr/bin/env python3
"""Integration tests of the http appliance under QEMU (TCG), e1000 on user networking, port 80 forwarded to
127.0.0.1: stock curl for GET, HEAD, 404, 304, keep-alive, 405, 501, /status as JSON and the 1 MiB file; raw
sockets for pipelining, malformed requests (400), path traversal, chunked bodies (501), oversized headers
(431), a slowloris client (408 while another client is served), the connection limit (503, the server keeps
serving) and the access log's rate limit; HTTPS on 443 with openssl s_client (TLS 1.2, ECDHE + AEAD, the
fingerprint the console printed) and curl -k. One guest serves every test; each wait has a deadline."""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import shutil
import time

sys.path.insert(0, os.path.dirname(__file__))
from qemu_harness import Failure, Guest, Runner, expect, free_port, connect  # noqa: E402

READY_TIMEOUT = 90
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
WWW = os.path.join(ROOT, "appliances", "http", "www")
MAX_CONN = 8
REQUEST_TIMEOUT = 3
RESULTS = {}


def curl(port, *args, path="/", timeout=60, scheme="http"):
    cmd = ["curl", "-sS", "--max-time", str(timeout)] + list(args) + [f"{scheme}://127.0.0.1:{port}{path}"]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout + 10)
    if p.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-400:]}")
    return p


def split_response(data):
    """One response from the front of data: (status, headers dict lower-case, body, rest). Body by
    Content-Length (none for HEAD/304: pass head=True through the length 0 convention of the caller)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise Failure(f"no end of headers in {data[:200]!r}")
    head = data[:end].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", head[0])
    if not m:
        raise Failure(f"bad status line {head[0]!r}")
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, data[end + 4:]


class Reader:
    """A socket with the bytes an earlier read took beyond one response (pipelined responses)."""

    def __init__(self, s):
        self.s, self.buf = s, b""

    def more(self):
        b = self.s.recv(65536)
        if not b:
            raise Failure(f"connection closed with {len(self.buf)} bytes of a response: {self.buf[:200]!r}")
        self.buf += b


def read_response(rd, head=False, timeout=30):
    """Reads exactly one response (Content-Length framed); returns (status, headers, body)."""
    if not isinstance(rd, Reader):
        raise TypeError("read_response needs a Reader")
    rd.s.settimeout(timeout)
    while b"\r\n\r\n" not in rd.buf:
        rd.more()
    status, headers, _ = split_response(rd.buf)
    hlen = rd.buf.index(b"\r\n\r\n") + 4
    n = 0 if head or status == 304 else int(headers.get("content-length", "0"))
    while len(rd.buf) < hlen + n:
        rd.more()
    body = rd.buf[hlen:hlen + n]
    rd.buf = rd.buf[hlen + n:]
    return status, headers, body


def raw(port, request, timeout=30):
    """Sends request bytes on a new connection, returns everything until the server closes."""
    s = connect(port)
    try:
        s.sendall(request)
        s.settimeout(timeout)
        got = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            got += b
        return got
    finally:
        s.close()


def status_of(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", data)
    if not m:
        raise Failure(f"no status line in {data[:200]!r}")
    return int(m.group(1))


# ------------------------------------------------------------------------------------------------ tests
def t_get(g, port):
    p = curl(port, "-D", "-", "-o", os.path.join(g.workdir, "index.out"))
    status, h, _ = split_response(p.stdout)
    body = open(os.path.join(g.workdir, "index.out"), "rb").read()
    want = open(os.path.join(WWW, "index.html"), "rb").read()
    if status != 200 or body != want:
        raise Failure(f"GET / -> {status}, {len(body)} bytes (want 200 and index.html)")
    if int(h.get("content-length", -1)) != len(want):
        raise Failure(f"Content-Length {h.get('content-length')} for {len(want)} bytes")
    if not h.get("content-type", "").startswith("text/html"):
        raise Failure(f"Content-Type {h.get('content-type')!r}")
    if not re.match(r'"[0-9a-f]{16}"$', h.get("etag", "")):
        raise Failure(f"ETag {h.get('etag')!r}")
    for k in ("date", "last-modified"):
        if not re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", h.get(k, "")):
            raise Failure(f"{k}: {h.get(k)!r} is not an HTTP-date")
    year = int(h["date"].split()[3])
    if year < 2020:
        raise Failure(f"Date {h['date']!r} is not from the wall clock")
    p = curl(port, "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", path="/1k.html")
    if p.stdout != b"200 1024":
        raise Failure(f"GET /1k.html: {p.stdout!r}")


def t_head(g, port):
    p = curl(port, "-I")
    status, h, body = split_response(p.stdout)
    if status != 200 or h.get("content-length") != str(os.path.getsize(os.path.join(WWW, "index.html"))):
        raise Failure(f"HEAD / -> {status} {h}")
    got = raw(port, b"HEAD /1k.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    status, h, body = split_response(got)
    if status != 200 or h.get("content-length") != "1024" or body != b"":
        raise Failure(f"raw HEAD: {status}, Content-Length {h.get('content-length')}, {len(body)} body bytes")


def t_404(g, port):
    p = curl(port, "-o", "/dev/null", "-w", "%{http_code}", path="/no/such/file")
    if p.stdout != b"404":
        raise Failure(f"GET /no/such/file -> {p.stdout!r}")


def t_304(g, port):
    p = curl(port, "-I", path="/1k.html")
    etag = split_response(p.stdout)[1]["etag"]
    p = curl(port, "-D", "-", "-o", "/dev/null", "-H", f"If-None-Match: {etag}", path="/1k.html")
    status, h, _ = split_response(p.stdout)
    if status != 304 or h.get("etag") != etag:
        raise Failure(f"If-None-Match {etag} -> {status} {h}")
    p = curl(port, "-o", "/dev/null", "-w", "%{http_code}", "-H", 'If-None-Match: "0000000000000000"',
             path="/1k.html")
    if p.stdout != b"200":
        raise Failure(f"a stale If-None-Match -> {p.stdout!r}")


def t_keepalive(g, port):
    cmd = ["curl", "-sv", "--max-time", "30", "-o", "/dev/null", "-o", "/dev/null",
           f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/1k.html"]
    p = subprocess.run(cmd, capture_output=True, timeout=40)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0 or "Re-using existing connection" not in err:
        raise Failure(f"curl did not reuse the connection (rc {p.returncode}):\n{err[-800:]}")
    if err.count("< HTTP/1.1 200 OK") != 2:
        raise Failure("two 200 responses expected on the kept-alive connection")
    # HTTP/1.0 with Connection: keep-alive keeps the connection, plain HTTP/1.0 closes it.
    s = connect(port)
    try:
        rd = Reader(s)
        for _ in range(2):
            s.sendall(b"GET /1k.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            status, h, body = read_response(rd)
            if status != 200 or len(body) != 1024 or h.get("connection", "").lower() != "keep-alive":
                raise Failure(f"HTTP/1.0 keep-alive: {status} {h}")
    finally:
        s.close()
    got = raw(port, b"GET /1k.html HTTP/1.0\r\n\r\n")
    if status_of(got) != 200:
        raise Failure("HTTP/1.0 without keep-alive: no 200 before the close")


def t_pipelining(g, port):
    s = connect(port)
    try:
        s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: t\r\n\r\nGET /no-such HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        rd = Reader(s)
        st1, h1, b1 = read_response(rd)
        st2, _, _ = read_response(rd)
        st3, h3, _ = read_response(rd, head=True)
        st4, h4, b4 = read_response(rd)
    finally:
        s.close()
    if (st1, len(b1), st2, st3, st4) != (200, 1024, 404, 200, 200) or len(b4) != int(h4["content-length"]):
        raise Failure(f"pipelined responses out of order or wrong: {st1} {len(b1)}, {st2}, {st3}, {st4}")
    if h4.get("connection") != "close":
        raise Failure("the last pipelined request asked for close; no Connection: close")


def t_405_501(g, port):
    p = curl(port, "-D", "-", "-o", "/dev/null", "-X", "POST", "-d", "x=1")
    status, h, _ = split_response(p.stdout)
    if status != 405 or h.get("allow") != "GET, HEAD":
        raise Failure(f"POST -> {status}, Allow {h.get('allow')!r}")
    p = curl(port, "-o", "/dev/null", "-w", "%{http_code}", "-X", "BREW")
    if p.stdout != b"501":
        raise Failure(f"BREW -> {p.stdout!r}")


def t_bad_requests(g, port):
    cases = [
        (b"GET / HTTP/1.1\r\n\r\n", 400, "no Host"),
        (b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n", 400, "encoded traversal"),
        (b"GET /../../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n", 400, "traversal"),
        (b"GET /index.html%00 HTTP/1.1\r\nHost: t\r\n\r\n", 400, "NUL"),
        (b"GARBAGE\r\n\r\n", 400, "no target"),
        (b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501, "chunked"),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", 431, "big header"),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, "long request line"),
        (b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 9999999\r\n\r\n", 413, "big body"),
        (b"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505, "HTTP/3"),
    ]
    for req, want, what in cases:
        got = raw(port, req)
        st = status_of(got)
        if st != want or b"\r\nConnection: close\r\n" not in got:
            raise Failure(f"{what}: {st} (want {want}, with Connection: close): {got[:200]!r}")
    # A body on GET is skipped and the next request on the connection is answered.
    s = connect(port)
    try:
        s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = Reader(s)
        st1, _, b1 = read_response(rd)
        st2, _, b2 = read_response(rd)
    finally:
        s.close()
    if (st1, len(b1), st2) != (200, 1024, 200):
        raise Failure(f"GET with a body, then GET: {st1} {len(b1)}, {st2}")


def t_slowloris(g, port):
    slow = connect(port)
    try:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")
        t0 = time.monotonic()
        served = 0
        got = b""
        slow.setblocking(False)
        while time.monotonic() - t0 < REQUEST_TIMEOUT + 10:
            try:
                slow.send(b"X")  # one header byte at a time, never a line end
            except OSError:
                pass
            p = curl(port, "-o", "/dev/null", "-w", "%{http_code} %{time_total}", path="/1k.html", timeout=5)
            code, secs = p.stdout.decode().split()
            if code != "200" or float(secs) > 3:
                raise Failure(f"another client got {code} in {secs} s while the slow one was sending")
            served += 1
            try:
                b = slow.recv(4096)
                got += b
                if b"\r\n\r\n" in got or not b:
                    break
            except BlockingIOError:
                pass
            time.sleep(0.3)
        if status_of(got) != 408:
            raise Failure(f"the slow client got {got[:100]!r}, not 408")
        dt = time.monotonic() - t0
        if dt < REQUEST_TIMEOUT - 0.5:
            raise Failure(f"408 after {dt:.1f} s, before the {REQUEST_TIMEOUT} s timeout")
        RESULTS["slowloris_408_after_s"] = dt
        RESULTS["served_meanwhile"] = served
    finally:
        slow.close()


def t_status(g, port):
    p = curl(port, "-D", "-", path="/status")
    status, h, body = split_response(p.stdout)
    if status != 200 or h.get("content-type") != "application/json":
        raise Failure(f"/status -> {status} {h.get('content-type')}")
    try:
        j = json.loads(body)
    except ValueError as e:
        raise Failure(f"/status is not JSON ({e}): {body[:300]!r}")
    for k in ("version", "uptime_s", "hypervisor", "nics", "tcp", "udp", "memory", "http"):
        if k not in j:
            raise Failure(f"/status has no {k!r}: {sorted(j)}")
    nic = j["nics"][0]
    if nic["mac"] != "52:54:00:12:34:56" or not nic["link"] or "10.0.2.15/24" not in nic["addresses"]:
        raise Failure(f"/status NIC: {nic}")
    if not j["https"]["on"] or j["https"]["port"] != 443 or len(j["https"]["certificate_sha256"]) != 95:
        raise Failure(f"/status https: {j['https']}")
    if j["tcp"]["recv"] <= 0 or j["memory"]["heap_used"] <= 0 or j["http"]["requests"] <= 0:
        raise Failure(f"/status counters: tcp {j['tcp']}, memory {j['memory']}, http {j['http']}")


def t_big_file(g, port):
    t0 = time.monotonic()
    p = curl(port, "-o", "/dev/null", "-w", "%{http_code} %{size_download}", path="/1m.bin")
    dt = time.monotonic() - t0
    if p.stdout != b"200 1048576":
        raise Failure(f"GET /1m.bin: {p.stdout!r}")
    RESULTS["download_1MiB_MiB_per_s"] = 1 / dt


def t_limit_503(g, port):
    held = []
    try:
        # Each held connection is served once (so it is surely established, and kept alive, not timed out);
        # slirp opens its side of a burst of connections only a few per second.
        for _ in range(MAX_CONN):
            s = connect(port)
            held.append(s)
            s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: t\r\n\r\n")
            if read_response(Reader(s))[0] != 200:
                raise Failure("a connection below the limit was not served")
        got = raw(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", timeout=15)
        if status_of(got) != 503:
            raise Failure(f"connection {MAX_CONN + 1} of a limit of {MAX_CONN}: {got[:100]!r}")
        # The held connections are still served.
        held[0].sendall(b"GET /1k.html HTTP/1.1\r\nHost: t\r\n\r\n")
        st, _, b = read_response(Reader(held[0]))
        if st != 200 or len(b) != 1024:
            raise Failure(f"a held connection got {st} after the 503")
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 10
    while True:
        p = curl(port, "-o", "/dev/null", "-w", "%{http_code}", path="/1k.html")
        if p.stdout == b"200":
            break
        if time.monotonic() > deadline:
            raise Failure(f"after the held connections closed: {p.stdout!r}")
        time.sleep(0.3)


def t_access_log(g, port):
    expect(g, r'http: 127\.0\.0\.1:\d+ "GET /1k\.html" 200 \d+|http: 10\.0\.2\.2:\d+ "GET /1k\.html" 200 \d+',
           timeout=5, what="an access log line")
    # 100 pipelined requests at once: the log takes 20 a second, says how many it left out.
    s = connect(port)
    try:
        s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: t\r\n\r\n" * 99 + b"GET /1k.html HTTP/1.1\r\nHost: t\r\n"
                  b"Connection: close\r\n\r\n")
        rd = Reader(s)
        for n in range(100):
            st, _, b = read_response(rd)
            if st != 200 or len(b) != 1024:
                raise Failure(f"pipelined request {n}: {st}, {len(b)} bytes")
    finally:
        s.close()
    expect(g, r"http: \d+ requests not logged", timeout=5, what="the access log's 'not logged' line")


def t_https(g, port, sport):
    # openssl s_client: TLS 1.2, an ECDHE AEAD suite, the certificate whose fingerprint the console printed.
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{sport}", "-brief", "-ign_eof"],
                       input=b"GET /1k.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                       capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    if "Protocol version: TLSv1.2" not in err or not re.search(r"Ciphersuite: ECDHE-(ECDSA|RSA)-\S*(GCM|CHACHA20)", err):
        raise Failure(f"s_client: not TLS 1.2 with ECDHE and AEAD:\n{err[-600:]}")
    if not p.stdout.startswith(b"HTTP/1.1 200 OK") or len(split_response(p.stdout)[2]) != 1024:
        raise Failure(f"s_client: GET /1k.html over TLS -> {p.stdout[:120]!r}")
    m = expect(g, r"https: self-signed certificate .* SHA-256 fingerprint ([0-9A-F:]{95})", timeout=5,
               what="the certificate's fingerprint on the console")
    pem = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{sport}"], input=b"",
                         capture_output=True, timeout=30).stdout
    fp = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem, capture_output=True,
                        timeout=10).stdout.decode()
    if m.group(1) not in fp:
        raise Failure(f"served certificate {fp.strip()!r}, console said {m.group(1)}")
    # curl -k: two URLs on one TLS connection, bodies intact.
    out1, out2 = os.path.join(g.workdir, "https1.out"), os.path.join(g.workdir, "https2.out")
    p = subprocess.run(["curl", "-skv", "--max-time", "60", "-o", out1, "-o", out2, f"https://127.0.0.1:{sport}/",
                        f"https://127.0.0.1:{sport}/1m.bin"], capture_output=True, timeout=70)
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0 or "Re-using existing connection" not in err:
        raise Failure(f"curl -k https (rc {p.returncode}):\n{err[-600:]}")
    if open(out1, "rb").read() != open(os.path.join(WWW, "index.html"), "rb").read() or \
            os.path.getsize(out2) != 1 << 20:
        raise Failure("curl -k https: wrong bodies")
    # Plain HTTP to the TLS port is dropped, and HTTPS goes on.
    raw(sport, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", timeout=10)
    p = subprocess.run(["curl", "-sk", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}",
                        f"https://127.0.0.1:{sport}/status"], capture_output=True, timeout=40)
    if p.stdout != b"200":
        raise Failure(f"https /status after a plain-text client: {p.stdout!r}")


def status_json(port):
    p = curl(port, path="/status")
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise Failure(f"/status is not JSON ({e}): {p.stdout[:300]!r}")


def t_resources_idle(g, port):
    """After every other test's load (keep-alive, pipelining, slowloris, the 503 limit, 1 MiB downloads, HTTPS)
    and one more burst, what the stack holds returns to its idle value: only the /status request itself is
    open (one connection, its reply's segments and buffers), no NIC buffer stays lent, heap and buffer use do not
    grow from one load to the next."""
    def load():
        for _ in range(3):
            curl(port, "-o", "/dev/null", path="/1m.bin")
        if not shutil.which("ab"):
            raise Failure("ab is not installed (apache2-utils; make setup installs it)")
        subprocess.run(["ab", "-q", "-n", "500", "-c", "8", "-k", f"http://127.0.0.1:{port}/"],
                       capture_output=True, timeout=120)

    def settled():
        deadline = time.monotonic() + 15
        while True:
            r = status_json(port)["resources"]
            ok = (r["tcp_pcbs_active"] <= 1 and r["streams_open"] <= 1 and r["nic_rx_buffers_lent"] <= 2
                  and r["pbufs_pool"] == 0 and r["tcp_segments"] <= 8 and r["net_buffer_bytes"] <= 64 * 1024)
            if ok or time.monotonic() > deadline:
                return ok, r
            time.sleep(0.5)

    load()
    ok, first = settled()
    if not ok:
        raise Failure(f"after the load the stack still holds resources: {first}")
    heap1 = status_json(port)["memory"]["heap_used"]
    load()
    ok, second = settled()
    if not ok:
        raise Failure(f"after a second load the stack still holds resources: {second}")
    heap2 = status_json(port)["memory"]["heap_used"]
    if heap2 > heap1 + 256 * 1024:
        raise Failure(f"the heap grew by {(heap2 - heap1) // 1024} KiB over a repeated load ({heap1} -> {heap2})")


H2LOAD_TIME = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def h2load_max(out, what):
    """The max column of h2load's "time for <what>:" line, in seconds."""
    m = re.search(rf"time for {what}:\s+[\d.]+(?:us|ms|s)\s+([\d.]+)(us|ms|s)", out)
    if not m:
        raise Failure(f"h2load printed no 'time for {what}' line:\n{out}")
    return float(m.group(1)) * H2LOAD_TIME[m.group(2)]


def test_burst_over_tap(kernel, workdir, connections=128, requests=4000):
    """A burst of new connections over a tap device in a namespace (no slirp in the way): h2load opens
    `connections` at once and sends `requests` keep-alive requests. Every request succeeds, and no request or
    connect waits anywhere near a TCP retransmission (1 s): a dropped SYN or segment would show there."""
    if not shutil.which("h2load"):
        raise Failure("h2load is not installed (nghttp2-client; make setup installs it)")
    from net_test import Netns
    Netns.check_possible()
    ns = Netns()
    g = None
    try:
        g = ns.guest(kernel, workdir, "http-burst-tap")
        expect(g, r"http: ready on 192\.168\.77\.2 port 80", timeout=READY_TIMEOUT, what="the http ready line")
        url = "http://192.168.77.2/"
        ns.sh(f"curl -s -m 10 -o /dev/null {url}")  # ARP and the first connection out of the way
        r = ns.sh(f"h2load --h1 -n {requests} -c {connections} -m 1 {url}", check=False, timeout=120)
        out = r.stdout + r.stderr
        m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
        if r.returncode != 0 or not m or int(m.group(2)) != requests or int(m.group(3)) or int(m.group(4)):
            raise Failure(f"h2load -c {connections} over tap: not every request succeeded:\n{out}")
        worst = max(h2load_max(out, "connect"), h2load_max(out, "request"))
        if worst >= 0.9:
            raise Failure(f"h2load -c {connections} over tap: a connect or request took {worst:.2f} s (a stall):\n{out}")
        fin = re.search(r"finished in ([\d.]+)(ms|s)", out)
        RESULTS[f"burst over tap: {connections} connections, {requests} requests, seconds"] = \
            float(fin.group(1)) * H2LOAD_TIME[fin.group(2)] if fin else 0
    finally:
        if g:
            g.kill()
        ns.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--logs", default="build/test-logs/http")
    ap.add_argument("-k", dest="only", help="run only tests whose name contains this")
    args = ap.parse_args()
    r = Runner(args.logs)
    port, sport = free_port(), free_port()
    g = Guest(["-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:80,hostfwd=tcp:127.0.0.1:{sport}-:443",
               "-device", "e1000,netdev=n0",
               "-kernel", args.kernel, "-append",
               f"debug_exit=0xf4 http.timeout={REQUEST_TIMEOUT} http.max_connections={MAX_CONN}"],
              "http", r.workdir)
    try:
        def boot(_):
            expect(g, r"http: ready on 10\.0\.2\.15 port 80: try `curl http://10\.0\.2\.15/`",
                   timeout=READY_TIMEOUT, what="the http ready line")
        r.run("http-ready", boot, always=True)
        r.run("https-ready", lambda _: expect(g, r"https: ready on 10\.0\.2\.15 port 443", timeout=10,
                                              what="the https ready line"), always=True)
        if r.failed:
            return r.summary()
        tests = [
            ("http-get", t_get), ("http-head", t_head), ("http-404", t_404), ("http-304-if-none-match", t_304),
            ("http-keepalive", t_keepalive), ("http-pipelining", t_pipelining), ("http-405-501", t_405_501),
            ("http-400-413-414-431-501-505", t_bad_requests), ("http-status-json", t_status),
            ("http-1MiB", t_big_file), ("http-slowloris-408", t_slowloris), ("http-503-limit", t_limit_503),
            ("http-access-log", t_access_log), ("https-openssl-curl", lambda g, p: t_https(g, p, sport)),
            ("http-resources-return-to-idle", t_resources_idle),
        ]
        for name, fn in tests:
            if args.only and args.only not in name:
                continue
            r.run(name, lambda _w, fn=fn: fn(g, port))
    finally:
        g.kill()
    if not args.only or args.only in "http-burst-128-over-tap":
        r.run("http-burst-128-over-tap", lambda w: test_burst_over_tap(args.kernel, w))
    for k, v in RESULTS.items():
        print(f"measured: {k} = {v:.1f}")
    return r.summary()


if __name__ == "__main__":
    sys.exit(main())
