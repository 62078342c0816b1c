#!/usr/bin/python3
"""call.py - the smallest complete client in Python: one request.

Usage: call.py ENDPOINTS USER SECTOR TYPE MESSAGE INSZ CAPACITY
e.g.   call.py tcp://127.0.0.1:7100 ocmw-gent-app 31 0 A1 85073003328 1

ENDPOINTS is a comma-separated list of node client endpoints; the first
is used, the others take over if it does not answer. Prints the outcome
and each part; exits 0 when the status is OK. Run with the package on the
path: PYTHONPATH=client/python /usr/bin/python3 client/python/examples/call.py ...
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kruispunt import Client, Request, reason_name, status_name  # noqa: E402


def main(argv):
    if len(argv) != 8:
        print("usage: %s ENDPOINTS USER SECTOR TYPE MESSAGE INSZ CAPACITY" % argv[0],
              file=sys.stderr)
        return 2
    endpoints, user, sector, kind, message, person, capacity = argv[1:]
    request = Request(user=user, sector=int(sector), type=int(kind), message=message,
                      person=person, capacity=int(capacity))
    with Client(endpoints) as client:
        response = client.call(request, timeout_ms=5000)
    print(response.request_id, status_name(response.status), reason_name(response.reason),
          response.detail)
    for part in response.parts:
        print("  %s %s %s" % (part.kbo, status_name(part.status),
                              part.payload.decode("utf-8", "replace")))
    return 0 if status_name(response.status) == "OK" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
