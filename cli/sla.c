/*  sla.c - the service-level report over the privacy log; see sla.h. */
#include "sla.h"

#include <assert.h>
#include <czmq.h>
#include <math.h>
#include <string.h>

#include "json.h"
#include "svg.h"
#include "validate.h"

#define S_HOUR_US 3600000000ULL
#define S_WORST 5

typedef struct {
    uint64_t online, online_1s, online_2s;
    uint64_t integrated, integrated_4s;
} s_counts_t;

typedef struct {
    char message[256];
    s_counts_t counts;
} s_message_t;

struct _kp_sla_t {
    int32_t from_day, to_day;
    uint64_t from_us, to_us; //  [from, to)
    s_counts_t overall;
    uint64_t decisions, outcomes; //  of routed calls: the difference is "outcome unknown"
    zhashx_t *messages;           //  message -> s_message_t
    size_t hours;
    s_counts_t *by_hour;
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

kp_sla_t *kp_sla_new(int32_t from_day, int32_t to_day)
{
    kp_sla_t *self = calloc(1, sizeof *self);
    assert(self && from_day <= to_day);
    self->from_day = from_day;
    self->to_day = to_day;
    self->from_us = (uint64_t)from_day * 24 * S_HOUR_US;
    self->to_us = (uint64_t)(to_day + 1) * 24 * S_HOUR_US;
    self->hours = (size_t)(to_day - from_day + 1) * 24;
    self->by_hour = calloc(self->hours, sizeof *self->by_hour);
    self->messages = zhashx_new();
    assert(self->by_hour && self->messages);
    zhashx_set_destructor(self->messages, s_free);
    return self;
}

void kp_sla_destroy(kp_sla_t **self_p)
{
    if (self_p && *self_p) {
        kp_sla_t *self = *self_p;
        zhashx_destroy(&self->messages);
        free(self->by_hour);
        free(self);
        *self_p = NULL;
    }
}

static void s_count(s_counts_t *c, bool integrated, uint64_t latency_us)
{
    if (integrated) {
        c->integrated++;
        c->integrated_4s += latency_us <= 4000000;
    } else {
        c->online++;
        c->online_1s += latency_us <= 1000000;
        c->online_2s += latency_us <= 2000000;
    }
}

void kp_sla_add(kp_sla_t *self, const Kp__LogRecord *record)
{
    const char *message = record->message ? record->message : "";
    uint64_t t = record->time_unix_us;
    if (!strncmp(message, "admin.", 6) || record->action || t < self->from_us || t >= self->to_us)
        return;
    //  A routed call is a DECISION, then an OUTCOME with its status and
    //  time; a refusal is one COMPLETE record. The time is the outcome's.
    if (record->has_kind && record->kind == KP__LOG_KIND__LOG_DECISION) {
        self->decisions++;
        return;
    }
    self->outcomes += record->has_kind && record->kind == KP__LOG_KIND__LOG_OUTCOME;
    bool integrated = record->n_parts > 1;
    uint64_t latency = record->has_latency_us ? record->latency_us : 0;
    s_count(&self->overall, integrated, latency);
    s_count(&self->by_hour[(t - self->from_us) / S_HOUR_US], integrated, latency);
    s_message_t *row = zhashx_lookup(self->messages, message);
    if (!row) {
        row = calloc(1, sizeof *row);
        assert(row);
        snprintf(row->message, sizeof row->message, "%s", message);
        zhashx_insert(self->messages, message, row);
    }
    s_count(&row->counts, integrated, latency);
}

uint64_t kp_sla_count(const kp_sla_t *self)
{
    return self->overall.online + self->overall.integrated;
}

//  ---------------------------------------------------------------------
//  Figures

static double s_share(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 1.0;
}

static bool s_met(const s_counts_t *c)
{
    return s_share(c->online_1s, c->online) >= KP_SLA_ONLINE_1S &&
           s_share(c->online_2s, c->online) >= KP_SLA_ONLINE_2S &&
           s_share(c->integrated_4s, c->integrated) >= KP_SLA_INTEGRATED_4S;
}

//  Hours ranked worst first: the lowest share within 1 s, then within 2
//  s, then integrated within 4 s; busier hours first among equals.
static int s_worse(const s_counts_t *a, const s_counts_t *b)
{
    const double keys_a[] = {s_share(a->online_1s, a->online), s_share(a->online_2s, a->online),
                             s_share(a->integrated_4s, a->integrated)};
    const double keys_b[] = {s_share(b->online_1s, b->online), s_share(b->online_2s, b->online),
                             s_share(b->integrated_4s, b->integrated)};
    for (int i = 0; i < 3; i++)
        if (keys_a[i] != keys_b[i])
            return keys_a[i] < keys_b[i] ? -1 : 1;
    uint64_t na = a->online + a->integrated, nb = b->online + b->integrated;
    return na > nb ? -1 : na < nb ? 1 : 0;
}

//  The worst hours that had requests, into worst; returns how many.
static size_t s_worst_hours(const kp_sla_t *self, size_t worst[S_WORST])
{
    size_t n = 0;
    for (size_t h = 0; h < self->hours; h++) {
        const s_counts_t *c = &self->by_hour[h];
        if (!c->online && !c->integrated)
            continue;
        size_t at = n < S_WORST ? n++ : S_WORST;
        if (at == S_WORST) {
            if (s_worse(c, &self->by_hour[worst[S_WORST - 1]]) >= 0)
                continue;
            at = S_WORST - 1;
        }
        while (at > 0 && s_worse(c, &self->by_hour[worst[at - 1]]) < 0) {
            worst[at] = worst[at - 1];
            at--;
        }
        worst[at] = h;
    }
    return n;
}

static void s_hour_text(const kp_sla_t *self, size_t hour, char out[24])
{
    char day[11];
    kp_date_format(self->from_day + (int32_t)(hour / 24), day);
    snprintf(out, 24, "%sT%02zu:00Z", day, hour % 24);
}

//  Messages sorted by name.
static zlistx_t *s_rows(const kp_sla_t *self)
{
    zlistx_t *names = zhashx_keys(self->messages);
    zlistx_set_comparator(names, (zlistx_comparator_fn *)strcmp);
    zlistx_sort(names);
    return names;
}

//  ---------------------------------------------------------------------
//  Text

static void s_text_row(FILE *out, const char *name, const s_counts_t *c)
{
    fprintf(out, "%-24.24s %10llu", name, (unsigned long long)c->online);
    if (c->online)
        fprintf(out, " %8.2f%% %8.2f%%", 100 * s_share(c->online_1s, c->online),
                100 * s_share(c->online_2s, c->online));
    else
        fprintf(out, " %9s %9s", "-", "-");
    fprintf(out, " %10llu", (unsigned long long)c->integrated);
    if (c->integrated)
        fprintf(out, " %8.2f%%", 100 * s_share(c->integrated_4s, c->integrated));
    else
        fprintf(out, " %9s", "-");
    fprintf(out, "  %s\n", s_met(c) ? "met" : "MISSED");
}

void kp_sla_text(const kp_sla_t *self, FILE *out)
{
    char from[11], to[11];
    kp_date_format(self->from_day, from);
    kp_date_format(self->to_day, to);
    fprintf(out,
            "Service levels from %s to %s (UTC)\n"
            "targets: online 99%% within 1 s and 99.5%% within 2 s; integrated 99%% within 4 s\n\n",
            from, to);
    fprintf(out, "%-24s %10s %9s %9s %10s %9s  %s\n", "message", "online", "<=1s", "<=2s",
            "integrated", "<=4s", "verdict");
    zlistx_t *names = s_rows(self);
    for (const char *name = zlistx_first(names); name; name = zlistx_next(names)) {
        const s_message_t *row = zhashx_lookup(self->messages, name);
        s_text_row(out, *name ? name : "(none)", &row->counts);
    }
    zlistx_destroy(&names);
    s_text_row(out, "overall", &self->overall);
    if (self->decisions > self->outcomes)
        fprintf(out, "(%llu routed calls with outcome unknown: not counted)\n",
                (unsigned long long)(self->decisions - self->outcomes));
    size_t worst[S_WORST];
    size_t n = s_worst_hours(self, worst);
    fprintf(out, "\nworst hours\n");
    for (size_t i = 0; i < n; i++) {
        char hour[24];
        s_hour_text(self, worst[i], hour);
        s_text_row(out, hour, &self->by_hour[worst[i]]);
    }
    if (!n)
        fprintf(out, "(no requests in the period)\n");
}

//  ---------------------------------------------------------------------
//  JSON

static void s_json_counts(kp_json_t *j, const s_counts_t *c)
{
    kp_json_kv_uint(j, "requests", c->online + c->integrated);
    kp_json_key(j, "online");
    kp_json_object_open(j);
    kp_json_kv_uint(j, "requests", c->online);
    kp_json_kv_uint(j, "within_1s", c->online_1s);
    kp_json_kv_uint(j, "within_2s", c->online_2s);
    kp_json_key(j, "share_1s");
    kp_json_double(j, s_share(c->online_1s, c->online));
    kp_json_key(j, "share_2s");
    kp_json_double(j, s_share(c->online_2s, c->online));
    kp_json_object_close(j);
    kp_json_key(j, "integrated");
    kp_json_object_open(j);
    kp_json_kv_uint(j, "requests", c->integrated);
    kp_json_kv_uint(j, "within_4s", c->integrated_4s);
    kp_json_key(j, "share_4s");
    kp_json_double(j, s_share(c->integrated_4s, c->integrated));
    kp_json_object_close(j);
    kp_json_key(j, "met");
    kp_json_bool(j, s_met(c));
}

void kp_sla_json(const kp_sla_t *self, FILE *out)
{
    char day[11];
    kp_json_t *j = kp_json_new();
    kp_json_object_open(j);
    kp_date_format(self->from_day, day);
    kp_json_kv_string(j, "from", day);
    kp_date_format(self->to_day, day);
    kp_json_kv_string(j, "to", day);
    kp_json_key(j, "targets");
    kp_json_object_open(j);
    kp_json_key(j, "online_1s");
    kp_json_double(j, KP_SLA_ONLINE_1S);
    kp_json_key(j, "online_2s");
    kp_json_double(j, KP_SLA_ONLINE_2S);
    kp_json_key(j, "integrated_4s");
    kp_json_double(j, KP_SLA_INTEGRATED_4S);
    kp_json_object_close(j);
    kp_json_key(j, "overall");
    kp_json_object_open(j);
    s_json_counts(j, &self->overall);
    kp_json_object_close(j);
    kp_json_kv_uint(j, "outcome_unknown",
                    self->decisions > self->outcomes ? self->decisions - self->outcomes : 0);
    kp_json_key(j, "messages");
    kp_json_array_open(j);
    zlistx_t *names = s_rows(self);
    for (const char *name = zlistx_first(names); name; name = zlistx_next(names)) {
        kp_json_object_open(j);
        kp_json_kv_string(j, "message", name);
        s_json_counts(j, &((const s_message_t *)zhashx_lookup(self->messages, name))->counts);
        kp_json_object_close(j);
    }
    zlistx_destroy(&names);
    kp_json_array_close(j);
    kp_json_key(j, "worst_hours");
    kp_json_array_open(j);
    size_t worst[S_WORST];
    size_t n = s_worst_hours(self, worst);
    for (size_t i = 0; i < n; i++) {
        char hour[24];
        s_hour_text(self, worst[i], hour);
        kp_json_object_open(j);
        kp_json_kv_string(j, "hour", hour);
        s_json_counts(j, &self->by_hour[worst[i]]);
        kp_json_object_close(j);
    }
    kp_json_array_close(j);
    kp_json_object_close(j);
    fprintf(out, "%s\n", kp_json_text(j));
    kp_json_destroy(&j);
}

//  ---------------------------------------------------------------------
//  SVG: the shares per hour (or day) against the targets

#define S_W 960
#define S_H 480
#define S_LEFT 70
#define S_RIGHT 330
#define S_TOP 50
#define S_BOTTOM 50

typedef struct {
    double lo; //  the share at the bottom of the plot
    size_t buckets;
    size_t hours_per_bucket;
} s_frame_t;

static double s_x(const s_frame_t *f, size_t bucket)
{
    double span = f->buckets > 1 ? (double)(f->buckets - 1) : 1;
    return S_LEFT + (double)bucket / span * (S_W - S_LEFT - S_RIGHT);
}

static double s_y(const s_frame_t *f, double share)
{
    return S_TOP + (1 - (share - f->lo) / (1 - f->lo)) * (S_H - S_TOP - S_BOTTOM);
}

static s_counts_t s_bucket(const kp_sla_t *self, const s_frame_t *f, size_t bucket)
{
    s_counts_t sum = {0};
    for (size_t h = bucket * f->hours_per_bucket;
         h < (bucket + 1) * f->hours_per_bucket && h < self->hours; h++) {
        sum.online += self->by_hour[h].online;
        sum.online_1s += self->by_hour[h].online_1s;
        sum.online_2s += self->by_hour[h].online_2s;
        sum.integrated += self->by_hour[h].integrated;
        sum.integrated_4s += self->by_hour[h].integrated_4s;
    }
    return sum;
}

//  One line per share, with a point for each bucket that had requests.
static void s_svg_series(kp_svg_t *svg, const kp_sla_t *self, const s_frame_t *f, int which,
                         const char *color)
{
    kp_svg_poly_begin(svg, color, 2);
    for (size_t b = 0; b < f->buckets; b++) {
        s_counts_t c = s_bucket(self, f, b);
        uint64_t whole = which == 2 ? c.integrated : c.online;
        uint64_t part = which == 0 ? c.online_1s : which == 1 ? c.online_2s : c.integrated_4s;
        if (whole)
            kp_svg_poly_point(svg, s_x(f, b), s_y(f, fmax(f->lo, s_share(part, whole))));
    }
    kp_svg_poly_end(svg);
}

int kp_sla_svg(const kp_sla_t *self, const char *path, char *err, size_t errlen)
{
    s_frame_t f = {0.9, 0, self->hours > 72 ? 24 : 1};
    f.buckets = (self->hours + f.hours_per_bucket - 1) / f.hours_per_bucket;
    for (size_t b = 0; b < f.buckets; b++) {
        s_counts_t c = s_bucket(self, &f, b);
        f.lo = fmin(f.lo,
                    fmin(s_share(c.online_1s, c.online), s_share(c.integrated_4s, c.integrated)));
    }
    f.lo = fmax(0, floor(f.lo * 10) / 10);
    char from[11], to[11];
    kp_date_format(self->from_day, from);
    kp_date_format(self->to_day, to);
    char title[128];
    snprintf(title, sizeof title, "Service levels %s to %s: share answered in time, per %s", from,
             to, f.hours_per_bucket == 24 ? "day" : "hour");
    kp_svg_t *svg = kp_svg_new(path, S_W, S_H, title, err, errlen);
    if (!svg)
        return -1;
    for (int i = 0; i <= 5; i++) { //  the share axis
        double share = f.lo + (1 - f.lo) * i / 5.0;
        kp_svg_line(svg, S_LEFT, s_y(&f, share), S_W - S_RIGHT, s_y(&f, share), "#ddd", 1, NULL);
        kp_svg_text(svg, S_LEFT - 6, s_y(&f, share) + 4, "end", "%.0f%%", 100 * share);
    }
    static const double targets[] = {KP_SLA_ONLINE_1S, KP_SLA_ONLINE_2S};
    for (int i = 0; i < 2; i++) {
        kp_svg_line(svg, S_LEFT, s_y(&f, targets[i]), S_W - S_RIGHT, s_y(&f, targets[i]), "#555", 1,
                    "6 4");
        kp_svg_text(svg, S_W - S_RIGHT - 4, s_y(&f, targets[i]) - 4, "end", "target %.1f%%",
                    100 * targets[i]);
    }
    for (size_t b = 0; b<f.buckets; b += f.buckets> 8 ? f.buckets / 4 : 1) {
        char label[24];
        if (f.hours_per_bucket == 24)
            kp_date_format(self->from_day + (int32_t)b, label);
        else
            s_hour_text(self, b, label);
        kp_svg_text(svg, s_x(&f, b), S_H - S_BOTTOM + 18, "middle", "%s", label);
    }
    kp_svg_vtext(svg, 18, S_H / 2.0, "share of requests answered in time");
    const s_counts_t *c = &self->overall;
    char legend[3][96];
    snprintf(legend[0], sizeof legend[0], "online within 1 s: %.2f%% (target 99%%)",
             100 * s_share(c->online_1s, c->online));
    snprintf(legend[1], sizeof legend[1], "online within 2 s: %.2f%% (target 99.5%%)",
             100 * s_share(c->online_2s, c->online));
    snprintf(legend[2], sizeof legend[2], "integrated within 4 s: %.2f%% (target 99%%)",
             100 * s_share(c->integrated_4s, c->integrated));
    for (int i = 0; i < 3; i++) {
        s_svg_series(svg, self, &f, i, kp_svg_color((size_t)i));
        kp_svg_legend(svg, S_W - S_RIGHT + 15, S_TOP + 10, (size_t)i, kp_svg_color((size_t)i),
                      legend[i]);
    }
    kp_svg_text(svg, S_W - S_RIGHT + 15, S_TOP + 80, "start", "%llu online, %llu integrated",
                (unsigned long long)c->online, (unsigned long long)c->integrated);
    kp_svg_text(svg, S_W - S_RIGHT + 15, S_TOP + 100, "start", "verdict: %s",
                s_met(c) ? "met" : "MISSED");
    return kp_svg_close(&svg, err, errlen);
}
