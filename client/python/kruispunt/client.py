"""The client stub: one DEALER to one node of a cluster at a time.

Behaviour, as in the C stub (client/kp_client.h):

- Every request has an id: the caller's, or 16 random hex digits, "-" and
  a counter. Requests may be pipelined: send() returns the id at once,
  recv() hands answers back in the order they arrive; call() is both.
- Failover. When the client takes its node for lost it connects to the
  next endpoint (round robin) and resends every unanswered request there
  with the same id, so that a node that already answered it answers it
  again instead of routing it twice. The node is lost when the connection
  drops or ZMTP heartbeats go unanswered (100 ms / 400 ms), when no
  connection comes up within that time while requests wait, when an
  attempt times out (8 x the node's recent p99 + 250 ms, at most the
  request's deadline_ms + 250 ms or its overall timeout), nothing at all
  came from the node since it began, and the node does not answer a ping
  (a Request with ping set, answered at once by the node's loop) within 4
  of its p99s (at least 100 ms): its loop is stuck. A node heard from
  meanwhile is alive: the request gets until its ceiling there. And when
  the node answers SHUTTING_DOWN.
- SHUTTING_DOWN, NO_QUORUM and LOG_UNAVAILABLE (status UNAVAILABLE: the
  node refuses, another may answer) are not handed out: the client moves
  to the next node at once. Only when every endpoint said so is it handed
  out (with one endpoint, at once).
- Answered once. Each id is handed out at most once; later copies are
  dropped and counted. When the overall timeout passes the client hands
  out a response of its own: TIMEOUT, DEADLINE_EXCEEDED, and a detail.
- Hostile input: a frame that does not decode, a message of several
  frames, an answer to an id never sent or given up on are dropped and
  counted (stats()); they never end a call.
- CURVE: give the node's public key (curve_server_key) and the
  application's key pair (curve_public_key, curve_secret_key), Z85 text
  or 32 raw bytes, and every connection is encrypted and authenticated.
- Site preference (site= the caller's site, sites= the site of each
  endpoint, the cluster file's names): the client talks to its own site's
  endpoints, in their order, and fails over to another site only when each
  of its own was left in turn without a connection made. While away it
  probes its own site's nodes every 250 ms (a ping on a connection of its
  own; a node answers UNAVAILABLE while it would refuse requests) and
  comes back to one that answered every probe OK for settle_ms (default
  1000): new requests go there, requests already sent stay with the node
  left until answered or their attempt ends. Probes run while the client
  works (recv, call).
- Hedging (hedge_ms=(min, max), off by default): a request unanswered
  after the node's recent p99, bounded to [min, max] (max while fewer than
  8 answers are known), is sent with the same id to the next endpoint too,
  over a second connection; the first answer is handed out, the other
  dropped as a copy (stats: hedges, hedge_wins).

A Client belongs to one thread at a time.
"""
import collections
import secrets
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from ._proto import REASON, REASON_NAME, STATUS, STATUS_NAME, Request, Response

#  A node's own refusals: stopping, cut off past its stale-limit, its log
#  unable to write. The next node may answer: the client moves on.
_MOVE_ON = (REASON["SHUTTING_DOWN"], REASON["NO_QUORUM"], REASON["LOG_UNAVAILABLE"])
_UNAVAILABLE = STATUS["UNAVAILABLE"]
_REMEMBERED = 65536  # answered and abandoned ids kept to recognise copies
_P99_WINDOW = 256
#  A connection that fails within this of its start is left no sooner than
#  this after it: libzmq's own reconnect interval. A node that refuses every
#  handshake (CURVE keys that do not match) otherwise has a socket and its
#  monitor made and closed in a tight loop, faster than libzmq reaps them:
#  "Too many open files".
_RECONNECT_MS = 100
_PROBE_MS = 250  # away from its site: a probe of its own site this often


def status_name(status):
    """The wire name of a status ("OK", "DENIED", ...), "?" if unknown."""
    return STATUS_NAME.get(status, "?")


def reason_name(reason):
    """The wire name of a reason ("CAPACITY_NOT_AUTHORIZED", ...)."""
    return REASON_NAME.get(reason, "?")


def _now_ms():
    return time.monotonic() * 1000.0


class _Pending:
    __slots__ = ("id", "frame", "give_up", "ceiling_ms", "attempt_start", "attempt_end", "sent",
                 "shut_down_by", "started", "tried", "pinged", "extended", "draining",
                 "hedge_at", "hedged")

    def __init__(self, request_id, frame, now, timeout_ms, deadline_ms):
        self.id = request_id
        self.frame = frame
        self.started = now
        self.give_up = now + timeout_ms
        self.ceiling_ms = min(deadline_ms + 250, timeout_ms) if deadline_ms else timeout_ms
        self.attempt_start = self.attempt_end = now
        self.sent = self.pinged = self.extended = self.draining = self.hedged = False
        self.hedge_at = None
        self.shut_down_by = set()
        self.tried = set()


class _Recent:
    """A bounded set of ids, oldest forgotten first."""

    def __init__(self, size):
        self._ids = collections.OrderedDict()
        self._size = size

    def add(self, key):
        self._ids[key] = True
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)

    def __contains__(self, key):
        return key in self._ids


class Client:
    """A client of a Kruispunt cluster; see the module's documentation."""

    def __init__(self, endpoints, *, heartbeat_ms=(100, 400), attempt_timeout_ms=0,
                 max_frame=0, curve_server_key=None, curve_public_key=None,
                 curve_secret_key=None, context=None, site=None, sites=None, settle_ms=1000,
                 hedge_ms=None):
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e]
        if not endpoints or not all(endpoints):
            raise ValueError("kruispunt.Client: give at least one endpoint, tcp://host:port")
        self._endpoints = list(endpoints)
        if site is not None and (not site or not sites or len(sites) != len(self._endpoints)):
            raise ValueError("kruispunt.Client: site needs sites, the site of each endpoint")
        # The failover order: the own site's endpoints first, in their order.
        mine = [i for i in range(len(self._endpoints)) if site and sites[i] == site]
        self._route = mine + [i for i in range(len(self._endpoints)) if i not in mine]
        self._own = len(mine)
        self._pos = self._home_moves = 0
        self._settle = settle_ms
        self._hedge = hedge_ms
        self._probe = self._drain = self._hedge_sock = None
        self._probe_pos = 0
        self._probe_next = None
        self._probe_ok_since = None
        self._heartbeat = heartbeat_ms
        self._attempt_timeout = attempt_timeout_ms
        self._max_frame = max_frame
        self._curve = (curve_server_key, curve_public_key, curve_secret_key)
        if any(self._curve) and not all(self._curve):
            raise ValueError("kruispunt.Client: CURVE needs curve_server_key, curve_public_key "
                             "and curve_secret_key")
        self._context = context or zmq.Context.instance()
        self._prefix = secrets.token_hex(8)
        self._ping_id = self._prefix + "-ping"
        self._ping_frame = Request(request_id=self._ping_id, ping=True).SerializeToString()
        self._probe_id = self._prefix + "-probe"
        self._probe_frame = Request(request_id=self._probe_id, ping=True).SerializeToString()
        self._pending = collections.OrderedDict()  # id -> _Pending, oldest first
        self._ready = collections.deque()  # responses to hand out
        self._answered = _Recent(_REMEMBERED)
        self._abandoned = _Recent(_REMEMBERED)
        self._times = collections.deque(maxlen=_P99_WINDOW)  # recent answer times, ms
        self._stats = collections.Counter()
        self._index = self._route[0]
        self._sock = self._monitor = None
        self._connect()

    # ------------------------------------------------------------------
    # The connection

    def _connect(self):
        self._sock = self._dealer(self._index, watch=True)
        self._connected = False
        self._connect_start = _now_ms()
        self._last_rx = 0.0
        self._ping_sent = 0.0
        self._failover_at = 0.0  # a failover put off (_RECONNECT_MS)

    def _disconnect(self):
        if self._sock is not None:
            self._sock.disable_monitor()
            self._monitor.close(linger=0)
            self._sock.close(linger=0)
            self._sock = self._monitor = None

    def _dealer(self, index, watch=False):
        """A DEALER to endpoint index, as the client's own connections;
        watched: with self._monitor on it, set before it connects."""
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        if self._heartbeat and self._heartbeat[0]:
            sock.setsockopt(zmq.HEARTBEAT_IVL, self._heartbeat[0])
            sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, self._heartbeat[1])
        if self._max_frame:
            sock.setsockopt(zmq.MAXMSGSIZE, self._max_frame)
        if all(self._curve):
            server, public, secret = self._curve
            sock.curve_serverkey = server.encode() if isinstance(server, str) else server
            sock.curve_publickey = public.encode() if isinstance(public, str) else public
            sock.curve_secretkey = secret.encode() if isinstance(secret, str) else secret
        if watch:
            self._monitor = sock.get_monitor_socket(
                zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
                | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        sock.connect(self._endpoints[index])
        return sock

    def _failover(self, now):
        """Moves to the next endpoint; everything unanswered goes there.
        At home: the next node of the own site, until each was left in
        turn without an answer; then the other sites."""
        self._disconnect()
        self._close_hedge()
        if self._pos < self._own and self._home_moves + 1 < self._own:
            self._home_moves += 1
            self._pos = (self._pos + 1) % self._own
        else:
            self._home_moves = 0
            self._pos = (self._own if self._pos < self._own else self._pos + 1) \
                % len(self._endpoints)
        self._index = self._route[self._pos]
        self._stats["failovers"] += 1
        for p in self._pending.values():
            if p.sent or p.draining:
                self._stats["resent"] += 1
            p.sent = p.draining = False
            p.attempt_start = now
        self._plan_probes(now)
        self._connect()

    def _flush(self, now):
        """Sends what waits for a connection."""
        if not self._connected:
            return
        for p in self._pending.values():
            if p.sent or p.draining:
                continue
            try:
                self._sock.send(p.frame, zmq.NOBLOCK)
            except zmq.Again:
                return
            p.sent = True
            p.pinged = p.extended = p.hedged = False
            p.attempt_start = now
            p.attempt_end = now + self._attempt_ms(p)
            p.hedge_at = self._hedge_at(now)
            p.tried.add(self._index)

    def close(self):
        """Closes the sockets and forgets every request in flight."""
        self._disconnect()
        self._close_hedge()
        for sock in (self._probe, self._drain):
            if sock is not None:
                sock.close(linger=0)
        self._probe = self._drain = None
        self._pending.clear()
        self._ready.clear()

    # ------------------------------------------------------------------
    # Site preference: probes of the own site while away, the fail-back

    def _away(self):
        return self._own and self._pos >= self._own

    def _plan_probes(self, now):
        if self._away() and self._settle:
            if self._probe_next is None:
                self._probe_next = now + _PROBE_MS
            return
        if self._probe is not None:
            self._probe.close(linger=0)
        self._probe = self._probe_next = self._probe_ok_since = None

    def _send_probe(self, now):
        """A ping to an own-site node; one silent for the settle time
        gives way to the next own-site endpoint."""
        self._probe_next = now + _PROBE_MS
        if (self._probe is not None and self._probe_ok_since is None
                and now - self._probe_opened >= self._settle and self._own > 1):
            self._probe.close(linger=0)
            self._probe = None
            self._probe_pos = (self._probe_pos + 1) % self._own
        if self._probe is None:
            self._probe = self._dealer(self._route[self._probe_pos])
            self._probe_opened = now
            self._probe_ok_since = None
        try:
            self._probe.send(self._probe_frame, zmq.NOBLOCK)
        except zmq.Again:
            pass  # not connected yet: next time

    def _on_probe_answers(self, now):
        """True after a fail-back (the sockets were replaced)."""
        while self._probe is not None:
            try:
                frames = self._probe.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
            try:
                pong = Response.FromString(frames[0]) if len(frames) == 1 else None
            except Exception:  # protobuf's DecodeError, and anything else it raises
                pong = None
            if pong is None or pong.request_id != self._probe_id:
                self._stats["malformed"] += 1
                continue
            if pong.HasField("status") and pong.status != STATUS["OK"]:
                self._probe_ok_since = None
            elif self._probe_ok_since is None:
                self._probe_ok_since = now
            elif now - self._probe_ok_since >= self._settle and self._drain is None:
                self._failback(now)
                return True
        return False

    def _failback(self, now):
        """Back to the probed own-site node: requests already sent stay
        with the node left (self._drain) until answered or their attempt
        ends, so that none is routed twice for the move."""
        self._probe.close(linger=0)
        self._probe = self._probe_ok_since = None
        self._close_hedge()
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._drain, self._sock, self._monitor = self._sock, None, None
        for p in self._pending.values():
            p.draining, p.sent = p.sent, False
        self._pos = self._probe_pos
        self._index = self._route[self._pos]
        self._stats["failbacks"] += 1
        self._plan_probes(now)
        self._connect()

    # ------------------------------------------------------------------
    # Hedging

    def _hedge_at(self, now):
        if not self._hedge or len(self._endpoints) < 2:
            return None
        low, high = self._hedge
        p99 = self._p99()
        wait = high if p99 is None or p99 > high else p99
        return now + max(low, wait)

    def _close_hedge(self):
        if self._hedge_sock is not None:
            self._hedge_sock.close(linger=0)
        self._hedge_sock = None

    def _send_hedge(self, p, now):
        """p goes to the next endpoint too, same id; not connected yet:
        tried again a little later."""
        p.hedge_at = None
        if p.hedged or not p.sent:
            return
        if self._hedge_sock is None:
            self._hedge_sock = self._dealer(self._route[(self._pos + 1) % len(self._endpoints)])
        try:
            self._hedge_sock.send(p.frame, zmq.NOBLOCK)
            p.hedged = True
            self._stats["hedges"] += 1
        except zmq.Again:
            p.hedge_at = now + self._hedge[0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------
    # Requests

    def send(self, request, timeout_ms):
        """Queues request (a kruispunt.Request) with an overall timeout and
        sends it; returns its id (request.request_id, or a fresh one)."""
        if timeout_ms <= 0:
            raise ValueError("kruispunt.Client.send: timeout_ms must be above 0")
        # 128 random bits, as kp_client: no counter, so that one id never
        # predicts the next (an id sent first by someone else is refused).
        request_id = request.request_id or secrets.token_hex(16)
        if len(request_id) >= 64:
            raise ValueError("kruispunt.Client.send: request ids are at most 63 bytes")
        if request_id in self._pending:
            raise ValueError("kruispunt.Client.send: request %s is in flight" % request_id)
        if request.request_id != request_id:
            request = Request.FromString(request.SerializeToString())
            request.request_id = request_id
        frame = request.SerializeToString()
        if self._max_frame and len(frame) > self._max_frame:
            raise ValueError("kruispunt.Client.send: the request is over the max frame")
        now = _now_ms()
        deadline_ms = request.deadline_ms if request.HasField("deadline_ms") else 0
        self._pending[request_id] = _Pending(request_id, frame, now, timeout_ms, deadline_ms)
        self._stats["sent"] += 1
        self._flush(now)
        return request_id

    def recv(self, timeout_ms=None):
        """The next response to a request in flight, waiting at most
        timeout_ms (None: until one comes); None when none came in time or
        nothing is in flight."""
        end = None if timeout_ms is None else _now_ms() + timeout_ms
        while not self._ready:
            if not self._pending:
                return None
            now = _now_ms()
            if end is not None and now >= end:
                return None
            wait = self._next_timer(now) - now
            if end is not None:
                wait = min(wait, end - now)
            self._turn(max(0, wait))
        return self._ready.popleft()

    def call(self, request, timeout_ms):
        """Sends request and waits for its answer (at most timeout_ms);
        answers to other requests in flight are kept for recv()."""
        request_id = self.send(request, timeout_ms)
        kept = []
        try:
            while True:
                response = self.recv(None)
                if response is None:  # cannot happen: the request is answered by its timeout
                    raise RuntimeError("kruispunt.Client.call: request %s vanished" % request_id)
                if response.request_id == request_id:
                    return response
                kept.append(response)
        finally:
            self._ready.extendleft(reversed(kept))

    def pending(self):
        """Requests sent and not yet answered or given up on."""
        return len(self._pending)

    def endpoint(self):
        """The endpoint the client talks to now."""
        return self._endpoints[self._index]

    def stats(self):
        """Counters: sent, resent, failovers, answered, timeouts, late,
        duplicates, redirects, unknown, malformed, disconnects, pings,
        failbacks (returns to the own site), hedges, hedge_wins."""
        keys = ("sent", "resent", "failovers", "answered", "timeouts", "late", "duplicates",
                "redirects", "unknown", "malformed", "disconnects", "pings", "failbacks",
                "hedges", "hedge_wins")
        return {k: self._stats[k] for k in keys}

    # ------------------------------------------------------------------
    # The loop: events, frames, timers

    def _p99(self):
        if len(self._times) < 8:
            return None
        ordered = sorted(self._times)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]

    def _attempt_ms(self, p):
        if self._attempt_timeout:
            return self._attempt_timeout
        p99 = self._p99()
        return p.ceiling_ms if p99 is None else min(p.ceiling_ms, 8 * p99 + 250)

    def _connect_limit_ms(self):
        interval, timeout = self._heartbeat if self._heartbeat and self._heartbeat[0] else (0, 0)
        return interval + timeout if interval else 1000

    def _next_timer(self, now):
        soonest = now + 1000
        if not self._connected and self._pending:
            soonest = min(soonest, self._connect_start + self._connect_limit_ms())
        if self._failover_at:
            soonest = min(soonest, self._failover_at)
        if self._probe_next is not None:
            soonest = min(soonest, self._probe_next)
        for p in self._pending.values():
            soonest = min(soonest, p.give_up)
            if p.sent or p.draining:
                soonest = min(soonest, p.attempt_end)
            if p.hedge_at is not None:
                soonest = min(soonest, p.hedge_at)
        return soonest

    def _turn(self, wait_ms):
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        for other in (self._hedge_sock, self._drain, self._probe):
            if other is not None:
                poller.register(other, zmq.POLLIN)
        ready = dict(poller.poll(wait_ms))
        now = _now_ms()
        if ready.get(self._monitor):
            if self._on_events(now):
                return
        for other in (self._hedge_sock, self._drain):
            if other is not None and ready.get(other):
                self._on_frames(now, other)
        if self._probe is not None and ready.get(self._probe) and self._on_probe_answers(now):
            return
        if ready.get(self._sock):
            self._on_frames(now, self._sock)
        self._on_timers(_now_ms())

    def _on_events(self, now):
        """Returns True after a failover (the sockets were replaced)."""
        while self._monitor is not None:
            try:
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                return False
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED and not self._failover_at:
                self._connected = True
                self._last_rx = now
                self._flush(now)
            elif kind == zmq.EVENT_DISCONNECTED or kind in (
                    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                    zmq.EVENT_HANDSHAKE_FAILED_AUTH):
                self._stats["disconnects"] += 1
                self._connected = False
                if now - self._connect_start < _RECONNECT_MS:
                    self._failover_at = self._connect_start + _RECONNECT_MS
                    continue
                self._failover(now)
                return True
        return False

    def _on_frames(self, now, sock):
        current = sock is self._sock
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if current:
                self._last_rx = now
            if len(frames) != 1:
                self._stats["malformed"] += 1
                continue
            try:
                response = Response.FromString(frames[0])
            except Exception:  # protobuf's DecodeError, and anything else it raises
                self._stats["malformed"] += 1
                continue
            if self._on_response(response, now, sock):
                return  # a failover replaced the socket

    def _on_response(self, response, now, sock):
        """Hands a response out or moves on; True after a failover."""
        rid = response.request_id
        if rid == self._ping_id:
            return False  # a pong: the node's loop turns
        p = self._pending.get(rid)
        if p is None:
            key = "duplicates" if rid in self._answered else \
                "late" if rid in self._abandoned else "unknown"
            self._stats[key] += 1
            return False
        if (response.status == _UNAVAILABLE and response.reason in _MOVE_ON
                and len(self._endpoints) > 1):
            p.shut_down_by.add(self._index)
            if len(p.shut_down_by) < len(self._endpoints):
                self._stats["redirects"] += 1
                self._failover(now)
                return True
        del self._pending[rid]
        self._answered.add(rid)
        if sock is self._hedge_sock:
            self._stats["hedge_wins"] += 1
        elif sock is self._sock:
            self._times.append(now - p.attempt_start)
            self._home_moves = 0  # a node that answers: its site's others may be tried again
        self._stats["answered"] += 1
        self._ready.append(response)
        return False

    def _on_timers(self, now):
        for rid, p in list(self._pending.items()):
            if now >= p.give_up:
                del self._pending[rid]
                self._abandoned.add(rid)
                self._stats["timeouts"] += 1
                tried = ", ".join(self._endpoints[i] for i in sorted(p.tried)) or "none"
                self._ready.append(Response(
                    request_id=rid, status=STATUS["TIMEOUT"], reason=REASON["DEADLINE_EXCEEDED"],
                    detail="no answer within %d ms; tried %s" % (p.give_up - p.started, tried)))
        if self._failover_at and now >= self._failover_at:
            self._failover(now)
            return
        for p in self._pending.values():
            if p.draining and now >= p.attempt_end:  # left on the node of before a fail-back
                p.draining = False
                self._stats["resent"] += 1
        if self._drain is not None and not any(p.draining for p in self._pending.values()):
            self._drain.close(linger=0)
            self._drain = None
        self._flush(now)
        if self._probe_next is not None and now >= self._probe_next:
            self._send_probe(now)
        if not self._pending:
            return
        if not self._connected and now - self._connect_start >= self._connect_limit_ms():
            self._failover(now)
            return
        for p in self._pending.values():
            if p.sent and now >= p.attempt_end and self._attempt_over(p, now):
                self._failover(now)
                return
            if p.sent and p.hedge_at is not None and now >= p.hedge_at:
                self._send_hedge(p, now)

    def _ping_ms(self):
        p99 = self._p99()
        return max(100, 4 * p99) if p99 is not None else 100

    def _attempt_over(self, p, now):
        """p's attempt ran out. A node heard from since p left is alive
        (busy, or p is slow at its provider): p gets until its ceiling
        there, once. A node silent since p left is pinged; still silent
        when the pong is due, it is lost: True."""
        if self._attempt_timeout or p.extended:
            return True
        if self._last_rx <= p.attempt_start:
            if p.pinged:
                return True
            if not self._ping_sent or now - self._ping_sent >= self._ping_ms():
                try:
                    self._sock.send(self._ping_frame, zmq.NOBLOCK)
                    self._ping_sent = now
                    self._stats["pings"] += 1
                except zmq.Again:
                    pass
            p.pinged = True
            p.attempt_end = now + self._ping_ms()
            return False
        end = p.attempt_start + p.ceiling_ms
        if end <= now:
            return True
        p.extended = True
        p.attempt_end = end
        return False
