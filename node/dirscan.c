/*  dirscan.c - the directory's long reads on a thread of their own. */
#include "dirscan.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirreport.h"
#include "logindex.h"
#include "logreport.h"
#include "validate.h"

#define S_ARGS 7

struct _kp_dirscan_t {
    zactor_t *actor;
    unsigned waiting; //  asked, not yet answered
};

//  What the actor reads.
typedef struct {
    kp_directory_t *directory;
    char log_dir[4200];    //  "" when the node keeps no log
    char copies_dir[4200]; //  the log mirror's copies (log/mirror.h); "" when none
} s_sources_t;

bool kp_dirscan_handles(const char *command)
{
    return command &&
           (!strcmp(command, "directory.checksum") || !strcmp(command, "directory.export") ||
            !strcmp(command, "log.query") || !strcmp(command, "log.stats"));
}

//  A number argument within [low, high].
static bool s_number(const char *text, int64_t low, int64_t high, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = text && *text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || n < low || n > high)
        return false;
    *out = n;
    return true;
}

//  The numbers a person query searches: the person's whole family in
//  the register (kp_register_family: what replaced it, what that
//  replaced), or the key alone for any other query.
typedef struct {
    char numbers[KP_REGISTER_MAX_FAMILY][12];
    const char *keys[KP_REGISTER_MAX_FAMILY];
    size_t count;
} s_keys_t;

//  Read while the scan holds the directory's read transaction.
static void s_query_keys(kp_directory_t *directory, MDB_txn *txn, const char *command, char **args,
                         size_t n, s_keys_t *out)
{
    out->count = 0;
    if (strcmp(command, "log.query") || n < 2 || strcmp(args[0], "person") ||
        !kp_insz_valid(args[1]))
        return;
    kp_register_tables_t tables;
    kp_directory_register_tables(directory, &tables);
    out->count = kp_register_family(&tables, txn, args[1], out->numbers, KP_REGISTER_MAX_FAMILY);
    for (size_t i = 0; i < out->count; i++)
        out->keys[i] = out->numbers[i];
}

//  log.query KIND KEY FROM_US TO_US [AFTER LIMIT] [COPY-OF]: the records
//  of the index (of every number of a person, keys), a page of LIMIT
//  messages after seq AFTER when they are given (at most
//  KP_LOG_QUERY_LIMIT: the answer says where the next page starts); with
//  COPY-OF, read from the copy of that node's log kept here (no index:
//  every segment read).
static char *s_log_query(const char *dir, char **args, size_t n, bool copy, const s_keys_t *keys,
                         char *err, size_t errlen)
{
    int64_t from, to, after = 0, limit = KP_LOG_QUERY_LIMIT;
    char tag = (n == 4 || n == 6) && !strcmp(args[0], "person")        ? KP_LOGINDEX_PERSON
               : (n == 4 || n == 6) && !strcmp(args[0], "institution") ? KP_LOGINDEX_INSTITUTION
               : (n == 4 || n == 6) && !strcmp(args[0], "message")     ? KP_LOGINDEX_MESSAGE
                                                                       : 0;
    bool key_ok = tag == KP_LOGINDEX_PERSON        ? kp_insz_valid(args[1])
                  : tag == KP_LOGINDEX_INSTITUTION ? kp_kbo_valid(args[1])
                                                   : tag && *args[1] && strlen(args[1]) <= 64;
    if (!key_ok || !s_number(args[2], 0, INT64_MAX, &from) ||
        !s_number(args[3], 0, INT64_MAX, &to) ||
        (n == 6 &&
         (!s_number(args[4], 0, INT64_MAX, &after) || !s_number(args[5], 1, INT64_MAX, &limit)))) {
        snprintf(err, errlen,
                 "log.query needs KIND (person, institution, message), a valid KEY, FROM_US "
                 "and TO_US (microseconds since 1970), and for a page AFTER (a seq) and LIMIT "
                 "(1 or more messages)");
        return NULL;
    }
    if (limit > KP_LOG_QUERY_LIMIT)
        limit = KP_LOG_QUERY_LIMIT; //  the answer says where the rest starts
    const char *const *searched = keys->count ? keys->keys : (const char *const *)&args[1];
    size_t n_keys = keys->count ? keys->count : 1;
    //  to = INT64_MAX stands for "no end" (UINT64_MAX does not fit).
    uint64_t end = to == INT64_MAX ? UINT64_MAX : (uint64_t)to;
    return copy ? kp_logreport_query_scan_keys(dir, tag, searched, n_keys, (uint64_t)from, end,
                                               (uint64_t)after, (uint64_t)limit, err, errlen)
                : kp_logreport_query_keys(dir, tag, searched, n_keys, (uint64_t)from, end,
                                          (uint64_t)after, (uint64_t)limit, err, errlen);
}

//  log.stats FROM_DAY TO_DAY: counts over the segments.
static char *s_log_stats(const char *dir, char **args, size_t n, char *err, size_t errlen)
{
    int64_t from, to;
    if ((n != 2 && n != 3) || !s_number(args[0], INT32_MIN, INT32_MAX, &from) ||
        !s_number(args[1], INT32_MIN, INT32_MAX, &to)) {
        snprintf(err, errlen, "log.stats needs FROM_DAY and TO_DAY (days since 1970)");
        return NULL;
    }
    return kp_logreport_stats(dir, (int32_t)from, (int32_t)to, err, errlen);
}

//  The folder of the copy of node's log kept here, or NULL (err says why).
static const char *s_copy_dir(const s_sources_t *sources, const char *node, char *out,
                              size_t outlen, char *err, size_t errlen)
{
    bool name_ok = *node && *node != '.' && strlen(node) < 64;
    for (const char *c = node; *c && name_ok; c++)
        name_ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.';
    struct stat st;
    if (!name_ok || !*sources->copies_dir ||
        snprintf(out, outlen, "%s/%s", sources->copies_dir, node) >= (int)outlen ||
        stat(out, &st) || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "no copy of %.64s's log is kept here (see log-mirror)",
                 name_ok ? node : "that node");
        return NULL;
    }
    return out;
}

static char *s_log(const s_sources_t *sources, const char *command, char **args, size_t n,
                   const s_keys_t *keys, char *err, size_t errlen)
{
    bool query = !strcmp(command, "log.query");
    //  The copy's node comes last: after 4 or 6 arguments of a query,
    //  after 2 of log.stats.
    if (query ? n == 5 || n == 7 : n == 3) {
        char copy[4300];
        const char *dir = s_copy_dir(sources, args[n - 1], copy, sizeof copy, err, errlen);
        if (!dir)
            return NULL;
        return query ? s_log_query(dir, args, n - 1, true, keys, err, errlen)
                     : s_log_stats(dir, args, n, err, errlen);
    }
    if (!*sources->log_dir) {
        snprintf(err, errlen, "%s: this node keeps no privacy log (a witness)", command);
        return NULL;
    }
    return query ? s_log_query(sources->log_dir, args, n, false, keys, err, errlen)
                 : s_log_stats(sources->log_dir, args, n, err, errlen);
}

//  One scan: token, command, args -> token, seq, json ("" when it failed),
//  error.
static void s_scan(const s_sources_t *sources, zsock_t *pipe, zmsg_t *msg)
{
    zframe_t *token = zmsg_pop(msg);
    char *command = zmsg_popstr(msg);
    char *args[S_ARGS];
    size_t n = 0;
    while (n < S_ARGS && zmsg_size(msg))
        args[n++] = zmsg_popstr(msg);
    char err[256] = "";
    uint64_t seq = 0;
    char *json = NULL;
    kp_directory_t *directory = sources->directory;
    MDB_txn *txn = kp_directory_read_begin(directory, err, sizeof err);
    if (txn) {
        seq = kp_directory_seq(directory, txn);
        if (!strncmp(command, "log.", 4)) {
            s_keys_t keys;
            s_query_keys(directory, txn, command, args, n, &keys);
            kp_directory_read_end(&txn); //  not needed for as long as the log is read
            json = s_log(sources, command, args, n, &keys, err, sizeof err);
        } else {
            json = !strcmp(command, "directory.checksum") ? kp_dirreport_checksum(directory, txn)
                                                          : kp_dirreport_export(directory, txn);
            if (!json)
                snprintf(err, sizeof err, "the directory could not be read; see the node's log");
        }
        kp_directory_read_end(&txn);
    }
    for (size_t i = 0; i < n; i++)
        zstr_free(&args[i]);
    zmsg_t *out = zmsg_new();
    zmsg_append(out, &token);
    zmsg_addmem(out, &seq, sizeof seq);
    zmsg_addstr(out, json ? json : "");
    zmsg_addstr(out, err);
    zmsg_send(&out, pipe);
    free(json);
    zstr_free(&command);
}

static void s_actor(zsock_t *pipe, void *args)
{
    s_sources_t *sources = (s_sources_t *)args;
    zsock_signal(pipe, 0);
    for (;;) {
        zmsg_t *msg = zmsg_recv(pipe);
        if (!msg)
            break;
        char *command = zmsg_popstr(msg);
        bool term = !command || !strcmp(command, "$TERM");
        if (!term && !strcmp(command, "SCAN"))
            s_scan(sources, pipe, msg);
        zstr_free(&command);
        zmsg_destroy(&msg);
        if (term)
            break;
    }
    free(sources);
}

kp_dirscan_t *kp_dirscan_new(kp_directory_t *directory, const char *log_dir, const char *copies_dir)
{
    kp_dirscan_t *self = calloc(1, sizeof *self);
    s_sources_t *sources = calloc(1, sizeof *sources);
    assert(self && sources);
    sources->directory = directory;
    snprintf(sources->log_dir, sizeof sources->log_dir, "%s", log_dir ? log_dir : "");
    snprintf(sources->copies_dir, sizeof sources->copies_dir, "%s", copies_dir ? copies_dir : "");
    self->actor = zactor_new(s_actor, sources); //  the actor frees sources
    assert(self->actor);
    return self;
}

void kp_dirscan_destroy(kp_dirscan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy(&(*self_p)->actor);
    free(*self_p);
    *self_p = NULL;
}

int kp_dirscan_ask(kp_dirscan_t *self, uint64_t token, const char *command, char **args,
                   size_t n_args, char *err, size_t errlen)
{
    if (n_args > S_ARGS) {
        snprintf(err, errlen, "%s: at most %d arguments", command, S_ARGS);
        return -1;
    }
    if (self->waiting >= KP_DIRSCAN_QUEUE) {
        snprintf(err, errlen,
                 "%s: %u directory scans are waiting already (checksum, export: about a "
                 "second per million records each); ask again when they are done",
                 command, self->waiting);
        return -1;
    }
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, "SCAN");
    zmsg_addmem(msg, &token, sizeof token);
    zmsg_addstr(msg, command);
    for (size_t i = 0; i < n_args; i++)
        zmsg_addstr(msg, args[i] ? args[i] : "");
    if (zmsg_send(&msg, self->actor)) {
        zmsg_destroy(&msg);
        snprintf(err, errlen, "%s: the directory scanner is gone", command);
        return -1;
    }
    self->waiting++;
    return 0;
}

zsock_t *kp_dirscan_sock(kp_dirscan_t *self)
{
    return zactor_sock(self->actor);
}

bool kp_dirscan_recv(kp_dirscan_t *self, kp_dirscan_result_t *result)
{
    memset(result, 0, sizeof *result);
    zsock_t *sock = zactor_sock(self->actor);
    if (!(zsock_events(sock) & ZMQ_POLLIN))
        return false;
    zmsg_t *msg = zmsg_recv(sock);
    if (!msg)
        return false;
    self->waiting--;
    zframe_t *token = zmsg_pop(msg), *seq = zmsg_pop(msg);
    char *json = zmsg_popstr(msg), *err = zmsg_popstr(msg);
    assert(token && zframe_size(token) == sizeof result->token && seq &&
           zframe_size(seq) == sizeof result->seq && json && err);
    memcpy(&result->token, zframe_data(token), sizeof result->token);
    memcpy(&result->seq, zframe_data(seq), sizeof result->seq);
    snprintf(result->err, sizeof result->err, "%s", err);
    if (*json && !*err)
        result->json = json;
    else
        zstr_free(&json);
    zstr_free(&err);
    zframe_destroy(&token);
    zframe_destroy(&seq);
    zmsg_destroy(&msg);
    return true;
}
