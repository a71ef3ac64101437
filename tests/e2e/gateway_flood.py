#!/usr/bin/env python3
"""gateway_flood: the API gateway under hostile connections (its HTTP layer
on the in-memory bus, jung-api-gateway-fakebus).

1. An attacker at 127.0.0.2 opens 2,000 idle sockets and 1,100 that trickle
   one header byte every 2 s (slowloris). Meanwhile a valid client at
   127.0.0.1 sends a request every 50 ms on a keep-alive connection: every
   one is answered, p99 under 100 ms. The trickling sockets are closed by
   the header deadline (3 s here), not after the 60 s idle timeout.
2. With a budget of 40 connections and 60 held open, a request is answered
   503 with a reason and Connection: close, not dropped; once they close,
   requests are served again.

Usage: gateway_flood.py PATH/TO/jung-api-gateway-fakebus
Every address is on the loopback range of this machine."""
import http.client
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

EXE = sys.argv[1]
ATTACKER = "127.0.0.2"
AUTH = "Basic YWxpY2U6cHc="  # alice:pw
fails = []


def start_gateway(*args):
    log = tempfile.NamedTemporaryFile("w+", delete=False)
    proc = subprocess.Popen([EXE, "--port", "0", *args], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"http=http://[0-9.]+:(\d+)", open(log.name).read())
        if m:
            return proc, int(m.group(1)), log.name
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"FAIL: the gateway did not start: {open(log.name).read()[-500:]}")


def stop_gateway(proc, log):
    proc.terminate()
    try:
        rc = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "hung"
    if rc != 0:
        fails.append(f"exit status {rc} after SIGTERM: {open(log).read()[-300:]}")
    text = open(log).read()
    os.unlink(log)
    return text


def attacker_socket(port):
    s = socket.socket()
    s.bind((ATTACKER, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s


def valid_requests(port, seconds, interval):
    """Requests from 127.0.0.1 for `seconds`; latencies in ms, or failures."""
    lat, errors = [], []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=("127.0.0.1", 0))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            conn.request("GET", "/users/alice", headers={"Authorization": AUTH})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors.append(f"status {r.status}")
            else:
                lat.append((time.monotonic() - t0) * 1000)
        except (OSError, http.client.HTTPException) as e:
            errors.append(repr(e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        time.sleep(max(0, interval - (time.monotonic() - t0)))
    conn.close()
    return lat, errors


def flood():
    proc, port, log = start_gateway("--header-timeout-ms", "3000", "--max-client-connections", "256")
    # Trickling first: they take the attacker's 256 slots, so the header
    # deadline is what must free them; the rest meet the per-client limit.
    trickle = [attacker_socket(port) for _ in range(1100)]
    idle = [attacker_socket(port) for _ in range(2000)]
    # stays: the gateway's accept of 3,100 sockets has no event to wait on;
    # half a second lets it take them before the trickling starts
    time.sleep(0.5)
    for s in trickle:
        try:
            s.send(b"GET /users/alice HTTP/1.1\r\n")
        except OSError:
            pass
    start = time.monotonic()
    lat, errors = [], []
    next_trickle = start + 2
    while time.monotonic() - start < 12:
        l, e = valid_requests(port, 1.0, 0.05)
        lat += l
        errors += e
        if time.monotonic() >= next_trickle:
            for s in trickle:
                try:
                    s.send(b"X")
                except OSError:
                    pass
            next_trickle += 2
    lat.sort()
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("inf")
    print(f"flood: {len(lat)} valid requests answered, {len(errors)} failed, "
          f"p50 {lat[len(lat) // 2] if lat else 0:.1f} ms, p99 {p99:.1f} ms")
    if errors:
        fails.append(f"valid requests failed under the flood: {errors[:5]}")
    if len(lat) < 150:
        fails.append(f"only {len(lat)} valid requests in 12 s")
    if p99 >= 100:
        fails.append(f"p99 {p99:.1f} ms under the flood (want < 100)")
    # The trickling sockets were closed by the deadline (3 s), long before
    # the 60 s idle timeout: a read sees the close.
    closed = 0
    for s in trickle:
        try:
            s.setblocking(True)
            s.settimeout(0.2)
            if s.recv(1) == b"":
                closed += 1
        except ConnectionResetError:
            closed += 1
        except (socket.timeout, BlockingIOError, OSError):
            pass
    print(f"flood: {closed} of {len(trickle)} trickling sockets closed by the gateway within 12 s")
    if closed < len(trickle) * 0.99:
        fails.append(f"only {closed} of {len(trickle)} trickling sockets were closed by the header deadline")
    for s in idle + trickle:
        s.close()
    text = stop_gateway(proc, log)
    m = re.search(r"(\d+) connection\(s\) closed for sending no complete request within 3000 ms", text)
    print(f"flood: the gateway says: {m.group(0) if m else 'nothing'}")
    if not m or int(m.group(1)) < 200:
        fails.append("the header deadline closed fewer than 200 of the attacker's 256 slots")


def budget():
    proc, port, log = start_gateway("--max-connections", "40", "--max-client-connections", "1000",
                                    "--header-timeout-ms", "60000")
    held = [attacker_socket(port) for _ in range(60)]
    time.sleep(0.5)  # stays: as above, for the gateway to accept (count) the 60
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/users/alice", headers={"Authorization": AUTH})
    r = conn.getresponse()
    body = r.read().decode()
    print(f"budget: with 60 of 40 connections held: {r.status} {body} Connection: {r.getheader('Connection')}")
    if r.status != 503 or "limit of 40 connections" not in body or r.getheader("Connection") != "close":
        fails.append(f"over the budget: {r.status} {body} (want 503 naming the limit, Connection: close)")
    conn.close()
    for s in held:
        s.close()
    lat, errors = [], []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # until the held sockets' closes are seen
        lat, errors = valid_requests(port, 0.3, 0.1)
        if lat and not errors:
            break
    if not lat or errors:
        fails.append(f"not served again once the held connections closed: {errors[:3]}")
    stop_gateway(proc, log)


soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 8192
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(want, hard)), hard))
except ValueError:
    pass
if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 4000:
    print(f"SKIP: cannot open 3,100 sockets (RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)})")
    sys.exit(77)
flood()
budget()
for f in fails:
    print("FAIL:", f)
print("ok" if not fails else f"{len(fails)} check(s) failed")
sys.exit(1 if fails else 0)
