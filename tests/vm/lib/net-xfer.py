#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest side of a bulk TCP transfer to tests/vm/cases/net.host (reached as
10.0.2.2 through QEMU user networking): upload MIB MiB of random data and
compare the SHA-256 the host replies with, then download the host's payload
and compare it with the digest the host wrote to OUT/net-download.sha256
(through the out share).  Exits 0 only if both directions match.

Usage: net-xfer.py PORT OUT MIB"""
import hashlib
import os
import socket
import sys
import time

port, out, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) << 20


def conn():
    for _ in range(100):
        try:
            return socket.create_connection(("10.0.2.2", port), timeout=120)
        except OSError:
            time.sleep(0.2)
    sys.exit("cannot connect to 10.0.2.2:%d" % port)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        if not c:
            break
        buf += c
    return buf


data = os.urandom(size)
want = hashlib.sha256(data).hexdigest()
t = time.time()
s = conn()
s.sendall(b"U" + size.to_bytes(8, "big") + data)
got = recv_exact(s, 64).decode()
s.close()
dt = time.time() - t
print("upload   %d MiB in %.1f s (%.1f MiB/s): host sha256 %s"
      % (size >> 20, dt, size / dt / 2**20, got))
up_ok = got == want
print("%s: guest->host sha256 matches" % ("ok" if up_ok else "FAIL"))

t = time.time()
s = conn()
s.sendall(b"D")
total = int.from_bytes(recv_exact(s, 8), "big")
h, n = hashlib.sha256(), 0
while n < total:
    c = s.recv(1 << 20)
    if not c:
        break
    h.update(c)
    n += len(c)
s.close()
dt = time.time() - t
with open(os.path.join(out, "net-download.sha256")) as f:
    ref = f.read().strip()
print("download %d MiB in %.1f s (%.1f MiB/s)" % (n >> 20, dt, n / dt / 2**20))
down_ok = n == total and h.hexdigest() == ref
print("%s: host->guest sha256 matches (%s)"
      % ("ok" if down_ok else "FAIL", h.hexdigest()))
sys.exit(0 if up_ok and down_ok else 1)
