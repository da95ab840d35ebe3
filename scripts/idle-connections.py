#!/usr/bin/env python3
"""Server RSS per idle Primus connection.

Usage: start a release server (e.g. `ROOST_PRIMUS__PING_INTERVAL_MS=0 target/release/roost serve --port 38510`),
then `python3 scripts/idle-connections.py 38510 <server pid> 5000`. Opens 200 warm-up
connections, then N more raw websocket upgrades that stay idle, and prints the RSS delta per
connection read from /proc/<pid>/status (Linux only).
"""
import socket, sys, time, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /primus?_primuscb=x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf: buf += s.recv(4096)
    assert b" 101 " in buf.split(b"\r\n")[0], buf
    return s
socks = [conn() for _ in range(200)]  # warm up
time.sleep(1); base = rss()
socks += [conn() for _ in range(n)]
time.sleep(2); after = rss()
print(f"base {base} KiB, after {n} more idle: {after} KiB, per connection {(after-base)*1024/n/1024:.2f} KiB")
