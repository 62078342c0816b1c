/*  access.c - the access-control report of a quarter; see access.h. */
#include "access.h"

#include <assert.h>
#include <czmq.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "json.h"
#include "svg.h"
#include "validate.h"

#define S_REASONS 64
#define S_TOP 10

typedef struct {
    char kbo[KP_KBO_LEN + 1];
    uint64_t requests, refused;
} s_party_t; //  an institution, or a user of one

struct _kp_access_t {
    char quarter[8];
    int year, first_month; //  first_month: 1, 4, 7 or 10
    int32_t from_day, to_day;
    uint64_t from_us, to_us;
    uint64_t requests, refused, invalid;
    uint64_t refused_by_reason[S_REASONS];
    uint64_t invalid_by_reason[S_REASONS];
    uint64_t month_requests[3], month_refused[3];
    uint64_t month_by_reason[3][S_REASONS];
    zhashx_t *institutions; //  kbo -> s_party_t
    zhashx_t *users;        //  user id -> s_party_t
    zhashx_t *directory;    //  user id -> kbo (strings), the directory's users
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

int kp_access_quarter(const char *text, int32_t *from_day, int32_t *to_day)
{
    int year, q;
    char tail;
    if (strlen(text) != 6 || sscanf(text, "%4dQ%1d%c", &year, &q, &tail) != 2 || q < 1 || q > 4 ||
        year < 1970 || year > 9999)
        return -1;
    char first[32], next[32];
    snprintf(first, sizeof first, "%04d-%02d-01", year, 3 * q - 2);
    snprintf(next, sizeof next, "%04d-%02d-01", q == 4 ? year + 1 : year, q == 4 ? 1 : 3 * q + 1);
    int32_t end;
    if (kp_date_parse(first, from_day) || kp_date_parse(next, &end))
        return -1;
    *to_day = end - 1;
    return 0;
}

kp_access_t *kp_access_new(const char *quarter)
{
    int32_t from, to;
    if (kp_access_quarter(quarter, &from, &to))
        return NULL;
    kp_access_t *self = calloc(1, sizeof *self);
    assert(self);
    snprintf(self->quarter, sizeof self->quarter, "%s", quarter);
    self->quarter[4] = 'Q';
    self->year = atoi(quarter);
    self->first_month = 3 * (quarter[5] - '0') - 2;
    self->from_day = from;
    self->to_day = to;
    self->from_us = (uint64_t)from * 86400000000ULL;
    self->to_us = (uint64_t)(to + 1) * 86400000000ULL;
    self->institutions = zhashx_new();
    self->users = zhashx_new();
    self->directory = zhashx_new();
    assert(self->institutions && self->users && self->directory);
    zhashx_set_destructor(self->institutions, s_free);
    zhashx_set_destructor(self->users, s_free);
    zhashx_set_destructor(self->directory, s_free);
    return self;
}

void kp_access_destroy(kp_access_t **self_p)
{
    if (self_p && *self_p) {
        kp_access_t *self = *self_p;
        zhashx_destroy(&self->institutions);
        zhashx_destroy(&self->users);
        zhashx_destroy(&self->directory);
        free(self);
        *self_p = NULL;
    }
}

void kp_access_days(const kp_access_t *self, int32_t *from_day, int32_t *to_day)
{
    *from_day = self->from_day;
    *to_day = self->to_day;
}

static s_party_t *s_party(zhashx_t *table, const char *key, const char *kbo)
{
    s_party_t *party = zhashx_lookup(table, key);
    if (!party) {
        party = calloc(1, sizeof *party);
        assert(party);
        snprintf(party->kbo, sizeof party->kbo, "%s", kbo ? kbo : "");
        zhashx_insert(table, key, party);
    }
    return party;
}

void kp_access_add(kp_access_t *self, const Kp__LogRecord *record)
{
    const char *message = record->message ? record->message : "";
    uint64_t t = record->time_unix_us;
    if (!strncmp(message, "admin.", 6) || record->action || t < self->from_us || t >= self->to_us)
        return;
    //  A routed call is a DECISION and an OUTCOME: one request, counted
    //  at its decision (the outcome repeats its user and sender).
    if (record->has_kind && record->kind == KP__LOG_KIND__LOG_OUTCOME)
        return;
    time_t seconds = (time_t)(t / 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    int month = tm.tm_mon + 1 - self->first_month;
    unsigned reason = (unsigned)record->reason % S_REASONS;
    bool refused = record->status == KP__STATUS__DENIED;
    self->requests++;
    self->month_requests[month]++;
    if (record->status == KP__STATUS__INVALID) {
        self->invalid++;
        self->invalid_by_reason[reason]++;
    }
    if (refused) {
        self->refused++;
        self->refused_by_reason[reason]++;
        self->month_refused[month]++;
        self->month_by_reason[month][reason]++;
    }
    const char *kbo = record->sender_kbo && *record->sender_kbo ? record->sender_kbo : "unknown";
    s_party_t *institution = s_party(self->institutions, kbo, kbo);
    institution->requests++;
    institution->refused += refused;
    if (record->user && *record->user) {
        s_party_t *user = s_party(self->users, record->user, kbo);
        user->requests++;
        user->refused += refused;
    }
}

void kp_access_user(kp_access_t *self, const char *id, const char *kbo)
{
    char *copy = strdup(kbo ? kbo : "");
    assert(copy);
    zhashx_update(self->directory, id, copy);
}

//  ---------------------------------------------------------------------
//  Rankings

typedef struct {
    const char *key;
    const s_party_t *party;
} s_ranked_t;

static int s_by_refused(const void *a, const void *b)
{
    const s_ranked_t *x = a, *y = b;
    if (x->party->refused != y->party->refused)
        return x->party->refused > y->party->refused ? -1 : 1;
    return strcmp(x->key, y->key);
}

//  The parties of table with a refusal, most refused first (free it).
static s_ranked_t *s_rank(zhashx_t *table, size_t *count)
{
    s_ranked_t *ranked = calloc(zhashx_size(table) + 1, sizeof *ranked);
    assert(ranked);
    size_t n = 0;
    for (s_party_t *p = zhashx_first(table); p; p = zhashx_next(table))
        if (p->refused)
            ranked[n++] = (s_ranked_t){zhashx_cursor(table), p};
    qsort(ranked, n, sizeof *ranked, s_by_refused);
    *count = n;
    return ranked;
}

//  The directory's users that sent nothing, sorted.
static zlistx_t *s_unused(const kp_access_t *self)
{
    zlistx_t *ids = zlistx_new();
    assert(ids);
    for (void *kbo = zhashx_first(self->directory); kbo; kbo = zhashx_next(self->directory)) {
        const char *id = zhashx_cursor(self->directory);
        if (!zhashx_lookup(self->users, id))
            zlistx_add_end(ids, (void *)id);
    }
    zlistx_set_comparator(ids, (zlistx_comparator_fn *)strcmp);
    zlistx_sort(ids);
    return ids;
}

static double s_rate(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0;
}

static const char *s_month_name(const kp_access_t *self, int month)
{
    static const char *names[] = {"January",   "February", "March",    "April",
                                  "May",       "June",     "July",     "August",
                                  "September", "October",  "November", "December"};
    return names[self->first_month - 1 + month];
}

//  ---------------------------------------------------------------------
//  Text

static void s_text_reasons(FILE *out, const uint64_t *table)
{
    bool any = false;
    for (int r = 0; r < S_REASONS; r++)
        if (table[r]) {
            fprintf(out, "  %-32s %10llu\n", r ? kp_reason_name((Kp__Reason)r) : "NONE",
                    (unsigned long long)table[r]);
            any = true;
        }
    if (!any)
        fprintf(out, "  (none)\n");
}

static void s_text_ranked(FILE *out, zhashx_t *table, bool users)
{
    size_t n;
    s_ranked_t *ranked = s_rank(table, &n);
    for (size_t i = 0; i < n && i < S_TOP; i++)
        fprintf(out, "  %-24s %-12s %10llu of %10llu  %6.2f%%\n", ranked[i].key,
                users ? ranked[i].party->kbo : "", (unsigned long long)ranked[i].party->refused,
                (unsigned long long)ranked[i].party->requests,
                100 * s_rate(ranked[i].party->refused, ranked[i].party->requests));
    if (!n)
        fprintf(out, "  (none)\n");
    free(ranked);
}

void kp_access_text(const kp_access_t *self, FILE *out)
{
    char from[11], to[11];
    kp_date_format(self->from_day, from);
    kp_date_format(self->to_day, to);
    fprintf(out, "Access control %s (%s to %s, UTC)\n", self->quarter, from, to);
    fprintf(out, "requests %llu, refused %llu (%.2f%%), invalid %llu\n\n",
            (unsigned long long)self->requests, (unsigned long long)self->refused,
            100 * s_rate(self->refused, self->requests), (unsigned long long)self->invalid);
    fprintf(out, "refusals per reason\n");
    s_text_reasons(out, self->refused_by_reason);
    fprintf(out, "\nper month                        requests    refused\n");
    for (int m = 0; m < 3; m++)
        fprintf(out, "  %-28s %10llu %10llu  %6.2f%%\n", s_month_name(self, m),
                (unsigned long long)self->month_requests[m],
                (unsigned long long)self->month_refused[m],
                100 * s_rate(self->month_refused[m], self->month_requests[m]));
    fprintf(out, "\ninstitutions refused most (refused of requests)\n");
    s_text_ranked(out, self->institutions, false);
    fprintf(out, "\nusers refused most (user, institution, refused of requests)\n");
    s_text_ranked(out, self->users, true);
    fprintf(out, "\ninvalid requests per reason (no access decision)\n");
    s_text_reasons(out, self->invalid_by_reason);
    zlistx_t *unused = s_unused(self);
    fprintf(out, "\nusers never used in %s: %zu of %zu in the directory\n", self->quarter,
            zlistx_size(unused), zhashx_size(self->directory));
    for (const char *id = zlistx_first(unused); id; id = zlistx_next(unused))
        fprintf(out, "  %-24s %s\n", id, (const char *)zhashx_lookup(self->directory, id));
    if (!zhashx_size(self->directory))
        fprintf(out, "  (no directory read: give --data DIR or -c FILE)\n");
    zlistx_destroy(&unused);
}

//  ---------------------------------------------------------------------
//  JSON

static void s_json_reasons(kp_json_t *j, const char *key, const uint64_t *table)
{
    kp_json_key(j, key);
    kp_json_object_open(j);
    for (int r = 0; r < S_REASONS; r++)
        if (table[r])
            kp_json_kv_uint(j, r ? kp_reason_name((Kp__Reason)r) : "NONE", table[r]);
    kp_json_object_close(j);
}

static void s_json_ranked(kp_json_t *j, const char *key, zhashx_t *table, bool users)
{
    size_t n;
    s_ranked_t *ranked = s_rank(table, &n);
    kp_json_key(j, key);
    kp_json_array_open(j);
    for (size_t i = 0; i < n && i < S_TOP; i++) {
        kp_json_object_open(j);
        kp_json_kv_string(j, users ? "user" : "kbo", ranked[i].key);
        if (users)
            kp_json_kv_string(j, "kbo", ranked[i].party->kbo);
        kp_json_kv_uint(j, "requests", ranked[i].party->requests);
        kp_json_kv_uint(j, "refused", ranked[i].party->refused);
        kp_json_key(j, "rate");
        kp_json_double(j, s_rate(ranked[i].party->refused, ranked[i].party->requests));
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    free(ranked);
}

static void s_json_institutions(kp_json_t *j, zhashx_t *table)
{
    kp_json_key(j, "by_institution");
    kp_json_object_open(j);
    zlistx_t *kbos = zhashx_keys(table);
    zlistx_set_comparator(kbos, (zlistx_comparator_fn *)strcmp);
    zlistx_sort(kbos);
    for (const char *kbo = zlistx_first(kbos); kbo; kbo = zlistx_next(kbos)) {
        const s_party_t *p = zhashx_lookup(table, kbo);
        kp_json_key(j, kbo);
        kp_json_object_open(j);
        kp_json_kv_uint(j, "requests", p->requests);
        kp_json_kv_uint(j, "refused", p->refused);
        kp_json_object_close(j);
    }
    zlistx_destroy(&kbos);
    kp_json_object_close(j);
}

void kp_access_json(const kp_access_t *self, FILE *out)
{
    char day[11];
    kp_json_t *j = kp_json_new();
    kp_json_object_open(j);
    kp_json_kv_string(j, "quarter", self->quarter);
    kp_date_format(self->from_day, day);
    kp_json_kv_string(j, "from", day);
    kp_date_format(self->to_day, day);
    kp_json_kv_string(j, "to", day);
    kp_json_kv_uint(j, "requests", self->requests);
    kp_json_kv_uint(j, "refused", self->refused);
    kp_json_kv_uint(j, "invalid", self->invalid);
    s_json_reasons(j, "refused_by_reason", self->refused_by_reason);
    s_json_reasons(j, "invalid_by_reason", self->invalid_by_reason);
    kp_json_key(j, "by_month");
    kp_json_array_open(j);
    for (int m = 0; m < 3; m++) {
        char month[8];
        snprintf(month, sizeof month, "%04d-%02d", self->year, self->first_month + m);
        kp_json_object_open(j);
        kp_json_kv_string(j, "month", month);
        kp_json_kv_uint(j, "requests", self->month_requests[m]);
        kp_json_kv_uint(j, "refused", self->month_refused[m]);
        s_json_reasons(j, "refused_by_reason", self->month_by_reason[m]);
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    s_json_institutions(j, self->institutions);
    s_json_ranked(j, "institutions_refused_most", self->institutions, false);
    s_json_ranked(j, "users_refused_most", self->users, true);
    kp_json_key(j, "directory_users");
    kp_json_uint(j, zhashx_size(self->directory));
    kp_json_key(j, "users_never_used");
    kp_json_array_open(j);
    zlistx_t *unused = s_unused(self);
    for (const char *id = zlistx_first(unused); id; id = zlistx_next(unused)) {
        kp_json_object_open(j);
        kp_json_kv_string(j, "user", id);
        kp_json_kv_string(j, "kbo", zhashx_lookup(self->directory, id));
        kp_json_object_close(j);
    }
    zlistx_destroy(&unused);
    kp_json_array_close(j);
    kp_json_object_close(j);
    fprintf(out, "%s\n", kp_json_text(j));
    kp_json_destroy(&j);
}

//  ---------------------------------------------------------------------
//  SVG: refusals per month, stacked by reason

#define S_W 900
#define S_H 460
#define S_LEFT 80
#define S_RIGHT 330
#define S_TOP_PX 50
#define S_BOTTOM 50
#define S_SHOWN 6 //  reasons with a color of their own; the rest are "other"

//  The reasons with the most refusals, most first; returns how many.
static int s_top_reasons(const kp_access_t *self, int top[S_SHOWN])
{
    int n = 0;
    for (int r = 0; r < S_REASONS; r++) {
        if (!self->refused_by_reason[r])
            continue;
        int at = n < S_SHOWN ? n++ : S_SHOWN;
        if (at == S_SHOWN && self->refused_by_reason[r] <= self->refused_by_reason[top[n - 1]])
            continue;
        at = at == S_SHOWN ? S_SHOWN - 1 : at;
        while (at > 0 && self->refused_by_reason[r] > self->refused_by_reason[top[at - 1]]) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = r;
    }
    return n;
}

int kp_access_svg(const kp_access_t *self, const char *path, char *err, size_t errlen)
{
    char title[96];
    snprintf(title, sizeof title, "Refusals by the preventive control, %s, per month and reason",
             self->quarter);
    kp_svg_t *svg = kp_svg_new(path, S_W, S_H, title, err, errlen);
    if (!svg)
        return -1;
    uint64_t most = 1;
    for (int m = 0; m < 3; m++)
        most = self->month_refused[m] > most ? self->month_refused[m] : most;
    double plot_h = S_H - S_TOP_PX - S_BOTTOM, slot = (S_W - S_LEFT - S_RIGHT) / 3.0;
    for (int i = 0; i <= 4; i++) {
        double y = S_TOP_PX + plot_h * (1 - i / 4.0);
        kp_svg_line(svg, S_LEFT, y, S_W - S_RIGHT, y, "#ddd", 1, NULL);
        kp_svg_text(svg, S_LEFT - 6, y + 4, "end", "%.0f", (double)most * i / 4.0);
    }
    kp_svg_vtext(svg, 18, S_H / 2.0, "refused requests");
    int top[S_SHOWN];
    int shown = s_top_reasons(self, top);
    for (int m = 0; m < 3; m++) {
        double x = S_LEFT + slot * m + slot * 0.2, y = S_TOP_PX + plot_h;
        uint64_t other = self->month_refused[m];
        for (int k = 0; k <= shown; k++) {
            uint64_t count = k < shown ? self->month_by_reason[m][top[k]] : other;
            if (k < shown)
                other -= count;
            double h = plot_h * (double)count / (double)most;
            y -= h;
            kp_svg_rect(svg, x, y, slot * 0.6, h, k < shown ? kp_svg_color((size_t)k) : "#bbb");
        }
        kp_svg_text(svg, x + slot * 0.3, y - 6, "middle", "%llu",
                    (unsigned long long)self->month_refused[m]);
        kp_svg_text(svg, x + slot * 0.3, S_H - S_BOTTOM + 18, "middle", "%s",
                    s_month_name(self, m));
    }
    uint64_t rest = self->refused;
    for (int k = 0; k < shown; k++) {
        char label[96];
        snprintf(label, sizeof label, "%s: %llu", kp_reason_name((Kp__Reason)top[k]),
                 (unsigned long long)self->refused_by_reason[top[k]]);
        kp_svg_legend(svg, S_W - S_RIGHT + 15, S_TOP_PX + 10, (size_t)k, kp_svg_color((size_t)k),
                      label);
        rest -= self->refused_by_reason[top[k]];
    }
    if (rest) {
        char label[64];
        snprintf(label, sizeof label, "other reasons: %llu", (unsigned long long)rest);
        kp_svg_legend(svg, S_W - S_RIGHT + 15, S_TOP_PX + 10, (size_t)shown, "#bbb", label);
    }
    kp_svg_text(svg, S_W - S_RIGHT + 15, S_TOP_PX + 30 + 20.0 * (shown + 1), "start",
                "refused %llu of %llu requests (%.2f%%)", (unsigned long long)self->refused,
                (unsigned long long)self->requests, 100 * s_rate(self->refused, self->requests));
    return kp_svg_close(&svg, err, errlen);
}
