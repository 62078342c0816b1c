"""kruispunt - the client stub for institution applications, in Python.

    from kruispunt import Client, Request
    with Client(["tcp://node-1:7100", "tcp://node-2:7100"]) as client:
        response = client.call(Request(user="app-1", sector=17, type=1, message="A1",
                                       person="85073003328", capacity=1), timeout_ms=5000)
        print(status_name(response.status), [p.payload for p in response.parts])

The same behaviour as the C stub (client/kp_client.h): request ids,
failover to the next endpoint under the same id, SHUTTING_DOWN means the
next node now, every request answered exactly once (a TIMEOUT response made
by the client when no node answered in time). See client.py.
"""
from ._proto import REASON, STATUS, Part, Request, Response
from .client import Client, reason_name, status_name

__all__ = ["Client", "Request", "Response", "Part", "STATUS", "REASON", "status_name",
           "reason_name"]
