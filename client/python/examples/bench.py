#!/usr/bin/python3
"""bench.py - calls per second of the Python stub against a running node.

Usage: bench.py ENDPOINTS INFLIGHT SECONDS
Sends the sample directory's OK request (ocmw-gent-app asks A1 about
85073003328 in capacity 1) with INFLIGHT requests outstanding for SECONDS,
then prints the answered calls per second and the statuses. A node with
the sample directory and an echo provider for 0206731645 must run.
"""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kruispunt import Client, Request, status_name  # noqa: E402


def main(argv):
    if len(argv) != 4:
        print("usage: %s ENDPOINTS INFLIGHT SECONDS" % argv[0], file=sys.stderr)
        return 2
    endpoints, inflight, seconds = argv[1], int(argv[2]), float(argv[3])
    request = Request(user="ocmw-gent-app", sector=31, type=0, message="A1",
                      person="85073003328", capacity=1)
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
