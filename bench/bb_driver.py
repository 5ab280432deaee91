#!/usr/bin/env python3
"""Drive prometheus-blackbox-exporter the way Prometheus does: one /probe
request per target per interval, TARGETS targets, for SECONDS seconds.
Prints the number of probes answered and how many reported success."""
import http.client
import sys
import threading
import time

host, port, targets, interval, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
done = 0
ok = 0
lock = threading.Lock()


def worker(first: int, step: int) -> None:
    global done, ok
    conn = http.client.HTTPConnection(host, port, timeout=10)
    end = time.monotonic() + seconds
    next_round = time.monotonic()
    while time.monotonic() < end:
        for t in range(first, targets, step):
            path = f"/probe?module=tcp_connect&target=127.0.{1 + t // 250}.{1 + t % 250}:18080"
            conn.request("GET", path)
            body = conn.getresponse().read()
            with lock:
                done += 1
                ok += b"\nprobe_success 1" in body
        next_round += interval
        delay = next_round - time.monotonic()
        if delay > 0:
            time.sleep(delay)


threads = [threading.Thread(target=worker, args=(i, 8)) for i in range(8)]
for th in threads:
    th.start()
for th in threads:
    th.join()
print(done, ok)
