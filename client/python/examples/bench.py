#!/usr/bin/python3
"""bench.py - calls per second of the Python stub against a running node.

Usage: bench.py ENDPOINTS INFLIGHT SECONDS [USER SECTOR TYPE MESSAGE INSZ CAPACITY]
Sends one request (by default the sample directory's OK request:
ocmw-gent-app asks A1 about 85073003328 in capacity 1) with INFLIGHT
requests outstanding for SECONDS, then prints the answered calls per
second and the statuses. A node whose directory allows the request, with
an echo provider, must run.
"""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kruispunt import Client, Request, status_name  # noqa: E402


def main(argv):
    if len(argv) not in (4, 10):
        print("usage: %s ENDPOINTS INFLIGHT SECONDS [USER SECTOR TYPE MESSAGE INSZ CAPACITY]"
              % argv[0], file=sys.stderr)
        return 2
    endpoints, inflight, seconds = argv[1], int(argv[2]), float(argv[3])
    user, sector, kind, message, person, capacity = argv[4:] if len(argv) == 10 else \
        ("ocmw-gent-app", "31", "0", "A1", "85073003328", "1")
    request = Request(user=user, sector=int(sector), type=int(kind), message=message,
                      person=person, capacity=int(capacity))
    statuses = collections.Counter()
    with Client(endpoints) as client:
        for _ in range(inflight):
            client.send(request, 10000)
        start = time.monotonic()
        end = start + seconds
        answered = 0
        while time.monotonic() < end:
            response = client.recv(10000)
            statuses[status_name(response.status)] += 1
            answered += 1
            client.send(request, 10000)
        elapsed = time.monotonic() - start
        for _ in range(client.pending()):
            client.recv(10000)
    print("python stub: %d in flight, %.0f calls/s over %.1f s %s" %
          (inflight, answered / elapsed, elapsed, dict(statuses)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
