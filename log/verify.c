/*  verify.c - kp_privlog_verify: CRCs, sequence, hash chain and
    checkpoint signatures, and a name for the first thing that is wrong.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privlog_impl.h"

typedef struct {
    const char *dir;
    kp_privlog_verify_t *res;
    EVP_PKEY *trusted;
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    bool started;
    uint64_t expected;
    uint8_t prev[32];
    uint64_t covered; //  last seq under a valid checkpoint
} s_verify_t;

static int s_problem(s_verify_t *v, const char *problem, const char *segment, uint64_t offset,
                     uint64_t seq, const char *detail)
{
    kp_privlog_verify_t *r = v->res;
    r->ok = false;
    snprintf(r->problem, sizeof r->problem, "%s", problem);
    snprintf(r->segment, sizeof r->segment, "%s", segment);
    r->offset = offset;
    r->seq = seq;
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    return 1;
}

//  Checks one checkpoint body against the chain state and the key.
int s_verify_checkpoint(s_verify_t *v, const char *segment, size_t off, const privlog_frame_t *f)
{
    char text[256];
    Kp__LogCheckpoint *cp = kp__log_checkpoint__unpack(NULL, f->len, f->body);
    int rc = 0;
    if (!cp || !cp->has_seq || !cp->has_hash || cp->hash.len != 32) {
        rc = s_problem(v, "changed", segment, off, v->expected - 1, "a checkpoint does not decode");
    } else if (cp->seq != v->expected - 1 || memcmp(cp->hash.data, v->prev, 32) ||
               f->seq != cp->seq || memcmp(f->hash, v->prev, 32)) {
        snprintf(text, sizeof text,
                 "the checkpoint for seq %llu does not match the chain: a record after seq %llu "
                 "was changed, removed or inserted and the hashes recomputed",
                 (unsigned long long)cp->seq, (unsigned long long)v->covered);
        rc = s_problem(v, "changed", segment, off, v->covered + 1, text);
    } else if (v->trusted && (!cp->has_public_key || cp->public_key.len != 32 ||
                              !privlog_checkpoint_valid(cp, v->trusted))) {
        snprintf(text, sizeof text,
                 "the checkpoint for seq %llu is not signed by the trusted key (--pub)",
                 (unsigned long long)cp->seq);
        rc = s_problem(v, "signature", segment, off, cp->seq, text);
    } else if (!v->trusted && !privlog_checkpoint_valid(cp, NULL)) {
        snprintf(text, sizeof text, "the signature of the checkpoint for seq %llu is wrong",
                 (unsigned long long)cp->seq);
        rc = s_problem(v, "signature", segment, off, cp->seq, text);
    } else {
        v->covered = cp->seq;
        v->res->checkpoints++;
    }
    kp__log_checkpoint__free_unpacked(cp, NULL);
    return rc;
}

//  After seq jumped ahead at off: is the missing one just behind?
bool s_found_later(const privlog_map_t *map, size_t off, uint64_t seq)
{
    for (int i = 0; i < 64 && off < map->size; i++) {
        privlog_frame_t f;
        if (privlog_frame_parse(map->data + off, map->size - off, &f) != PRIVLOG_FRAME_OK)
            return false;
        if (f.kind == KP_PRIVLOG_KIND_RECORD && f.seq == seq)
            return true;
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
    return false;
}

//  Checks one segment: header against the chain so far, then every frame
//  (CRC, sequence, chain hash, checkpoints). 0, or 1 with the first
//  problem named in v->res.
static int s_verify_segment(s_verify_t *v, const kp_privlog_segment_t *seg, bool last)
{
    char text[256];
    privlog_map_t map;
    if (privlog_segment_map(v->dir, seg->name, &map, text, sizeof text))
        return s_problem(v, "unreadable", seg->name, 0, v->expected, text);
    int rc = 0;
    if (!map.header_ok || map.first_seq != seg->first_seq) {
        rc = s_problem(v, "changed", seg->name, 0, seg->first_seq,
                       "the segment header is damaged or does not match the file name");
        goto done;
    }
    if (!v->started) {
        v->started = true;
        v->expected = map.first_seq;
        memcpy(v->prev, map.prev_hash, 32);
        v->covered = map.first_seq - 1;
        v->res->first_seq = map.first_seq;
    } else if (map.first_seq != v->expected) {
        snprintf(text, sizeof text, "the segment starts at seq %llu where %llu was due",
                 (unsigned long long)map.first_seq, (unsigned long long)v->expected);
        rc = s_problem(v, map.first_seq > v->expected ? "removed" : "inserted", seg->name, 0,
                       v->expected, text);
        goto done;
    } else if (memcmp(map.prev_hash, v->prev, 32)) {
        rc = s_problem(v, "changed", seg->name, 0, v->expected,
                       "the segment does not continue the chain of the one before it");
        goto done;
    }
    v->res->segments++;
    size_t off = KP_PRIVLOG_SEGMENT_HEADER;
    while (off < map.size) {
        privlog_frame_t f;
        int p = privlog_frame_parse(map.data + off, map.size - off, &f);
        int end =
            p == PRIVLOG_FRAME_OK ? PRIVLOG_END_DAMAGE : privlog_end_kind(map.data, map.size, off);
        if (end == PRIVLOG_END_CLEAN)
            break; //  the zeros of a preallocated segment
        if (end == PRIVLOG_END_TORN && last) {
            v->res->torn_tail = true;
            break;
        }
        if (p != PRIVLOG_FRAME_OK) {
            rc = s_problem(
                v, p == PRIVLOG_FRAME_SHORT ? "removed" : "changed", seg->name, off, v->expected,
                p == PRIVLOG_FRAME_SHORT ? "the segment is cut short inside a record"
                                         : "the record fails its CRC: its bytes were changed");
            break;
        }
        if (f.kind == KP_PRIVLOG_KIND_CHECKPOINT) {
            if ((rc = s_verify_checkpoint(v, seg->name, off, &f)))
                break;
        } else if (f.seq != v->expected) {
            bool later = f.seq > v->expected &&
                         s_found_later(&map, off + KP_PRIVLOG_FRAME_HEADER + f.len, v->expected);
            const char *kind = f.seq < v->expected ? "inserted" : later ? "reordered" : "removed";
            snprintf(text, sizeof text, "found seq %llu where %llu was due",
                     (unsigned long long)f.seq, (unsigned long long)v->expected);
            rc = s_problem(v, kind, seg->name, off, v->expected, text);
            break;
        } else {
            uint8_t hash[32];
            privlog_chain_hash(v->ctx, v->md, v->prev, KP_PRIVLOG_KIND_RECORD, f.seq, f.body, f.len,
                               hash);
            if (memcmp(hash, f.hash, 32)) {
                rc = s_problem(v, "changed", seg->name, off, f.seq,
                               "the record does not match its chain hash: it was changed, or "
                               "inserted in place of another");
                break;
            }
            memcpy(v->prev, hash, 32);
            v->expected++;
            v->res->records++;
        }
        off += KP_PRIVLOG_FRAME_HEADER + f.len;
    }
done:
    privlog_segment_unmap(&map);
    return rc;
}

//  Sets the start of the chain from the anchor, or says what is wrong.
static int s_verify_start(s_verify_t *v, const kp_privlog_segment_t *first)
{
    Kp__LogCheckpoint *cp;
    int a = privlog_anchor_read(v->dir, &cp);
    if (a < 0)
        return s_problem(v, "changed", "anchor", 0, first->first_seq,
                         "the prune anchor is damaged");
    if (a == 1) {
        if (first->first_seq != 1) {
            char text[256];
            snprintf(text, sizeof text,
                     "the log starts at seq %llu and there is no prune anchor: records before it "
                     "were removed",
                     (unsigned long long)first->first_seq);
            return s_problem(v, "removed", first->name, 0, 1, text);
        }
        v->started = true;
        v->expected = 1;
        memset(v->prev, 0, 32);
        v->res->first_seq = 1;
        return 0;
    }
    int rc = 0;
    if (cp->has_signature && !privlog_checkpoint_valid(cp, v->trusted))
        rc = s_problem(v, "signature", "anchor", 0, cp->seq,
                       "the prune anchor's signature is wrong");
    else {
        v->started = true;
        v->expected = cp->seq + 1;
        memcpy(v->prev, cp->hash.data, 32);
        v->covered = cp->seq;
        v->res->anchored = cp->has_signature;
        v->res->first_seq = cp->seq + 1;
    }
    kp__log_checkpoint__free_unpacked(cp, NULL);
    return rc;
}

int kp_privlog_verify(const char *dir, int32_t from_day, int32_t to_day, const char *pub_file,
                      kp_privlog_verify_t *result, char *err, size_t errlen)
{
    memset(result, 0, sizeof *result);
    result->ok = true;
    s_verify_t v = {.dir = dir, .res = result};
    if (pub_file && !(v.trusted = privlog_key_load(pub_file, false, err, errlen)))
        return -1;
    result->key_from_log = !pub_file;
    kp_privlog_segment_t *segs;
    int n = kp_privlog_segments(dir, &segs, err, errlen);
    if (n < 0) {
        EVP_PKEY_free(v.trusted);
        return -1;
    }
    v.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    v.ctx = EVP_MD_CTX_new();
    int a = 0;
    while (a < n && segs[a].day < from_day)
        a++;
    int rc = 0;
    if (a == 0 && n > 0)
        rc = s_verify_start(&v, &segs[0]);
    for (int i = a; i < n && !rc && segs[i].day <= to_day; i++)
        rc = s_verify_segment(&v, &segs[i], i == n - 1);
    result->last_seq = v.started ? v.expected - 1 : 0;
    result->unsigned_tail =
        v.started && v.expected - 1 > v.covered ? v.expected - 1 - v.covered : 0;
    free(segs);
    EVP_MD_free(v.md);
    EVP_MD_CTX_free(v.ctx);
    EVP_PKEY_free(v.trusted);
    return result->ok ? 0 : 1;
}
