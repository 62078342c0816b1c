/*  config.h - the cluster file: one ZPL file (CZMQ's zconfig) per cluster.

      cluster
          name = "demo"
          heartbeat = 1000          # ms between heartbeats; 3 missed = dead
          max-frame = 1048576       # bytes; larger frames are refused
          deadline = 3000           # ms, default request deadline
          log-key = "keys/log.key"  # Ed25519 private key of the privacy log
          log-retention-days = 3653
          log-free-warn-mb = 1024   # warn while the log's disk has less free
          log-segment-mib = 64      # MiB of a privacy-log segment (1 to 1024): the
                                    #   log rolls to a new file past it, and each
                                    #   next one is written ahead (log/spare.h)
          stale-limit = 300         # s a node cut off from the majority routes on
          election-timeout = 1000   # ms, raft (randomised between 1x and 2x)
          raft-heartbeat = 100      # ms, raft leader's heartbeat
          snapshot-threshold = 1024 # raft entries at least between directory snapshots
          snapshot-share = 50       #   and, once the last snapshot is larger than
          snapshot-small-mib = 16   #   this, entries since worth this % of its size
                                    #   (a snapshot is a full compacted copy of the
                                    #   directory: small entries do not pay for it)
          snapshot-mib = 256        # or a snapshot once entries since the last
                                    #   hold this many MiB (raft keeps them in memory)
          snapshot-max-entries = 65536 # or once this many (at least the threshold)
          snapshot-trailing = 128   # entries kept in the raft log after one
          log-durability = "local"  # or "two-sites": a response waits for its
                                    #   record on the mirror too (log/mirror.h)
          log-mirror-timeout = 1000 # ms without the mirror's ack: go on local
          hedge-min = 100           # ms; a part a provider worker holds longer
          hedge-max = 1000          #   than its institution's p99, bounded to
                                    #   these, goes to a sibling too; 0: never
          mutation-retention = 30   # days an institution may stay silent before
                                    #   its undelivered mutations are reported expired
                                    #   (or with a unit: "30d", "12h", "90m", "45s")
          mutation-ack-timeout = 2000 # ms before an unacknowledged notify is sent
          mutation-max-backoff = 60000 #   again; doubled each time up to this
          mutation-max-payload = 65536 # bytes of a published mutation's payload
          mutation-window = 256     # notifies unacknowledged at once per institution
          mutation-batch = 20       # ms at least between two updates of publishes
                                    #   and acks (each is a raft entry and two
                                    #   fsyncs); 0: one a turn
          mutation-replay-window = 30 # days (or "12h", "90m", "45s") acknowledged
                                    #   changes and change ids are kept: `kpctl
                                    #   mutations replay --from` reaches back so
                                    #   far, and a change id published again
                                    #   within it is a duplicate; older ones are
                                    #   pruned (never an undelivered change)
      limits                        # every one optional; the defaults below
          max-connections = 4096    # peers connected at once to the client and worker
                                    # sockets together; more are closed at once
          max-in-flight = 1024      # calls in flight per client; more: UNAVAILABLE
                                    # TOO_MANY_IN_FLIGHT
          max-deadline = 60000      # ms; a longer deadline_ms: INVALID DEADLINE_TOO_LONG
          max-waiting = 10000       # parts waiting per institution for a free
                                    # worker; more: UNAVAILABLE QUEUE_FULL
          max-concurrency = 256     # a hello asking more: CONCURRENCY_TOO_HIGH
          max-workers = 64          # workers per institution; more: TOO_MANY_WORKERS
          max-hello = 16384         # bytes of a hello frame; larger: HELLO_TOO_LARGE
          handshake = 5000          # ms for a new connection's ZMTP handshake
          insecure = false          # true: plain text, no CURVE (tests, benchmarks)
      node
          node-1
              role = "voter"        # voter (default), witness or learner
              site = "brussels"
              cert = "keys/node-1.cert" # its CURVE certificate (curve.h)
              public-key = "..."        # optional: its public key in Z85
              data = "var/node-1"
              client = "tcp://127.0.0.1:7100"
              worker = "tcp://127.0.0.1:7101"
              admin = "tcp://127.0.0.1:7102"
              peer = "tcp://127.0.0.1:7103"       # where the others reach it
              peer-bind = "tcp://127.0.0.1:7103"  # where it binds (default: peer)
              mirror = "tcp://127.0.0.1:7105"     # optional: keeps other nodes' log copies
              log-mirror = "node-3" # optional: who keeps this node's log copy
                                    #   (default: the first voter of another site
                                    #   with a mirror endpoint)
              metrics = "127.0.0.1:7104"          # optional: HTTP /metrics, /healthz, /readyz
              join = "false"        # true: added later (kpctl cluster add-node)

    Relative paths are relative to the working directory of the program.

    The cluster: every node with a `peer` endpoint is a member of one raft
    group (node/cluster.h). Raft ids are the nodes' positions in the file,
    from 1, so the order of the nodes must not change once the cluster has
    started; add nodes at the end, with join = "true".

    Bootstrap: a node whose raft folder is empty writes the cluster's first
    configuration, made of every node of the file not marked `join`, as
    raft entry 1 (so every such node writes the same entry, also one whose
    data folder was wiped). A node marked `join` never does: it waits,
    empty, until the leader adds it (kp_cluster_add) and sends it the log
    or a snapshot. Keep removed nodes in the file (their place is their
    raft id): taking them out would change the first configuration. A witness votes and stores the
   raft log but serves no client or worker (it needs no client or worker endpoint; operators still
   reach its admin endpoint). A learner follows and routes but does not vote. Refused at load,
   naming the line and the fix: two nodes with one name, a node without a site, an unknown role, an
   even number of voters without a witness, more than one witness, members without a peer endpoint.

    A file in which no node has a peer endpoint describes independent
    nodes, as before clusters: each node is a cluster of one (single.cfg).
*/
#ifndef KP_CONFIG_H_INCLUDED
#define KP_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KP_CONFIG_MAX_NODES 16
#define KP_CONFIG_NAME 64
#define KP_CONFIG_TEXT 256
#define KP_CONFIG_MAX_FILE (1 << 20) //  bytes; a cluster file is a page or two
#define KP_CONFIG_ERR 400            //  room for kp_config_parse's problem
//  The privacy log's segment size (log-segment-mib), in whole MiB. Below
//  1 MiB a segment holds a few thousand records and the folder fills with
//  files; above 1 GiB a prune or an export moves too much at once (and
//  the query index addresses records in a segment with 32 bits).
#define KP_CONFIG_SEGMENT_MIB_MIN 1
#define KP_CONFIG_SEGMENT_MIB_MAX 1024
#define KP_CONFIG_SEGMENT_MIB_DEFAULT 64

typedef enum {
    KP_ROLE_VOTER = 0, //  votes, stores the directory and the raft log, routes
    KP_ROLE_WITNESS,   //  votes, stores the raft log, routes nothing
    KP_ROLE_LEARNER,   //  follows and routes, does not vote
} kp_role_t;

typedef struct {
    char name[KP_CONFIG_NAME];
    char site[KP_CONFIG_NAME];
    kp_role_t role;
    uint64_t raft_id;          //  position in the file, from 1
    char peer[KP_CONFIG_TEXT]; //  "" when the node is not in a cluster
    char peer_bind[KP_CONFIG_TEXT];
    bool join; //  added to a running cluster: never bootstraps
    char data[KP_CONFIG_TEXT];
    char client[KP_CONFIG_TEXT]; //  ZeroMQ endpoints
    char worker[KP_CONFIG_TEXT];
    char admin[KP_CONFIG_TEXT];
    char metrics[KP_CONFIG_TEXT]; //  HTTP "HOST:PORT" for /metrics, /healthz, /readyz; "" = none
    char cert[KP_CONFIG_TEXT];    //  CZMQ certificate; "" when unset
    char public_key[41];          //  Z85; "" when unset (read from cert)

    char mirror[KP_CONFIG_TEXT];     //  where it keeps other nodes' log copies; "" = none
    char log_mirror[KP_CONFIG_NAME]; //  the node keeping its copy; "" = chosen
} kp_node_config_t;

//  The node's bounds on what peers may make it hold (section "limits").
typedef struct {
    uint32_t max_connections;
    uint32_t max_in_flight; //  per client
    uint32_t max_deadline_ms;
    uint32_t max_waiting; //  per institution
    uint32_t max_concurrency;
    uint32_t max_workers; //  per institution
    uint32_t max_hello;   //  bytes
    uint32_t handshake_ms;
} kp_limits_config_t;

typedef struct {
    char name[KP_CONFIG_NAME];
    uint32_t heartbeat_ms;
    size_t max_frame;
    uint32_t deadline_ms;
    char log_key[KP_CONFIG_TEXT]; //  "" when unset: checkpoints unsigned
    uint32_t log_retention_days;
    uint32_t log_free_warn_mb; //  free space under this on the log's disk: alarm
    uint32_t log_segment_mib;  //  KP_CONFIG_SEGMENT_MIB_MIN..MAX, whole MiB
    uint32_t stale_limit_s;
    uint32_t election_timeout_ms;
    uint32_t raft_heartbeat_ms;
    uint32_t snapshot_threshold; //  raft entries at least between snapshots
    uint32_t snapshot_trailing;  //  entries kept after a snapshot
    uint32_t snapshot_mib;       //  or a snapshot after this many MiB of entries
    //  Past the threshold, a snapshot larger than snapshot_small_mib waits
    //  until the entries since are worth snapshot_share % of its size (0:
    //  never waits); snapshot_max_entries bounds the wait (0: the threshold).
    uint32_t snapshot_share;
    uint32_t snapshot_small_mib;
    uint32_t snapshot_max_entries;
    bool clustered;        //  nodes have peer endpoints: one raft group
    uint32_t hedge_min_ms; //  0: no hedging of provider parts
    uint32_t hedge_max_ms;
    uint32_t mutation_retention_days; //  rounded up
    uint64_t mutation_retention_s;
    uint32_t mutation_ack_timeout_ms;
    uint32_t mutation_max_backoff_ms;
    size_t mutation_max_payload;
    uint32_t mutation_window;
    uint32_t mutation_batch_ms;
    uint64_t mutation_replay_window_s;
    kp_limits_config_t limits;
    bool insecure; //  plain text on every socket: only when asked for
    //  The broker's own institution (KBO; "" = none): the provider of the
    //  register message types the node answers itself (node/regsvc.h).
    char kbo[KP_CONFIG_NAME];

    bool log_two_sites;             //  log-durability = "two-sites"
    uint32_t log_mirror_timeout_ms; //  no ack for this long: degraded
    size_t node_count;
    kp_node_config_t nodes[KP_CONFIG_MAX_NODES];
} kp_cluster_config_t;

//  Reads and checks the cluster file. Returns 0, or -1 with the problem
//  (and the fix) written to err. Every number is range-checked: one out
//  of range (also past 64 bits) is refused with its line.
int kp_config_load(const char *path, kp_cluster_config_t *out, char *err, size_t errlen);

//  The same for the text of a cluster file (NUL-terminated). The problem
//  names the line, not the file.
int kp_config_parse(const char *text, kp_cluster_config_t *out, char *err, size_t errlen);

//  The limits a cluster file without a "limits" section gets.
void kp_config_limits_default(kp_limits_config_t *limits);

//  The node called name; the first node when name is NULL; NULL if none.
const kp_node_config_t *kp_config_node(const kp_cluster_config_t *config, const char *name);

//  The node with raft id id, or NULL.
const kp_node_config_t *kp_config_node_by_id(const kp_cluster_config_t *config, uint64_t id);

//  The node that keeps node's log copy: its log-mirror, else the first
//  voter of another site with a mirror endpoint; NULL if none.
const kp_node_config_t *kp_config_log_mirror(const kp_cluster_config_t *config,
                                             const kp_node_config_t *node);

//  "voter", "witness", "learner".
const char *kp_config_role_name(kp_role_t role);

#endif
