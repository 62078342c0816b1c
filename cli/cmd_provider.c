/*  cmd_provider.c - kpctl provider: a demo provider worker.

    Connects to the worker endpoint of every node named by --node (all
    nodes of the cluster file when none is named: clients fail over
    between nodes, so a provider must be reachable through each) as
    institution --kbo, one kp_worker per node in one loop, serves the
    --message types and answers every request with
    {"kbo":K,"message":M,"person":INSZ}. With --delay-ms each answer is
    held back that long by a timer in the loop (never a sleep), so the
    worker keeps heartbeating while it is slow. SIGINT/SIGTERM: says bye,
    prints how many requests it served and how many request ids it was
    given more than once (kpbench reads that line to count requests
    routed twice), and exits 0; with --echo it also takes the mutations
    delivered to --kbo, prints one line each and acknowledges it; it prints the line too when it
   gives up on an error. Reconnection and heartbeats are kp_worker's job.

    --raw-echo ENDPOINT is kpbench's like-for-like floor: no node, no
    kp_worker session; a DEALER connected to a bare ZeroMQ proxy's
    backend answers each client Request (the last frame; the frames
    before it are the proxy's envelope, sent back as they came) with the
    Response a client gets through Kruispunt from the echo provider:
    decode, the same echo payload (s_echo_json), encode, one process.
*/
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <zmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "curve.h"
#include "commands.h"
#include "config.h"
#include "control.h"
#include "json.h"
#include "kp_worker.h"
#include "options.h"
#include "validate.h"

#define S_MAX_MESSAGES 64
//  Request ids remembered: at least the last S_SEEN_GENERATION, at most
//  twice that. A test tool's memory, bounded; grown as ids come.
#define S_SEEN_GENERATION 500000
#define S_SEEN_MIN_SLOTS 1024

//  Set by the signal handler: the only way a handler can tell the loop.
static volatile sig_atomic_t s_stop;

static void s_on_signal(int signum)
{
    (void)signum;
    s_stop = 1;
}

typedef struct {
    const char *config;
    const char *nodes[KP_CONFIG_MAX_NODES];
    size_t node_count;
    const char *kbo;
    const char *messages[S_MAX_MESSAGES];
    size_t message_count;
    bool echo, quiet;
    uint32_t concurrency, delay_ms;
    const char *raw_echo; //  proxy backend endpoint, or NULL
    const char *raw_key;  //  its CURVE public key (Z85), or NULL: plain text
    //  --service-time: how long each answer takes, like a real lookup
    //  (fixed, or exponential around the mean); 0: at once.
    int64_t service_us;
    bool service_exp;
    uint64_t rng; //  xorshift64 state for the exponential
} s_args_t;

//  One generation of served request ids: open addressing with linear
//  probing over 64-bit hashes of the ids. A hash, not the id: two of a
//  million ids collide about once in 10^7 runs, and the set stays small.
//  Bit 0 of a slot marks it used (0 is free), bit 1 that the id was
//  seen again and counted.
typedef struct {
    uint64_t *slots;
    size_t size, count; //  size: a power of two, kept at least twice count
} s_idset_t;

#define S_USED 1ULL
#define S_AGAIN 2ULL

//  The last ids served, in two generations: when the current one is full
//  the previous one is dropped, so memory is bounded and the last
//  S_SEEN_GENERATION ids are always remembered.
typedef struct {
    s_idset_t current, previous;
    uint64_t served, again; //  requests; ids seen more than once
} s_seen_t;

//  A request waiting for its service time to pass.
typedef struct {
    int64_t due; //  µs, monotonic
    Kp__WorkerRequest *req;
    kp_worker_t *worker; //  the session it came through
} s_held_t;

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: kpctl provider -c FILE [--node NAME ...] --kbo K --message M [--message M2 ...]\n"
        "                      --echo [--concurrency N] [--delay-ms N] [--service-time DIST]\n"
        "                      [--quiet]\n"
        "       kpctl provider --raw-echo ENDPOINT --kbo K [--server-key Z85]\n"
        "                      [--service-time DIST]\n"
        "\n"
        "Runs a demo provider worker: answers every request with\n"
        "{\"kbo\":K,\"message\":M,\"person\":INSZ} until SIGINT or SIGTERM (exit 0) or\n"
        "an error (exit 1), then prints one line to stdout (kpbench reads it; the text\n"
        "is stable):\n"
        "  provider K: served N requests, R request ids more than once\n"
        "N counts the requests taken from the nodes; R the request ids among them that\n"
        "came more than once (of the last 500,000 to 1,000,000 ids; each counted once).\n"
        "It also takes the mutations (change notifications) delivered to K, prints\n"
        "  mutation SEQ id ID person P message M date D origin O capacity C attempt A\n"
        "  payload BYTES\n"
        "for each (unless --quiet) and acknowledges it.\n"
        "\n"
        "  -c, --config FILE   cluster file (gives the worker endpoint and heartbeat)\n"
        "                      (default: $KP_CLUSTER)\n"
        "      --node NAME     node to serve (repeat for more; default: every node)\n"
        "      --kbo K         the provider institution's KBO number\n"
        "      --message M     a message type served (repeat for more)\n"
        "      --echo          answer with the echo payload (the only mode)\n"
        "      --concurrency N requests taken at once (default 1)\n"
        "      --delay-ms N    hold each answer back N ms (heartbeats go on)\n"
        "      --service-time DIST  each answer takes DIST, like a real lookup: 1ms,\n"
        "                      500us, or exp:2ms (exponential with that mean); with\n"
        "                      --echo and --raw-echo alike (requests overlap)\n"
        "      --quiet         no line per request\n"
        "      --raw-echo EP   no node: answer client Requests from a bare ZeroMQ\n"
        "                      proxy backend EP with the echo Response (kpbench's floor)\n"
        "      --server-key Z85  --raw-echo over CURVE to a backend with this public key\n"
        "                      (this worker uses a throw-away key pair)\n"
        "  -h, --help          this text\n");
}

//  Parses DIST: "1ms", "500us", "0.5s", or "exp:2ms" (exponential with
//  that mean). 0, or -1 after naming the problem.
static int s_parse_service(const char *text, s_args_t *args)
{
    const char *at = text;
    args->service_exp = !strncmp(at, "exp:", 4);
    if (args->service_exp)
        at += 4;
    char *unit;
    double value = strtod(at, &unit);
    double scale = !strcmp(unit, "us")   ? 1
                   : !strcmp(unit, "ms") ? 1e3
                   : !strcmp(unit, "s")  ? 1e6
                                         : 0;
    if (unit == at || value < 0 || value > 60 || scale == 0 || value * scale > 60e6) {
        fprintf(stderr,
                "kpctl provider: --service-time '%s': give a time with its unit, e.g. 1ms, "
                "500us, or exp:2ms (exponential with that mean), at most 60 s\n",
                text);
        return -1;
    }
    args->service_us = (int64_t)(value * scale + 0.5);
    return 0;
}

//  Reads kpctl provider's options into args. 0, 1 for --help, or -1
//  after naming the problem.
static int s_parse(int argc, char **argv, s_args_t *args)
{
    enum {
        O_NODE = 256,
        O_KBO,
        O_MESSAGE,
        O_ECHO,
        O_CONCURRENCY,
        O_DELAY,
        O_QUIET,
        O_RAW,
        O_RAW_KEY,
        O_SERVICE
    };
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"node", required_argument, NULL, O_NODE},
                                            {"kbo", required_argument, NULL, O_KBO},
                                            {"message", required_argument, NULL, O_MESSAGE},
                                            {"echo", no_argument, NULL, O_ECHO},
                                            {"concurrency", required_argument, NULL, O_CONCURRENCY},
                                            {"delay-ms", required_argument, NULL, O_DELAY},
                                            {"quiet", no_argument, NULL, O_QUIET},
                                            {"raw-echo", required_argument, NULL, O_RAW},
                                            {"server-key", required_argument, NULL, O_RAW_KEY},
                                            {"service-time", required_argument, NULL, O_SERVICE},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    optind = 0;
    args->concurrency = 1;
    args->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'c':
            args->config = optarg;
            break;
        case 'h':
            return 1;
        case O_NODE:
            if (args->node_count == KP_CONFIG_MAX_NODES) {
                fprintf(stderr, "kpctl provider: at most %d --node\n", KP_CONFIG_MAX_NODES);
                return -1;
            }
            args->nodes[args->node_count++] = optarg;
            break;
        case O_KBO:
            args->kbo = optarg;
            break;
        case O_ECHO:
            args->echo = true;
            break;
        case O_QUIET:
            args->quiet = true;
            break;
        case O_RAW:
            args->raw_echo = optarg;
            break;
        case O_RAW_KEY:
            args->raw_key = optarg;
            break;
        case O_MESSAGE:
            if (args->message_count == S_MAX_MESSAGES) {
                fprintf(stderr, "kpctl provider: at most %d --message\n", S_MAX_MESSAGES);
                return -1;
            }
            args->messages[args->message_count++] = optarg;
            break;
        case O_CONCURRENCY:
            rc = kpctl_uint32("provider", "--concurrency", optarg, &args->concurrency);
            break;
        case O_DELAY:
            rc = kpctl_uint32("provider", "--delay-ms", optarg, &args->delay_ms);
            args->service_us = (int64_t)args->delay_ms * 1000;
            args->service_exp = false;
            break;
        case O_SERVICE:
            rc = s_parse_service(optarg, args);
            break;
        default:
            return -1;
        }
        if (rc)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "kpctl provider: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!args->raw_echo)
        args->config = kpctl_cluster_file(args->config);
    return 0;
}

static int s_check(const s_args_t *args)
{
    const char *missing = args->raw_echo         ? (!args->kbo ? "--kbo" : NULL)
                          : !args->config        ? "-c FILE (or KP_CLUSTER)"
                          : !args->kbo           ? "--kbo"
                          : !args->message_count ? "--message"
                          : !args->echo          ? "--echo (the only mode there is)"
                                                 : NULL;
    if (missing) {
        fprintf(stderr, "kpctl provider: missing %s; 'kpctl provider --help' tells more\n",
                missing);
        return -1;
    }
    if (!kp_kbo_valid(args->kbo)) {
        fprintf(stderr,
                "kpctl provider: --kbo '%s' is not a valid KBO number (10 digits, starting "
                "with 0 or 1, the last two 97 minus the first eight modulo 97)\n",
                args->kbo);
        return -1;
    }
    if (args->concurrency == 0) {
        fprintf(stderr, "kpctl provider: --concurrency must be at least 1\n");
        return -1;
    }
    uint8_t key[32];
    if (args->raw_key &&
        (!args->raw_echo || strlen(args->raw_key) != 40 || !zmq_z85_decode(key, args->raw_key))) {
        fprintf(stderr, "kpctl provider: --server-key goes with --raw-echo and takes the "
                        "backend's public key: 40 characters of Z85\n");
        return -1;
    }
    return 0;
}

//  The service time of one request, µs.
static int64_t s_service_sample(s_args_t *args)
{
    if (!args->service_exp || args->service_us == 0)
        return args->service_us;
    args->rng ^= args->rng << 13;
    args->rng ^= args->rng >> 7;
    args->rng ^= args->rng << 17;
    double u = ((double)(args->rng >> 11) + 1.0) / 9007199254740993.0; //  (0, 1]
    return (int64_t)(-log(u) * (double)args->service_us);
}

//  The echo payload, the same for --echo and --raw-echo.
static kp_json_t *s_echo_json(const char *kbo, const char *message, const char *person)
{
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_json_kv_string(json, "kbo", kbo);
    kp_json_kv_string(json, "message", message);
    kp_json_kv_string(json, "person", person);
    kp_json_object_close(json);
    return json;
}

static void s_answer(kp_worker_t *worker, const s_args_t *args, Kp__WorkerRequest *req)
{
    kp_json_t *json = s_echo_json(args->kbo, req->message, req->person);
    int rc = kp_worker_reply(worker, req, KP__STATUS__OK, kp_json_text(json), kp_json_length(json));
    if (!args->quiet) {
        printf("%s %s person %s ticket %llu: %s\n", req->request_id ? req->request_id : "?",
               req->message ? req->message : "?", req->person ? req->person : "-",
               (unsigned long long)req->ticket, rc == 0 ? "OK" : kp_worker_strerror(rc));
        fflush(stdout);
    }
    kp_json_destroy(&json);
}

//  Answers held requests whose time has come; returns µs to the next.
static int64_t s_answer_due(const s_args_t *args, s_held_t *held, size_t *count)
{
    int64_t now = zclock_usecs();
    int64_t next = INT64_MAX;
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        if (held[i].due <= now) {
            s_answer(held[i].worker, args, held[i].req);
            kp_worker_request_destroy(&held[i].req);
        } else {
            if (held[i].due - now < next)
                next = held[i].due - now;
            held[kept++] = held[i];
        }
    }
    *count = kept;
    return next;
}

//  FNV-1a, then a finaliser (murmur3's) so that the low bits, which pick
//  the slot, depend on every byte.
static uint64_t s_id_hash(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (h & ~(S_USED | S_AGAIN)) | S_USED;
}

//  The slot holding key, or the free slot where it belongs.
static uint64_t *s_idset_find(s_idset_t *set, uint64_t key)
{
    size_t mask = set->size - 1;
    for (size_t i = (size_t)(key >> 2) & mask;; i = (i + 1) & mask)
        if (!set->slots[i] || (set->slots[i] | S_AGAIN) == (key | S_AGAIN))
            return &set->slots[i];
}

//  Adds key (with its flags) unless there; 0, or -1 out of memory.
static int s_idset_put(s_idset_t *set, uint64_t key)
{
    if (2 * (set->count + 1) > set->size) {
        size_t size = set->size ? 2 * set->size : S_SEEN_MIN_SLOTS;
        s_idset_t bigger = {calloc(size, sizeof(uint64_t)), size, 0};
        if (!bigger.slots)
            return -1;
        for (size_t i = 0; i < set->size; i++)
            if (set->slots[i])
                s_idset_put(&bigger, set->slots[i]);
        free(set->slots);
        *set = bigger;
    }
    uint64_t *slot = s_idset_find(set, key);
    if (!*slot)
        set->count++;
    *slot = key;
    return 0;
}

//  Counts a request served, and its id if seen before; -1 out of memory.
static int s_seen_add(s_seen_t *seen, const char *request_id)
{
    seen->served++;
    uint64_t key = s_id_hash(request_id ? request_id : "");
    uint64_t *slot = seen->current.size ? s_idset_find(&seen->current, key) : NULL;
    if (!slot || !*slot)
        slot = seen->previous.size ? s_idset_find(&seen->previous, key) : NULL;
    if (slot && *slot) {
        if (!(*slot & S_AGAIN))
            seen->again++;
        key |= S_AGAIN;
    }
    if (seen->current.count >= S_SEEN_GENERATION) {
        free(seen->previous.slots);
        seen->previous = seen->current;
        seen->current = (s_idset_t){0};
    }
    return s_idset_put(&seen->current, key);
}

static void s_seen_free(s_seen_t *seen)
{
    free(seen->current.slots);
    free(seen->previous.slots);
}

static void s_signals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = s_on_signal;
    sigemptyset(&action.sa_mask);
    //  No SA_RESTART: the wait in kp_worker_recv must end at once.
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

typedef struct {
    kp_worker_t *workers[KP_CONFIG_MAX_NODES];
    const char *names[KP_CONFIG_MAX_NODES];
    bool accepted[KP_CONFIG_MAX_NODES];
    size_t count;
    s_held_t *held;
    size_t held_count, held_size;
    s_seen_t seen;
} s_loop_t;

//  A mutation delivered to the institution: printed, then acknowledged.
static int s_on_notify(void *arg, const Kp__MutationNotify *notify)
{
    const s_args_t *args = arg;
    const Kp__Mutation *m = notify->mutation;
    if (!args->quiet) {
        printf("mutation %llu id %s person %s message %s date %s origin %s capacity %u attempt "
               "%u payload %.*s\n",
               (unsigned long long)notify->seq, m->id ? m->id : "?", m->person ? m->person : "?",
               m->message ? m->message : "?", m->date ? m->date : "?", m->origin ? m->origin : "?",
               notify->capacity, notify->attempt,
               m->has_payload ? (int)(m->payload.len > 512 ? 512 : m->payload.len) : 0,
               m->has_payload ? (const char *)m->payload.data : "");
        fflush(stdout);
    }
    return 0;
}

//  Takes what worker i has (without waiting); 0, or 1 to stop.
static int s_take(s_loop_t *loop, size_t i, s_args_t *args)
{
    kp_worker_t *worker = loop->workers[i];
    while (true) {
        Kp__WorkerRequest *req = NULL;
        int rc = kp_worker_recv(worker, 0, &req);
        if (kp_worker_accepted(worker) != loop->accepted[i]) {
            loop->accepted[i] = !loop->accepted[i];
            fprintf(stderr, "kpctl provider: %s: %s\n", loop->names[i],
                    loop->accepted[i] ? "accepted by the node" : "lost the node; reconnecting");
        }
        if (rc == KP_WORKER_ETIMEDOUT || rc == KP_WORKER_EINTR)
            return 0;
        if (rc == KP_WORKER_EREFUSED) {
            fprintf(stderr, "kpctl provider: %s refused the hello: %s%s%s\n", loop->names[i],
                    kp_reason_name(kp_worker_error_reason(worker)),
                    *kp_worker_error_detail(worker) ? ": " : "", kp_worker_error_detail(worker));
            return 1;
        }
        if (rc != 0) {
            fprintf(stderr, "kpctl provider: %s: %s\n", loop->names[i], kp_worker_strerror(rc));
            return 1;
        }
        if (s_seen_add(&loop->seen, req->request_id)) {
            fprintf(stderr, "kpctl provider: out of memory for the request ids served\n");
            kp_worker_request_destroy(&req);
            return 1;
        }
        if (args->service_us == 0) {
            s_answer(worker, args, req);
            kp_worker_request_destroy(&req);
            continue;
        }
        if (loop->held_count == loop->held_size) {
            size_t size = loop->held_size ? 2 * loop->held_size : 16;
            s_held_t *bigger = realloc(loop->held, size * sizeof *bigger);
            if (!bigger) {
                kp_worker_request_destroy(&req);
                return 1;
            }
            loop->held = bigger;
            loop->held_size = size;
        }
        loop->held[loop->held_count++] =
            (s_held_t){zclock_usecs() + s_service_sample(args), req, worker};
    }
}

//  One loop for every node's worker: poll their sockets, and give each
//  kp_worker_recv a turn at least every heartbeat (it drives heartbeats
//  and reconnection).
static int s_run(s_loop_t *loop, s_args_t *args, uint32_t heartbeat_ms)
{
    int status = 0;
    while (!s_stop && status == 0) {
        for (size_t i = 0; i < loop->count && status == 0; i++)
            status = s_take(loop, i, args);
        int64_t next = s_answer_due(args, loop->held, &loop->held_count);
        int64_t next_ms = next == INT64_MAX ? INT64_MAX : (next + 999) / 1000;
        long wait = next_ms < (int64_t)heartbeat_ms ? (long)next_ms : (long)heartbeat_ms;
        zmq_pollitem_t items[KP_CONFIG_MAX_NODES];
        for (size_t i = 0; i < loop->count; i++)
            items[i] = (zmq_pollitem_t){kp_worker_socket(loop->workers[i]), 0, ZMQ_POLLIN, 0};
        if (status == 0 && zmq_poll(items, (int)loop->count, wait) < 0 && errno != EINTR) {
            fprintf(stderr, "kpctl provider: poll: %s\n", zmq_strerror(errno));
            status = 1;
        }
    }
    for (size_t i = 0; i < loop->held_count; i++)
        kp_worker_request_destroy(&loop->held[i].req);
    free(loop->held);
    return status;
}

#define S_RAW_FRAMES 8 //  envelope frames kept, and the body

//  Sends frames[0..count-1) back as they came, then the echo Response to
//  the Request in frames[count-1]; a frame that is no Request is dropped.
static int s_raw_reply(void *sock, const s_args_t *args, zmq_msg_t *frames, size_t count)
{
    zmq_msg_t *body = &frames[count - 1];
    Kp__Request *req =
        kp__request__unpack(NULL, zmq_msg_size(body), (const uint8_t *)zmq_msg_data(body));
    if (!req)
        return 0;
    kp_json_t *json = s_echo_json(args->kbo, req->message, req->person);
    Kp__Part part = KP__PART__INIT;
    part.kbo = (char *)args->kbo;
    part.has_status = true;
    part.status = KP__STATUS__OK;
    part.has_payload = true;
    part.payload.data = (uint8_t *)kp_json_text(json);
    part.payload.len = kp_json_length(json);
    Kp__Part *parts[1] = {&part};
    Kp__Response res = KP__RESPONSE__INIT;
    res.request_id = req->request_id;
    res.has_status = true;
    res.status = KP__STATUS__OK;
    res.n_parts = 1;
    res.parts = parts;
    zmq_msg_t reply;
    zmq_msg_init_size(&reply, kp__response__get_packed_size(&res));
    kp__response__pack(&res, zmq_msg_data(&reply));
    int rc = 0;
    for (size_t i = 0; i + 1 < count && rc == 0; i++)
        rc = zmq_msg_send(&frames[i], sock, ZMQ_SNDMORE) < 0 ? -1 : 0;
    if (rc == 0 && zmq_msg_send(&reply, sock, 0) < 0)
        rc = -1;
    zmq_msg_close(&reply);
    kp_json_destroy(&json);
    kp__request__free_unpacked(req, NULL);
    return rc;
}

//  --raw-echo with a service time: a message held until its time comes.
typedef struct {
    int64_t due; //  µs, monotonic
    size_t count;
    zmq_msg_t frames[S_RAW_FRAMES];
} s_raw_held_t;

typedef struct {
    s_raw_held_t *items;
    size_t count, size;
} s_raw_queue_t;

//  Answers the held messages whose time has come; µs to the next, or
//  INT64_MAX. 0, or -1 if the socket failed.
static int s_raw_due(void *sock, const s_args_t *args, s_raw_queue_t *q, int64_t *next)
{
    int64_t now = zclock_usecs();
    *next = INT64_MAX;
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < q->count; i++) {
        s_raw_held_t *h = &q->items[i];
        if (h->due <= now) {
            if (rc == 0)
                rc = s_raw_reply(sock, args, h->frames, h->count);
            for (size_t f = 0; f < h->count; f++)
                zmq_msg_close(&h->frames[f]);
            continue;
        }
        if (h->due - now < *next)
            *next = h->due - now;
        q->items[kept++] = *h;
    }
    q->count = kept;
    return rc;
}

//  Holds frames[0..count) for the service time; false if out of memory.
static bool s_raw_hold(s_raw_queue_t *q, s_args_t *args, zmq_msg_t *frames, size_t count)
{
    if (q->count == q->size) {
        size_t size = q->size ? 2 * q->size : 64;
        s_raw_held_t *bigger = realloc(q->items, size * sizeof *bigger);
        if (!bigger)
            return false;
        q->items = bigger;
        q->size = size;
    }
    s_raw_held_t *h = &q->items[q->count++];
    h->due = zclock_usecs() + s_service_sample(args);
    h->count = count;
    for (size_t i = 0; i < count; i++) {
        zmq_msg_init(&h->frames[i]);
        zmq_msg_move(&h->frames[i], &frames[i]);
    }
    return true;
}

//  --raw-echo: one message from the proxy answered, or held for the
//  service time (or dropped if it is not a Request, or has too many
//  frames: hostile input is never fatal). 0, or -1 if the socket failed.
static int s_raw_one(void *sock, s_args_t *args, s_raw_queue_t *q)
{
    zmq_msg_t frames[S_RAW_FRAMES];
    size_t count = 0;
    bool more = true, overflow = false;
    int rc = 0;
    while (more && rc == 0) {
        zmq_msg_t scratch;
        zmq_msg_t *msg = count < S_RAW_FRAMES ? &frames[count] : &scratch;
        zmq_msg_init(msg);
        if (zmq_msg_recv(msg, sock, 0) < 0)
            rc = -1;
        else
            more = zmq_msg_more(msg);
        if (msg == &scratch || rc != 0) {
            zmq_msg_close(msg);
            overflow = overflow || msg == &scratch;
        } else
            count++;
    }
    if (rc == 0 && count > 0 && !overflow && args->service_us > 0)
        rc = s_raw_hold(q, args, frames, count) ? 0 : -1;
    else if (rc == 0 && count > 0 && !overflow)
        rc = s_raw_reply(sock, args, frames, count);
    for (size_t i = 0; i < count; i++)
        zmq_msg_close(&frames[i]);
    return rc;
}

//  --raw-echo: answers the bare proxy's requests (after the service
//  time) until SIGINT or SIGTERM. The exit status.
static int s_raw_echo(s_args_t *args)
{
    s_raw_queue_t held = {NULL, 0, 0};
    void *zctx = zmq_ctx_new();
    void *sock = zctx ? zmq_socket(zctx, ZMQ_DEALER) : NULL;
    int zero = 0;
    //  Over CURVE like a provider's link to a node, with a throw-away key
    //  pair (the proxy has no ZAP handler: it accepts any client key).
    char public[41], secret[41];
    if (!sock || zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) ||
        (args->raw_key && (zmq_curve_keypair(public, secret) ||
                           zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, args->raw_key, 41) ||
                           zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public, 41) ||
                           zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, 41))) ||
        zmq_connect(sock, args->raw_echo)) {
        fprintf(stderr, "kpctl provider: --raw-echo %s: %s\n", args->raw_echo,
                zmq_strerror(zmq_errno()));
        if (sock)
            zmq_close(sock);
        if (zctx)
            zmq_ctx_term(zctx);
        return 2;
    }
    fprintf(stderr, "kpctl provider: %s raw echo via %s%s\n", args->kbo, args->raw_echo,
            args->raw_key ? " (CURVE)" : "");
    s_signals();
    int status = 0;
    while (!s_stop && status == 0) {
        int64_t next;
        if (s_raw_due(sock, args, &held, &next))
            status = 1;
        long wait = next >= 1000000 ? 1000 : (long)((next + 999) / 1000);
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, wait);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "kpctl provider: poll: %s\n", zmq_strerror(errno));
            status = 1;
        }
        //  Drain what is queued before polling again: batches under load.
        int events = 0;
        size_t len = sizeof events;
        while (n > 0 && status == 0 && !s_stop &&
               zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))
            if (s_raw_one(sock, args, &held) != 0) {
                fprintf(stderr, "kpctl provider: --raw-echo: %s\n", zmq_strerror(errno));
                status = 1;
            }
    }
    for (size_t i = 0; i < held.count; i++)
        for (size_t f = 0; f < held.items[i].count; f++)
            zmq_msg_close(&held.items[i].frames[f]);
    free(held.items);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    return status;
}

//  CURVE for worker unless the cluster is insecure: the provider's
//  certificate and the node's public key.
static int s_curve(kp_worker_t *worker, const kp_cluster_config_t *config,
                   const kp_node_config_t *node)
{
    if (config->insecure)
        return 0;
    const char *cert = kpctl_cert("provider");
    char key[KP_CURVE_Z85], err[512];
    if (!cert)
        return -1;
    if (kp_curve_node_key(node, key, err, sizeof err)) {
        fprintf(stderr, "kpctl provider: %s\n", err);
        return -1;
    }
    if (kp_worker_set_curve(worker, cert, key) == 0)
        return 0;
    fprintf(stderr,
            "kpctl provider: cannot use the certificate %s (a CZMQ certificate with its "
            "_secret file, as 'kpctl keys new' writes)\n",
            cert);
    return -1;
}

//  kpctl provider: an echo provider worker on every node of the cluster
//  file (or a raw echo worker); prints its counts when stopped.
int kpctl_provider(int argc, char **argv)
{
    s_args_t args;
    memset(&args, 0, sizeof args);
    int rc = s_parse(argc, argv, &args);
    if (rc == 1) {
        s_usage(stdout);
        return 0;
    }
    if (rc != 0 || s_check(&args) != 0)
        return 2;
    if (args.raw_echo)
        return s_raw_echo(&args);
    kp_cluster_config_t *config = kpctl_cluster_load("provider", args.config);
    if (!config)
        return 2;
    if (args.node_count == 0)
        for (size_t i = 0; i < config->node_count; i++)
            args.nodes[args.node_count++] = config->nodes[i].name;
    s_loop_t loop;
    memset(&loop, 0, sizeof loop);
    uint32_t heartbeat_ms = config->heartbeat_ms ? config->heartbeat_ms : 1000;
    int status = 0;
    for (size_t i = 0; i < args.node_count && status == 0; i++) {
        const kp_node_config_t *node =
            kpctl_cluster_node("provider", config, args.config, args.nodes[i]);
        if (!node) {
            status = 2;
            break;
        }
        kp_worker_t *worker =
            kp_worker_new(node->worker, args.kbo, args.messages, args.message_count);
        if (!worker) {
            fprintf(stderr, "kpctl provider: cannot make a worker for %s\n", node->worker);
            status = 1;
            break;
        }
        if (s_curve(worker, config, node)) {
            kp_worker_destroy(&worker);
            status = 2;
            break;
        }
        kp_worker_set_heartbeat(worker, heartbeat_ms);
        kp_worker_set_concurrency(worker, args.concurrency);
        kp_worker_set_max_frame(worker, config->max_frame);
        kp_worker_set_notify(worker, s_on_notify, &args);
        loop.workers[loop.count] = worker;
        loop.names[loop.count++] = args.nodes[i];
        fprintf(stderr, "kpctl provider: %s serving %zu message type%s via %s (%s)\n", args.kbo,
                args.message_count, args.message_count == 1 ? "" : "s", node->name, node->worker);
    }
    if (status == 0) {
        s_signals();
        status = s_run(&loop, &args, heartbeat_ms);
    }
    for (size_t i = 0; i < loop.count; i++)
        kp_worker_destroy(&loop.workers[i]); //  says bye
    //  kpbench parses this line: its text is part of the interface. Also
    //  after giving up on an error: the counts are still exact, and a
    //  bench that lost a provider still wants them.
    if (loop.count == args.node_count) {
        printf("provider %s: served %llu requests, %llu request ids more than once\n", args.kbo,
               (unsigned long long)loop.seen.served, (unsigned long long)loop.seen.again);
        fflush(stdout);
    }
    s_seen_free(&loop.seen);
    free(config);
    return status;
}
