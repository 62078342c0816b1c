/*  harness.h - real kpnode processes on loopback, for integration tests.

    A harness owns a temporary folder, a cluster file with free loopback
    ports for one or more nodes, the node processes, and any helper
    processes the test starts. It loads the directory through the node's
    admin socket (directory.apply, the one update path). Destroying the
    harness kills every process it started and removes the folder.

    Keys. A harness is secure unless made with harness_new_insecure: its
    nodes share one CURVE certificate (keys/cluster.cert in its folder),
    it talks to their admin sockets with an operator certificate whose key
    it puts in each node's directory before the node first starts, and
    harness_load gives every user and institution it loads a certificate
    (keys/app-USER.cert, keys/provider-KBO.cert) and a key record. Worker
    processes (harness_worker_main) and harness_client_as use them.
*/
#ifndef KP_HARNESS_H_INCLUDED
#define KP_HARNESS_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kruispunt.pb-c.h"

#define HARNESS_MAX_NODES 8
#define HARNESS_MAX_PROCS 32

typedef struct {
    char dir[256];
    char config[300];
    size_t node_count;
    char client[HARNESS_MAX_NODES][64];
    char worker[HARNESS_MAX_NODES][64];
    char admin[HARNESS_MAX_NODES][64];
    char metrics[HARNESS_MAX_NODES][64]; //  HTTP "127.0.0.1:PORT"
    pid_t node[HARNESS_MAX_NODES];
    //  When set (tests/integration/sites.h): node index's name and its own
    //  cluster file (each node may see its peers through relay ports).
    char name[HARNESS_MAX_NODES][32];
    char node_config[HARNESS_MAX_NODES][300];
    pid_t procs[HARNESS_MAX_PROCS];
    size_t proc_count;
    bool secure;
    char keys[300];      //  folder of the certificates
    char server_key[41]; //  the nodes' public key (Z85)
    //  Set by harness_own_certs: node index's own key, used instead of
    //  server_key for its endpoints.
    char node_key[HARNESS_MAX_NODES][41];
    //  Seed the operator's and the loaded keys into a node's directory on
    //  its first start only (seeded[index] then set), not on every start:
    //  for clusters, whose directories must stay equal.
    bool seed_once;
    bool seeded[HARNESS_MAX_NODES];
    //  When set: node index's log lines (its stdout and stderr) go to
    //  this file (appended), for tests that read what a node logged.
    char node_log[HARNESS_MAX_NODES][300];
} harness_t;

//  A directory for one kind of call: application rsz-app of HARNESS_REQUESTER
//  may ask message A1 (capacity 1) about HARNESS_PERSON, whom provider
//  HARNESS_PROVIDER holds (sector 17, type 1): load it with harness_load.
#define HARNESS_REQUESTER "0206731645"
#define HARNESS_PROVIDER "0411702543"
#define HARNESS_PERSON "85073003328"
//  The cluster file's kbo: the broker's own institution, provider of the
//  register message types (node/regsvc.h) once the directory says so.
#define HARNESS_KBO "0367303762"
extern const char *harness_a1_directory;

//  That call, with request id id (NULL: the client stub makes one).
Kp__Request harness_a1_request(const char *id);

//  The request ids of the responses a test received, in order.
typedef struct {
    char **ids;
    size_t count, cap;
} harness_ids_t;

//  Takes one response from client within timeout_ms and keeps its id:
//  1, or 0 when none came.
int harness_take(zsock_t *client, harness_ids_t *ids, int timeout_ms);
void harness_ids_free(harness_ids_t *ids);

//  Keeps in_flight calls (harness_a1_request about the persons of people
//  in turn, ids "TAG-N") going on client for run_ms, and takes their
//  responses into ids. Returns how many calls were sent; the caller takes
//  the answers still due (harness_take).
int harness_a1_load(zsock_t *client, harness_ids_t *ids, const char *tag, const char *const *people,
                    size_t n_people, int in_flight, int run_ms);

//  A cluster of node_count nodes with the given heartbeat, default
//  deadline and max frame; nodes are not started yet.
harness_t *harness_new(size_t node_count, int heartbeat_ms, int deadline_ms, int max_frame);
//  The same with `insecure = true`: plain text, no keys.
harness_t *harness_new_insecure(size_t node_count, int heartbeat_ms, int deadline_ms,
                                int max_frame);
void harness_destroy(harness_t **self_p);

//  Gives every node its own certificate (keys/NAME.cert, NAME the node's
//  name: node-N unless set) instead of the shared one, in the cluster
//  file (and the nodes' own files, when set) and in node_key. Before the
//  nodes start.
void harness_own_certs(harness_t *self);

//  Adds a "limits" section of key = value lines (config.h) to the cluster
//  file; call it before the nodes start.
void harness_limits(harness_t *self, const char *lines);
//  Adds "key = value" line to the cluster section of the cluster file
//  (before the first node), and of the nodes' own files when set (sites.h);
//  call it before the nodes start.
void harness_cluster_line(harness_t *self, const char *line);
//  The same in node index's section.
void harness_node_line(harness_t *self, size_t index, const char *line);

//  The certificate keys/NAME.cert, made if absent; its public key (Z85)
//  goes to key_out (41 bytes) when not NULL. Returns its path (static).
const char *harness_cert(harness_t *self, const char *name, char *key_out);

//  Makes certificate NAME and loads a key record for it through node
//  index: kind ("application", "provider", "operator", "node") and
//  identity, valid from 2000-01-01 on.
void harness_grant(harness_t *self, size_t index, const char *name, const char *kind,
                   const char *identity);

//  A DEALER on the client endpoint of node index speaking CURVE with the
//  certificate NAME (see harness_cert), or plain when insecure.
zsock_t *harness_client_as(harness_t *self, size_t index, const char *name);

//  A DEALER on endpoint of node index (client, worker or admin) with
//  certificate NAME: CURVE client options set before connecting.
zsock_t *harness_dealer(harness_t *self, const char *endpoint, const char *name);

//  Starts node index and waits until it answers "status" (asserts).
void harness_start_node(harness_t *self, size_t index);

//  Sends sig to node index and waits for it to exit; returns its status.
int harness_stop_node(harness_t *self, size_t index, int sig);

//  Sends one admin command (with an optional update); returns the reply,
//  or NULL after timeout_ms. Free with kp__admin_reply__free_unpacked.
Kp__AdminReply *harness_admin(harness_t *self, size_t index, const char *command,
                              Kp__DirectoryUpdate *update, int timeout_ms);

//  Applies JSON Lines through node index; asserts success.
void harness_load(harness_t *self, size_t index, const char *jsonl);

//  Starts argv as a child process; returns its pid.
pid_t harness_spawn(harness_t *self, char *const argv[]);

//  Sends a request frame on a DEALER without waiting.
void harness_send(zsock_t *client, const Kp__Request *request);

//  Sends a request frame on a DEALER and waits for a Response.
Kp__Response *harness_call(zsock_t *client, const Kp__Request *request, int timeout_ms);
Kp__Response *harness_recv(zsock_t *client, int timeout_ms);

//  A DEALER connected to the client endpoint of node index, as the
//  application of certificate "client" (plain when insecure).
zsock_t *harness_client(harness_t *self, size_t index);

//  Sends one WorkerFrame on a worker's DEALER.
void harness_worker_send(zsock_t *sock, Kp__WorkerFrame *frame);

//  Worker mode, for a test program re-run as a provider worker:
//  PROGRAM --worker ENDPOINT KBO DELAY_MS LOGFILE MSG... (argv as given to
//  main). Registers for the messages, answers each request after DELAY_MS
//  with a JSON payload naming kbo, message, person and pid, and appends
//  every request id it answers to LOGFILE, one a line, with the time of
//  the answer (zclock_usecs). Runs until
//  interrupted; returns main's exit code.
int harness_worker_main(int argc, char **argv);

//  The start of a test program's main: the worker mode above when argv
//  asks for it (returns its exit code), else CZMQ set up without its
//  signal handler, and -1.
int harness_main(int argc, char **argv);

//  For a worker process: a DEALER to endpoint as provider KBO, with the
//  certificate provider-KBO when a secure harness left its keys in
//  KP_HARNESS_KEYS, else plain.
zsock_t *harness_worker_dealer(const char *endpoint, const char *kbo);

//  `kpctl provider --echo` of HARNESS_PROVIDER for message A1 serving node
//  index, its lines (one per request answered, starting with the request
//  id) in log. Returns its pid (stopped by harness_destroy).
pid_t harness_provider(harness_t *self, size_t index, const char *log);

//  Starts node index with harness_a1_directory and a harness_provider
//  writing to log (its path, made here: DIR/provider-NAME.log, loglen
//  bytes of room); false if the provider does not register.
bool harness_start_served(harness_t *self, size_t index, char *log, size_t loglen);

//  Runs `kpctl log ARGS --log DIR --json` (the kpctl of $KPCTL): its
//  JSON answer (decref it), or NULL when it printed none; its exit status
//  in *status.
json_t *harness_kpctl_log(const char *dir, const char *args, int *status);

//  True if the provider log (harness_provider) has a line for request id.
bool harness_answered_by(const char *log, const char *id);

//  Waits (up to about 4 s) until node index reports at least count
//  registered workers; false if it never does.
bool harness_wait_workers(harness_t *self, size_t index, int count);

//  One HTTP/1.0 request to the metrics endpoint of node index over a
//  plain socket: returns the body (free it) and sets *status, or NULL
//  when the node does not answer.
char *harness_http(harness_t *self, size_t index, const char *method, const char *path,
                   int *status);

//  The value of series (a metric's name with its labels, as written:
//  'kp_x{a="b"}') on node index's /metrics, or -1 when it is absent or
//  the node does not answer.
double harness_metric(harness_t *self, size_t index, const char *series);

//  A free loopback port, outside the kernel's ephemeral range.
int harness_free_port(void);

//  Milliseconds since an arbitrary start (monotonic).
int64_t harness_now_ms(void);

//  A number from node index's status: "in_flight", "outstanding" (summed
//  over its workers), or 0 or 1 for "stopping", "log_ok",
//  "log_unavailable" (the log's state) and "log_space_low"; -1 if the
//  node does not answer.
int64_t harness_status_count(harness_t *self, size_t index, const char *what);
//  Waits until harness_status_count(what) >= at_least; false after
//  timeout_ms. For tests that must wait for a state, never a sleep.
bool harness_wait_count(harness_t *self, size_t index, const char *what, int64_t at_least,
                        int timeout_ms);

//  Waits until the value at path (keys joined by dots: "log.mirror.degraded")
//  in node index's status, written as compact JSON, is want ("true", "0",
//  "\"two-sites\""); false after timeout_ms. Read with jansson.
bool harness_wait_status(harness_t *self, size_t index, const char *path, const char *want,
                         int timeout_ms);

//  How many lines of the file at path start with the word text (a
//  worker's LOGFILE holds one request id a line, then its time); 0 when
//  there is no file yet.
int harness_count_lines(const char *path, const char *text);

#endif
