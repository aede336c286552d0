"""Hostile-client measurements of a tracking server (issue 11), standard library only.

    /usr/bin/python3 hostile_bench.py --url http://127.0.0.1:PORT --pid PID --name NAME

Prints one JSON object:
  rss_start_mib / rss_end_mib  the server's RSS before and after BODIES malformed bodies of
                               BODY_MB MB of '[' (POST /api/v1/runs/x/metrics), one at a time
  health_ms_p50 / _max         GET /api/v1/health (a fresh connection each) while IDLE
                               connections are open and silent
  chunked_refused_s / _mib     a chunked body of up to CHUNKED_MB MB: seconds until the server
                               answered or closed, and how much of it had been sent by then
"""
import argparse
import json
import socket
import statistics
import time
from urllib.parse import urlparse


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def connect(host, port, timeout=30):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_reply(s, timeout):
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    except (socket.timeout, ConnectionError):
        pass
    status = int(data[9:12]) if data.startswith(b"HTTP/1.") else 0
    return status


def malformed_bodies(host, port, n, mb):
    body = b"[" * (mb << 20)
    statuses = {}
    for _ in range(n):
        try:
            s = connect(host, port)
            s.sendall(b"POST /api/v1/runs/x/metrics HTTP/1.1\r\nHost: b\r\nContent-Type: "
                      b"application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                      % len(body) + body)
            st = read_reply(s, 60)
            s.close()
        except OSError:
            st = 0
        statuses[st] = statuses.get(st, 0) + 1
    return statuses


def health(host, port, timeout=10):
    t = time.perf_counter()
    try:
        s = connect(host, port, timeout)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        st = read_reply(s, timeout)
        s.close()
    except OSError:
        st = 0
    return (time.perf_counter() - t) * 1000, st


def chunked_flood(host, port, mb):
    s = connect(host, port)
    s.sendall(b"POST /api/v1/runs/x/metrics HTTP/1.1\r\nHost: b\r\nContent-Type: "
              b"application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"100000\r\n" + b"[" * (1 << 20) + b"\r\n"
    start = time.perf_counter()
    sent = 0
    s.setblocking(False)
    import select
    status = 0
    while sent < mb:
        r, w, _ = select.select([s], [s], [], 30)
        if r:
            break  # the server answered (or closed) before the body ended
        if not w:
            break
        try:
            n = s.send(piece)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            break
        if n < len(piece):
            s.setblocking(True)
            try:
                s.sendall(piece[n:])
            except OSError:
                break
            s.setblocking(False)
        sent += 1
    s.setblocking(True)
    status = read_reply(s, 30)
    elapsed = time.perf_counter() - start
    s.close()
    return elapsed, sent, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--bodies", type=int, default=100)
    ap.add_argument("--body-mb", type=int, default=10)
    ap.add_argument("--idle", type=int, default=500)
    ap.add_argument("--chunked-mb", type=int, default=1024)
    a = ap.parse_args()
    u = urlparse(a.url)
    host, port = u.hostname, u.port
    out = {}
    health(host, port)
    out["rss_start_mib"] = rss_mib(a.pid)
    out["body_statuses"] = malformed_bodies(host, port, a.bodies, a.body_mb)
    time.sleep(1)
    out["rss_end_mib"] = rss_mib(a.pid)

    idle = []
    for _ in range(a.idle):
        try:
            idle.append(connect(host, port, 5))
        except OSError:
            break
    out["idle_open"] = len(idle)
    time.sleep(0.5)
    lat, statuses = [], {}
    for _ in range(20):
        ms, st = health(host, port, 10)
        lat.append(ms)
        statuses[st] = statuses.get(st, 0) + 1
    out["health_ms_p50"] = statistics.median(lat)
    out["health_ms_max"] = max(lat)
    out["health_statuses"] = statuses
    for s in idle:
        s.close()

    time.sleep(0.5)
    elapsed, sent, st = chunked_flood(host, port, a.chunked_mb)
    out["chunked_refused_s"] = elapsed
    out["chunked_sent_mib"] = sent
    out["chunked_status"] = st
    time.sleep(1)
    out["rss_after_chunked_mib"] = rss_mib(a.pid)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
