"""Tests of the Python client stub.

Against real kpnode processes (env KPNODE, KPCTL, KP_SOURCE_ROOT: the
sample directory, echo providers run by kpctl provider): calls, refusals,
pipelining, failover under the same id, SHUTTING_DOWN; CURVE with a secure
node (keys made by kpctl keys, checked by the node's ZAP handler). Against
a node faked here with a ROUTER: hostile frames, copies, the client's own
TIMEOUT.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import zmq
import zmq.auth

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kruispunt import Client, Request, Response, STATUS, REASON, reason_name  # noqa: E402

KPNODE = os.environ.get("KPNODE")
KPCTL = os.environ.get("KPCTL")
SOURCE = os.environ.get("KP_SOURCE_ROOT")
GENT = dict(user="ocmw-gent-app", sector=31, type=0, message="A1", person="85073003328")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds=10, what="condition"):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("waited %s s for %s" % (seconds, what))


class Cluster:
    """Two independent nodes on loopback with the sample directory and an
    echo provider (with delay_ms) serving both."""

    def __init__(self, delay_ms=0):
        self.dir = tempfile.mkdtemp(prefix="kp-python-")
        self.config = os.path.join(self.dir, "cluster.cfg")
        self.clients, self.procs, self.nodes = [], [], {}
        #   Plain text: these tests are about calls and failover; SecureNode
        #   has the stub speak CURVE to a real node.
        lines = ["cluster", "    heartbeat = 100", "    deadline = 3000", "    insecure = true",
                 "node"]
        for i in (1, 2):
            ports = [free_port() for _ in range(3)]
            self.clients.append("tcp://127.0.0.1:%d" % ports[0])
            lines += ["    node-%d" % i, '        site = "s%d"' % i,
                      '        data = "%s/node-%d"' % (self.dir, i),
                      '        client = "tcp://127.0.0.1:%d"' % ports[0],
                      '        worker = "tcp://127.0.0.1:%d"' % ports[1],
                      '        admin = "tcp://127.0.0.1:%d"' % ports[2]]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        sample = os.path.join(SOURCE, "cluster-config", "sample-directory.jsonl")
        for i in (1, 2):
            subprocess.run([KPCTL, "directory", "import", sample, "--data",
                            "%s/node-%d" % (self.dir, i)], check=True, stdout=subprocess.DEVNULL)
            self.start(i)
        args = [KPCTL, "provider", "-c", self.config, "--kbo", "0206731645", "--message", "A1",
                "--echo", "--quiet", "--concurrency", "64"]
        if delay_ms:
            args += ["--delay-ms", str(delay_ms)]
        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        for i in (1, 2):
            wait_until(lambda: b'"0206731645"' in self.status(i), what="the provider on node-%d" % i)

    def start(self, i):
        with open(os.path.join(self.dir, "node-%d.log" % i), "ab") as log:
            self.nodes[i] = subprocess.Popen([KPNODE, "--config", self.config, "--name",
                                              "node-%d" % i], stdout=log, stderr=log)
        wait_until(lambda: self.status(i), seconds=60, what="node-%d" % i)

    def status(self, i):
        done = subprocess.run([KPCTL, "status", "-c", self.config, "--node", "node-%d" % i,
                               "--json", "--timeout", "200"], capture_output=True)
        return done.stdout if done.returncode == 0 else b""

    def close(self):
        for p in self.procs + list(self.nodes.values()):
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class SecureCluster:
    """One secure node (CURVE everywhere, its ZAP handler on the directory's
    key table) with the sample directory, keys made by kpctl keys, and an
    echo provider connected with its own provider key."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kp-python-secure-")
        self.config = os.path.join(self.dir, "cluster.cfg")
        keys = os.path.join(self.dir, "keys")
        self.cert = {}
        records = []
        for name, kind, identity in (("node-1", None, None),
                                     ("operator", "operator", "python-test"),
                                     ("app", "application", GENT["user"]),
                                     ("provider", "provider", "0206731645")):
            self.cert[name] = os.path.join(keys, name + ".cert")
            subprocess.run([KPCTL, "keys", "new", self.cert[name]], check=True,
                           stdout=subprocess.DEVNULL)
            if kind:
                done = subprocess.run([KPCTL, "keys", "show", self.cert[name], "--kind", kind,
                                       "--identity", identity], check=True, capture_output=True,
                                      text=True)
                records.append(done.stdout.strip())
        self.client = "tcp://127.0.0.1:%d" % free_port()
        lines = ["cluster", "    heartbeat = 100", "    deadline = 3000", "node", "    node-1",
                 '        site = "s1"',
                 '        data = "%s/node-1"' % self.dir,
                 '        client = "%s"' % self.client,
                 '        worker = "tcp://127.0.0.1:%d"' % free_port(),
                 '        admin = "tcp://127.0.0.1:%d"' % free_port(),
                 '        cert = "%s"' % self.cert["node-1"]]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        sample = os.path.join(SOURCE, "cluster-config", "sample-directory.jsonl")
        directory = os.path.join(self.dir, "directory.jsonl")
        with open(sample) as f, open(directory, "w") as out:
            out.write(f.read().rstrip("\n") + "\n" + "\n".join(records) + "\n")
        subprocess.run([KPCTL, "directory", "import", directory, "--data",
                        "%s/node-1" % self.dir], check=True, stdout=subprocess.DEVNULL)
        self.procs = []
        with open(os.path.join(self.dir, "node-1.log"), "ab") as log:
            self.procs.append(subprocess.Popen([KPNODE, "--config", self.config, "--name",
                                                "node-1"], stdout=log, stderr=log))
        wait_until(lambda: self.status(), what="the secure node")
        self.procs.append(subprocess.Popen(
            [KPCTL, "provider", "-c", self.config, "--cert", self.cert["provider"], "--kbo",
             "0206731645", "--message", "A1", "--echo", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: b'"0206731645"' in self.status(), what="the provider")
        self.server_key = zmq.auth.load_certificate(self.cert["node-1"])[0]

    def keys(self, name):
        """(public, secret) of certificate name, as Z85 bytes."""
        return zmq.auth.load_certificate(self.cert[name] + "_secret")

    def status(self):
        done = subprocess.run([KPCTL, "status", "-c", self.config, "--cert",
                               self.cert["operator"], "--json", "--timeout", "200"],
                              capture_output=True)
        return done.stdout if done.returncode == 0 else b""

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if os.environ.get("KP_KEEP"):
            print("kept", self.dir)
            return
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(KPNODE and KPCTL and SOURCE, "needs KPNODE, KPCTL and KP_SOURCE_ROOT")
class SecureNode(unittest.TestCase):
    def setUp(self):
        self.cluster = SecureCluster()
        self.addCleanup(self.cluster.close)

    def test_curve_with_a_real_node(self):
        public, secret = self.cluster.keys("app")
        with Client([self.cluster.client], curve_server_key=self.cluster.server_key,
                    curve_public_key=public, curve_secret_key=secret) as client:
            response = client.call(Request(capacity=1, **GENT), timeout_ms=5000)
            self.assertEqual(response.status, STATUS["OK"], response)
            self.assertIn(b'"person":"85073003328"', response.parts[0].payload)
        # The wrong server key: no handshake, the client's own timeout.
        wrong, _ = zmq.curve_keypair()
        with Client([self.cluster.client], curve_server_key=wrong, curve_public_key=public,
                    curve_secret_key=secret) as client:
            self.assertEqual(client.call(Request(capacity=1, **GENT), 800).status,
                             STATUS["TIMEOUT"])
        # A key the directory does not hold, and plain text: refused alike.
        stranger_public, stranger_secret = zmq.curve_keypair()
        with Client([self.cluster.client], curve_server_key=self.cluster.server_key,
                    curve_public_key=stranger_public, curve_secret_key=stranger_secret) as client:
            self.assertEqual(client.call(Request(capacity=1, **GENT), 800).status,
                             STATUS["TIMEOUT"])
        with Client([self.cluster.client]) as client:
            self.assertEqual(client.call(Request(capacity=1, **GENT), 800).status,
                             STATUS["TIMEOUT"])
        # The stranger's key was refused by the node's ZAP handler, and
        # counted (the wrong server key and plain text fail before it).
        client = json.loads(self.cluster.status())["security"]["handshakes"]["client"]
        self.assertGreaterEqual(client["accepted"], 1)
        self.assertGreaterEqual(client["refused"], 1)


@unittest.skipUnless(KPNODE and KPCTL and SOURCE, "needs KPNODE, KPCTL and KP_SOURCE_ROOT")
class RealNode(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster()
        self.addCleanup(self.cluster.close)

    def test_call_ok_and_denied(self):
        with Client(self.cluster.clients[:1]) as client:
            response = client.call(Request(capacity=1, **GENT), timeout_ms=5000)
            self.assertEqual(response.status, STATUS["OK"], response)
            self.assertTrue(response.request_id)
            self.assertIn(b'"person":"85073003328"', response.parts[0].payload)
            denied = client.call(Request(capacity=2, **GENT), timeout_ms=5000)
            self.assertEqual(denied.status, STATUS["DENIED"])
            self.assertEqual(reason_name(denied.reason), "CAPACITY_NOT_AUTHORIZED")

    def test_example(self):
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                               "call.py")
        done = subprocess.run([sys.executable, example, ",".join(self.cluster.clients),
                               "ocmw-gent-app", "31", "0", "A1", "85073003328", "1"],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(" OK ", done.stdout)
        self.assertIn("0206731645 OK", done.stdout)

    def test_pipelined_each_answered_once(self):
        with Client(self.cluster.clients) as client:
            ids = {client.send(Request(capacity=1, **GENT), 5000) for _ in range(64)}
            seen = [client.recv(5000).request_id for _ in ids]
            self.assertIsNone(client.recv(200))
            self.assertEqual(sorted(seen), sorted(ids))
            self.assertEqual(client.stats()["answered"], 64)

    def test_dead_first_endpoint(self):
        dead = "tcp://127.0.0.1:%d" % free_port()
        with Client([dead] + self.cluster.clients) as client:
            response = client.call(Request(capacity=1, **GENT), timeout_ms=5000)
            self.assertEqual(response.status, STATUS["OK"])
            self.assertGreaterEqual(client.stats()["failovers"], 1)

    def test_killed_node_same_ids_answered_once(self):
        with Client(self.cluster.clients) as client:
            client.call(Request(capacity=1, **GENT), timeout_ms=5000)
            ids = {client.send(Request(capacity=1, **GENT), 8000) for _ in range(32)}
            self.cluster.nodes[1].kill()
            ids |= {client.send(Request(capacity=1, **GENT), 8000) for _ in range(32)}
            answers = [client.recv(8000) for _ in ids]
            self.assertIsNone(client.recv(200))
            self.assertEqual(sorted(a.request_id for a in answers), sorted(ids))
            self.assertTrue(all(a.status == STATUS["OK"] for a in answers),
                            [a for a in answers if a.status != STATUS["OK"]][:1])
            self.assertEqual(client.endpoint(), self.cluster.clients[1])

    def test_site_preference_and_fail_back(self):
        """Its own site's node answers; when it dies the other site does;
        once it is back, calls return to it (the client is given node-2
        first: the preference, not the list, takes it to node-1)."""
        c = self.cluster
        with Client(c.clients[::-1], site="s1", sites=["s2", "s1"]) as client:
            self.assertEqual(client.call(Request(capacity=1, **GENT), 5000).status, STATUS["OK"])
            self.assertEqual(client.endpoint(), c.clients[0])
            c.nodes[1].kill()
            c.nodes[1].wait()
            self.assertEqual(client.call(Request(capacity=1, **GENT), 8000).status, STATUS["OK"])
            self.assertEqual(client.endpoint(), c.clients[1])
            c.start(1)
            wait_until(lambda: b'"0206731645"' in c.status(1), what="the provider on node-1")
            end = time.monotonic() + 30  # a ceiling for a loaded machine: about 1.3 s here
            while client.endpoint() != c.clients[0] and time.monotonic() < end:
                response = client.call(Request(capacity=1, **GENT), 8000)
                self.assertEqual(response.status, STATUS["OK"], response)
                time.sleep(0.02)
            self.assertEqual(client.endpoint(), c.clients[0])
            self.assertEqual(client.stats()["failbacks"], 1)
            self.assertEqual(client.call(Request(capacity=1, **GENT), 5000).status, STATUS["OK"])


@unittest.skipUnless(KPNODE and KPCTL and SOURCE, "needs KPNODE, KPCTL and KP_SOURCE_ROOT")
class ShuttingDown(unittest.TestCase):
    def test_shutting_down_means_next_node_now(self):
        cluster = Cluster(delay_ms=1500)
        self.addCleanup(cluster.close)
        with Client(cluster.clients) as client:
            held = client.send(Request(capacity=1, **GENT), 8000)  # keeps node-1 in its grace
            self.assertIsNone(client.recv(300))  # it goes out; the provider holds it 1.5 s
            wait_until(lambda: b'"in_flight":1' in cluster.status(1), what="the held call")
            cluster.nodes[1].send_signal(signal.SIGTERM)
            time.sleep(0.2)  # let node-1 begin to stop
            start = time.monotonic()
            moved = client.call(Request(capacity=1, **GENT), timeout_ms=8000)
            self.assertEqual(moved.status, STATUS["OK"])
            # Moved on at once: the answer takes the provider's 1.5 s, not more.
            self.assertLess(time.monotonic() - start, 3.5)
            self.assertGreaterEqual(client.stats()["redirects"], 1)
            first = client.recv(8000)
            self.assertEqual(first.request_id, held)


class FakeNode:
    """A ROUTER that answers with whatever answer() returns (a list of
    multipart messages to send back), on a thread of its own."""

    def __init__(self, answer, curve_secret=None):
        self.context = zmq.Context()
        self.sock = self.context.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve_secret:
            self.sock.curve_server = True
            self.sock.curve_secretkey = curve_secret
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.answer = answer
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        later = []  # (when, identity, parts): answers answer() delayed
        while not self.stop:
            now = time.monotonic()
            for item in [x for x in later if x[0] <= now]:
                later.remove(item)
                self.sock.send_multipart([item[1]] + item[2])
            if not self.sock.poll(10):
                continue
            identity, frame = self.sock.recv_multipart()
            for parts in self.answer(Request.FromString(frame)):
                if isinstance(parts, tuple):  # (delay in s, parts)
                    later.append((time.monotonic() + parts[0], identity, parts[1]))
                else:
                    self.sock.send_multipart([identity] + parts)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()
        self.context.term()


def ok(request):
    return Response(request_id=request.request_id, status=STATUS["OK"]).SerializeToString()


class Fake(unittest.TestCase):
    def test_hostile_frames_and_copies_are_dropped(self):
        def answer(request):
            return [[b"\xff\xff\xff garbage"], [b"two", b"frames"],
                    [Response(request_id="never-sent", status=1).SerializeToString()],
                    [ok(request)], [ok(request)]]
        node = FakeNode(answer)
        self.addCleanup(node.close)
        with Client([node.endpoint]) as client:
            first = client.call(Request(capacity=1, **GENT), timeout_ms=3000)
            self.assertEqual(first.status, STATUS["OK"])
            # The first call's copy may come after its answer was handed
            # out, and a client with nothing in flight reads nothing. A
            # second call's answers come after it on the one connection:
            # once that call returns, the copy has been read and dropped.
            second = client.call(Request(capacity=1, **GENT), timeout_ms=3000)
            self.assertEqual(second.status, STATUS["OK"])
            self.assertNotEqual(second.request_id, first.request_id)
            stats = client.stats()
            self.assertGreaterEqual(stats["malformed"], 4, stats)
            self.assertGreaterEqual(stats["unknown"], 2, stats)
            self.assertGreaterEqual(stats["duplicates"], 1, stats)
            self.assertIsNone(client.recv(0))  # no copy was handed out

    def test_a_slow_request_on_a_live_node_is_not_sent_twice(self):
        def answer(request):
            if request.ping or request.capacity == 1:  # pongs and fast calls at once
                return [[ok(request)]]
            return [(1.0, [ok(request)])]
        node = FakeNode(answer)
        self.addCleanup(node.close)
        with Client([node.endpoint]) as client:
            for _ in range(10):  # the node's p99: a few ms, so attempts of about 260 ms
                client.call(Request(capacity=1, **GENT), timeout_ms=3000)
            slow = client.call(Request(capacity=2, **GENT), timeout_ms=3000)
            self.assertEqual(slow.status, STATUS["OK"])
            stats = client.stats()
            self.assertGreaterEqual(stats["pings"], 1)  # silent past its attempt: pinged
            self.assertEqual(stats["failovers"], 0)  # the pong kept the node
            self.assertEqual(stats["resent"], 0)

    def test_a_stuck_node_is_left(self):
        def answer(request):
            if request.capacity == 1:
                return [[ok(request)]]
            return []  # the loop is "stuck": no answer, no pong
        nodes = [FakeNode(answer), FakeNode(lambda request: [[ok(request)]])]
        for n in nodes:
            self.addCleanup(n.close)
        with Client([n.endpoint for n in nodes]) as client:
            for _ in range(10):
                client.call(Request(capacity=1, **GENT), timeout_ms=3000)
            stuck = client.call(Request(capacity=2, **GENT), timeout_ms=3000)
            self.assertEqual(stuck.status, STATUS["OK"])
            self.assertEqual(client.endpoint(), nodes[1].endpoint)
            self.assertGreaterEqual(client.stats()["pings"], 1)

    def test_hedging_takes_the_first_answer(self):
        def slow(request):
            if request.ping or request.capacity == 1:
                return [[ok(request)]]
            return [(1.0, [ok(request)])]  # answers, late
        nodes = [FakeNode(slow), FakeNode(lambda request: [[ok(request)]])]
        for n in nodes:
            self.addCleanup(n.close)
        with Client([n.endpoint for n in nodes], hedge_ms=(50, 200)) as client:
            for _ in range(10):  # the node's p99: a few ms, so a hedge after 50 ms
                client.call(Request(capacity=1, **GENT), timeout_ms=3000)
            hedged = client.call(Request(capacity=2, **GENT), timeout_ms=3000)
            self.assertEqual(hedged.status, STATUS["OK"])
            stats = client.stats()
            self.assertEqual(stats["hedges"], 1)
            self.assertEqual(stats["hedge_wins"], 1)
            self.assertEqual(stats["failovers"], 0)
            self.assertEqual(client.endpoint(), nodes[0].endpoint)

    def test_a_cut_off_site_is_left_and_found_again(self):
        """Its own site's node answers NO_QUORUM (requests and probes): the
        client moves to the other site at once, stays there while probes
        are refused, and comes back once they are answered OK."""
        cut = {"off": True}

        def home_answer(request):
            if cut["off"]:
                return [[Response(request_id=request.request_id, status=STATUS["UNAVAILABLE"],
                                  reason=REASON["NO_QUORUM"]).SerializeToString()]]
            return [[ok(request)]]
        seen = []
        home = FakeNode(lambda request: seen.append(request.request_id) or home_answer(request))
        away = FakeNode(lambda request: [[ok(request)]])
        for n in (home, away):
            self.addCleanup(n.close)
        with Client([away.endpoint, home.endpoint], site="a", sites=["b", "a"],
                    settle_ms=200) as client:
            self.assertEqual(client.endpoint(), home.endpoint)
            self.assertEqual(client.call(Request(capacity=1, **GENT), 3000).status, STATUS["OK"])
            self.assertEqual(client.endpoint(), away.endpoint)
            self.assertGreaterEqual(client.stats()["redirects"], 1)
            wait_until(lambda: client.call(Request(capacity=1, **GENT), 3000) and len(seen) >= 8,
                       what="probes of the cut-off node")
            self.assertEqual(client.stats()["failbacks"], 0)
            self.assertEqual(client.endpoint(), away.endpoint)
            cut["off"] = False
            wait_until(lambda: client.call(Request(capacity=1, **GENT), 3000)
                       and client.endpoint() == home.endpoint, seconds=30, what="the way back")
            self.assertEqual(client.stats()["failbacks"], 1)

    def test_silent_node_gets_a_timeout_made_by_the_client(self):
        node = FakeNode(lambda request: [])
        self.addCleanup(node.close)
        with Client([node.endpoint]) as client:
            response = client.call(Request(capacity=1, **GENT), timeout_ms=600)
            self.assertEqual(response.status, STATUS["TIMEOUT"])
            self.assertEqual(response.reason, REASON["DEADLINE_EXCEEDED"])
            self.assertIn(node.endpoint, response.detail)

    def test_shutting_down_everywhere_is_handed_out(self):
        def answer(request):
            return [[Response(request_id=request.request_id, status=STATUS["UNAVAILABLE"],
                              reason=REASON["SHUTTING_DOWN"]).SerializeToString()]]
        nodes = [FakeNode(answer), FakeNode(answer)]
        for n in nodes:
            self.addCleanup(n.close)
        with Client([n.endpoint for n in nodes]) as client:
            response = client.call(Request(capacity=1, **GENT), timeout_ms=3000)
            self.assertEqual(response.reason, REASON["SHUTTING_DOWN"])
            self.assertEqual(client.stats()["redirects"], 1)

    def test_curve_fake_node(self):
        server_public, server_secret = zmq.curve_keypair()
        public, secret = zmq.curve_keypair()
        node = FakeNode(lambda request: [[ok(request)]], curve_secret=server_secret)
        self.addCleanup(node.close)
        with Client([node.endpoint], curve_server_key=server_public, curve_public_key=public,
                    curve_secret_key=secret) as client:
            self.assertEqual(client.call(Request(capacity=1, **GENT), 3000).status, STATUS["OK"])
        # Without the keys, the plain client never gets through to a CURVE node.
        with Client([node.endpoint]) as client:
            self.assertEqual(client.call(Request(capacity=1, **GENT), 600).status,
                             STATUS["TIMEOUT"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
