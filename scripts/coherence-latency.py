#!/usr/bin/env python3
"""Redis-side latency of the two coherence mechanisms, in the same run.

- pubsub:   PUBLISH on one connection -> message on a SUBSCRIBEd connection.
- tracking: SET of a key on one connection -> RESP3 `invalidate` push on a
            connection with CLIENT TRACKING ON that has read the key.

Both measure from just before the writer sends its command until the
listener's socket has the whole notification; no Strata code is involved.
Starts its own redis-server on a free port. Prints p50/p90/p99 in
microseconds.

    python3 scripts/coherence-latency.py [rounds]     # default 2000
"""
import socket, subprocess, sys, time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
    def send(self, *args):
        self.s.sendall(cmd(*args))
    def read_until(self, needle):
        while needle not in self.buf:
            self.buf += self.s.recv(65536)
        i = self.buf.index(needle) + len(needle)
        self.buf = self.buf[i:]
    def drain_reply(self):
        # one simple reply line (+OK, :1, $-1 / bulk); enough for this script
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, _, rest = self.buf.partition(b"\r\n")
        self.buf = rest
        if line.startswith(b"$") and line != b"$-1":
            n = int(line[1:])
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            self.buf = self.buf[n + 2:]

def pct(samples, p):
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(len(samples) * p))]

def report(name, samples):
    us = [s * 1e6 for s in samples]
    print(f"{name:9} rounds {len(us)}: p50 {pct(us,.5):.0f} us, p90 {pct(us,.9):.0f} us, p99 {pct(us,.99):.0f} us")

def main():
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close(); break
            except OSError:
                time.sleep(0.05)
        # pub/sub
        sub, pub = Conn(port), Conn(port)
        sub.send("SUBSCRIBE", "strata:coherence"); sub.read_until(b":1\r\n")
        samples = []
        for i in range(ROUNDS):
            payload = b"m%08d" % i
            t0 = time.perf_counter()
            pub.send("PUBLISH", "strata:coherence", payload)
            sub.read_until(payload + b"\r\n")
            samples.append(time.perf_counter() - t0)
            pub.drain_reply()
        report("pubsub", samples)
        # RESP3 client tracking
        tracker, writer = Conn(port), Conn(port)
        tracker.send("HELLO", "3"); tracker.read_until(b"modules")
        tracker.buf = b""
        tracker.send("CLIENT", "TRACKING", "ON"); tracker.read_until(b"+OK\r\n")
        samples = []
        for i in range(ROUNDS):
            key = b"k%08d" % (i % 100)
            writer.send("SET", key, "v"); writer.drain_reply()
            tracker.send("GET", key); tracker.read_until(b"v\r\n")
            t0 = time.perf_counter()
            writer.send("SET", key, "w")
            tracker.read_until(key + b"\r\n")
            samples.append(time.perf_counter() - t0)
            writer.drain_reply()
        report("tracking", samples)
    finally:
        server.terminate(); server.wait()

main()
