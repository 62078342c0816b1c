/*  seeds.c - writes the fuzzers' seed corpus (tests/fuzz/corpus).

    fuzz_seeds OUTDIR

    A few valid frames of each kind, so that the fuzzers start from the
    shapes the node really sees. The corpus is committed; run this again
    (bench/fuzz.sh --seeds) after the protocol changes.
*/
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonl.h"
#include "kruispunt.pb-c.h"
#include "privlog_impl.h"
#include "raftwire.h"

static const char *s_out;

static void s_write(const char *harness, const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_out, harness);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", s_out, harness, name);
    FILE *file = fopen(path, "wb");
    if (!file || fwrite(data, 1, size, file) != size) {
        fprintf(stderr, "fuzz_seeds: cannot write %s\n", path);
        exit(1);
    }
    fclose(file);
}

#define S_PACK(harness, name, type, message)                                                       \
    do {                                                                                           \
        uint8_t buf[4096];                                                                         \
        size_t size = type##__get_packed_size(message);                                            \
        if (size > sizeof buf)                                                                     \
            exit(1);                                                                               \
        type##__pack(message, buf);                                                                \
        s_write(harness, name, buf, size);                                                         \
    } while (0)

static void s_client(void)
{
    Kp__Request request = KP__REQUEST__INIT;
    request.request_id = "seed-1";
    request.user = "ocmw-gent-app";
    request.message = "A1";
    request.person = "85073003328";
    request.has_capacity = request.has_sector = request.has_type = true;
    request.capacity = 1;
    request.sector = 31;
    request.type = 0;
    request.has_deadline_ms = true;
    request.deadline_ms = 3000;
    S_PACK("client", "sector-type", kp__request, &request);
    request.date = "2024-02-29";
    request.has_payload = true;
    request.payload.data = (uint8_t *)"{\"q\":1}";
    request.payload.len = 7;
    S_PACK("client", "dated-payload", kp__request, &request);
    Kp__Request legal = KP__REQUEST__INIT;
    legal.request_id = "seed-2";
    legal.user = "rsz-app";
    legal.message = "B1";
    legal.person = "85073003328";
    legal.kbo = "0206731645";
    legal.legal_framework = "IVC-23-001";
    S_PACK("client", "legal", kp__request, &legal);
}

static void s_worker(void)
{
    char *messages[] = {"A1", "A2"};
    Kp__WorkerHello hello = KP__WORKER_HELLO__INIT;
    hello.kbo = "0206731645";
    hello.n_messages = 2;
    hello.messages = messages;
    hello.has_concurrency = true;
    hello.concurrency = 4;
    hello.worker_id = "seed";
    Kp__WorkerFrame frame = KP__WORKER_FRAME__INIT;
    frame.body_case = KP__WORKER_FRAME__BODY_HELLO;
    frame.hello = &hello;
    S_PACK("worker", "hello", kp__worker_frame, &frame);
    Kp__WorkerReply reply = KP__WORKER_REPLY__INIT;
    reply.request_id = "seed-1";
    reply.has_status = reply.has_ticket = reply.has_payload = true;
    reply.status = KP__STATUS__OK;
    reply.ticket = 1;
    reply.payload.data = (uint8_t *)"{}";
    reply.payload.len = 2;
    frame.body_case = KP__WORKER_FRAME__BODY_REPLY;
    frame.reply = &reply;
    S_PACK("worker", "reply", kp__worker_frame, &frame);
    Kp__Heartbeat beat = KP__HEARTBEAT__INIT;
    beat.has_time_unix_ms = true;
    beat.time_unix_ms = 1764460800000;
    frame.body_case = KP__WORKER_FRAME__BODY_HEARTBEAT;
    frame.heartbeat = &beat;
    S_PACK("worker", "heartbeat", kp__worker_frame, &frame);
}

static void s_admin(void)
{
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "status";
    S_PACK("admin", "status", kp__admin_request, &request);
    char *args[] = {"85073003328"};
    request.command = "directory.person";
    request.n_args = 1;
    request.args = args;
    S_PACK("admin", "person", kp__admin_request, &request);
    request.n_args = 0;
    request.command = "maintenance.list";
    S_PACK("admin", "maintenance", kp__admin_request, &request);
    Kp__Institution institution = KP__INSTITUTION__INIT;
    institution.kbo = "0206731645";
    institution.name = "seed";
    institution.has_sector = institution.has_type = true;
    institution.sector = 25;
    Kp__DirectoryRecord record = KP__DIRECTORY_RECORD__INIT;
    record.record_case = KP__DIRECTORY_RECORD__RECORD_INSTITUTION;
    record.institution = &institution;
    Kp__DirectoryOp op = KP__DIRECTORY_OP__INIT;
    op.record = &record;
    Kp__DirectoryOp *ops[] = {&op};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.n_ops = 1;
    update.ops = ops;
    request.command = "directory.apply";
    request.update = &update;
    S_PACK("admin", "apply", kp__admin_request, &request);
}

//  Writes data with a mode byte in front (see fuzz_logsegment.c).
static void s_write_mode(const char *harness, const char *name, uint8_t mode, const uint8_t *data,
                         size_t size)
{
    uint8_t *buf = malloc(size + 1);
    buf[0] = mode;
    memcpy(buf + 1, data, size);
    s_write(harness, name, buf, size + 1);
    free(buf);
}

//  A frame of fuzz_mirrorkeep's input: 16-bit length, bytes.
static size_t s_frame(uint8_t *out, const void *data, size_t size)
{
    out[0] = (uint8_t)size;
    out[1] = (uint8_t)(size >> 8);
    memcpy(out + 2, data, size);
    return size + 2;
}

//  The end of a message in fuzz_mirrorkeep's input.
static size_t s_end(uint8_t *out)
{
    out[0] = out[1] = 0xff;
    return 2;
}

//  An ANCHOR message (the log's prune anchor: a checkpoint frame) at
//  buf; its size.
static size_t s_anchor(uint8_t *buf, const uint8_t *checkpoint, size_t size)
{
    const uint8_t epoch[8] = {1};
    size_t n = 0;
    n += s_frame(buf + n, "ANCHOR", 6);
    n += s_frame(buf + n, "node-1", 6);
    n += s_frame(buf + n, epoch, 8);
    n += s_frame(buf + n, checkpoint, size);
    return n;
}

//  What a shipper sends the keeper for a log of one segment: HELLO; SEG
//  with its header; FRAMES with its records and checkpoints; then the
//  prune anchor at its last checkpoint. And the anchor alone, to a new
//  copy (its mirror was away during the prune).
static void s_mirrorkeep(const char *segment, const uint8_t *data, size_t end,
                         const uint8_t *checkpoint, size_t checkpoint_size)
{
    static uint8_t buf[65536];
    const uint8_t epoch[8] = {1};
    uint8_t off[8] = {KP_PRIVLOG_SEGMENT_HEADER};
    size_t n = 0;
    n += s_frame(buf + n, "HELLO", 5);
    n += s_frame(buf + n, "node-1", 6);
    n += s_frame(buf + n, epoch, 8);
    s_write("mirrorkeep", "hello", buf, n);
    n += s_end(buf + n);
    n += s_frame(buf + n, "SEG", 3);
    n += s_frame(buf + n, "node-1", 6);
    n += s_frame(buf + n, epoch, 8);
    n += s_frame(buf + n, segment, strlen(segment));
    n += s_frame(buf + n, data, KP_PRIVLOG_SEGMENT_HEADER);
    n += s_end(buf + n);
    n += s_frame(buf + n, "FRAMES", 6);
    n += s_frame(buf + n, "node-1", 6);
    n += s_frame(buf + n, epoch, 8);
    n += s_frame(buf + n, segment, strlen(segment));
    n += s_frame(buf + n, off, 8);
    size_t frames = end - KP_PRIVLOG_SEGMENT_HEADER;
    if (n + frames + 2 > sizeof buf || frames >= 0xffff)
        exit(1);
    n += s_frame(buf + n, data + KP_PRIVLOG_SEGMENT_HEADER, frames);
    s_write("mirrorkeep", "segment", buf, n);
    if (!checkpoint)
        return;
    if (n + 2 + checkpoint_size + 64 > sizeof buf)
        exit(1);
    n += s_end(buf + n);
    n += s_anchor(buf + n, checkpoint, checkpoint_size);
    s_write("mirrorkeep", "anchor", buf, n);
    n = s_anchor(buf, checkpoint, checkpoint_size);
    s_write("mirrorkeep", "anchor-new-copy", buf, n);
}

//  A real, signed log of three records: its segment, and its last
//  checkpoint frame.
static void s_log(void)
{
    char dir[] = "/tmp/kp-seeds-XXXXXX";
    char key[64], error[256];
    if (!mkdtemp(dir))
        exit(1);
    snprintf(key, sizeof key, "%s/log.key", dir);
    if (kp_privlog_keygen(key, error, sizeof error))
        exit(1);
    kp_privlog_options_t options;
    kp_privlog_options_default(&options);
    options.key_file = key;
    options.index = false;
    char log_dir[64];
    snprintf(log_dir, sizeof log_dir, "%s/log", dir);
    kp_privlog_t *log = kp_privlog_open(log_dir, &options, NULL, error, sizeof error);
    if (!log) {
        fprintf(stderr, "fuzz_seeds: %s\n", error);
        exit(1);
    }
    Kp__LogRecord record = KP__LOG_RECORD__INIT;
    record.request_id = "seed";
    record.user = "ocmw-gent-app";
    record.message = "A1";
    record.person = "85073003328";
    record.has_status = true;
    record.status = KP__STATUS__OK;
    for (int i = 0; i < 3; i++)
        kp_privlog_append(log, &record);
    if (kp_privlog_sync(log))
        exit(1);
    kp_privlog_destroy(&log);
    kp_privlog_segment_t *segments;
    if (kp_privlog_segments(log_dir, &segments, error, sizeof error) != 1)
        exit(1);
    privlog_map_t map;
    if (privlog_segment_map(log_dir, segments[0].name, &map, error, sizeof error))
        exit(1);
    size_t end = privlog_data_end(map.data, KP_PRIVLOG_SEGMENT_HEADER, map.size);
    s_write_mode("logsegment", "raw", 0, map.data, end);
    s_write_mode("logsegment", "repair", 3, map.data, end);
    s_write_mode("logsegment", "open", 7, map.data, end);
    size_t off = KP_PRIVLOG_SEGMENT_HEADER, last = 0, last_size = 0;
    privlog_frame_t frame;
    while (privlog_frame_parse(map.data + off, end - off, &frame) == PRIVLOG_FRAME_OK) {
        if (frame.kind == KP_PRIVLOG_KIND_CHECKPOINT)
            last = off;
        off += KP_PRIVLOG_FRAME_HEADER + frame.len;
    }
    if (last) {
        privlog_frame_parse(map.data + last, end - last, &frame);
        last_size = KP_PRIVLOG_FRAME_HEADER + frame.len;
        s_write_mode("logcheckpoint", "signed", 1, map.data + last, last_size);
    }
    s_mirrorkeep(segments[0].name, map.data, end, last ? map.data + last : NULL, last_size);
    privlog_segment_unmap(&map);
    free(segments);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        exit(1);
}

static void s_peer_write(const char *name, uint8_t *data, size_t size)
{
    if (!data)
        exit(1);
    s_write("peer", name, data, size);
    free(data);
}

//  Node-level peer frames: a removed member told (MemberRemoved), a
//  follower's forwarded update (one person record, as directory.apply
//  sends it) and the leader's result for it (forward 1, OK).
static void s_peer_node_level(void)
{
    size_t size;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    Kp__MemberRemoved removed = KP__MEMBER_REMOVED__INIT;
    removed.has_term = removed.has_conf_index = true;
    removed.term = 3;
    removed.conf_index = 12;
    frame.body_case = KP__PEER_FRAME__BODY_MEMBER_REMOVED;
    frame.member_removed = &removed;
    s_peer_write("member-removed", kp_raftwire_pack("fuzz", 1, "node-1", &frame, &size), size);
    const char *line = "{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0206731645\","
                       "\"sector\":25,\"type\":0,\"capacity\":1,\"from\":\"2020-01-01\","
                       "\"to\":\"9999-12-31\"}";
    char err[256];
    Kp__DirectoryOp *op = kp_jsonl_parse(line, strlen(line), err, sizeof err);
    if (!op)
        exit(1);
    Kp__DirectoryOp *ops[] = {op};
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.ops = ops;
    update.n_ops = 1;
    uint8_t packed[1024];
    if (kp__directory_update__get_packed_size(&update) > sizeof packed)
        exit(1);
    Kp__ForwardProposal forward = KP__FORWARD_PROPOSAL__INIT;
    forward.has_id = forward.has_update = forward.has_sent_unix_ms = true;
    forward.id = 1;
    forward.update.data = packed;
    forward.update.len = kp__directory_update__pack(&update, packed);
    forward.sent_unix_ms = 1;
    frame.body_case = KP__PEER_FRAME__BODY_FORWARD;
    frame.forward = &forward;
    s_peer_write("forward", kp_raftwire_pack("fuzz", 2, "node-2", &frame, &size), size);
    kp_jsonl_op_free(&op);
    Kp__ForwardResult result = KP__FORWARD_RESULT__INIT;
    result.has_id = result.has_result = result.has_seq = result.has_index = true;
    result.id = 1;
    result.result = 0;
    result.seq = 7;
    result.index = 12;
    result.text = "";
    frame.body_case = KP__PEER_FRAME__BODY_FORWARD_RESULT;
    frame.forward_result = &result;
    s_peer_write("forward-result", kp_raftwire_pack("fuzz", 1, "node-1", &frame, &size), size);
}

//  The cluster's traffic: raft RPCs and a snapshot offer and chunk.
static void s_peer(void)
{
    size_t size;
    struct raft_message vote = {.type = RAFT_IO_REQUEST_VOTE};
    vote.request_vote = (struct raft_request_vote){3, 2, 10, 2, false, false};
    s_peer_write("vote", kp_raftwire_encode("fuzz", 2, "node-2", &vote, &size), size);
    struct raft_entry entries[2] = {{.term = 2, .type = RAFT_COMMAND},
                                    {.term = 3, .type = RAFT_BARRIER}};
    entries[0].buf.base = "update";
    entries[0].buf.len = 6;
    struct raft_message append = {.type = RAFT_IO_APPEND_ENTRIES};
    append.append_entries.term = 3;
    append.append_entries.prev_log_index = 9;
    append.append_entries.prev_log_term = 2;
    append.append_entries.leader_commit = 9;
    append.append_entries.entries = entries;
    append.append_entries.n_entries = 2;
    s_peer_write("append", kp_raftwire_encode("fuzz", 1, "node-1", &append, &size), size);
    struct raft_message result = {.type = RAFT_IO_APPEND_ENTRIES_RESULT};
    result.append_entries_result = (struct raft_append_entries_result){3, 0, 11};
    s_peer_write("append-result", kp_raftwire_encode("fuzz", 2, "node-2", &result, &size), size);
    Kp__RaftServer server = KP__RAFT_SERVER__INIT;
    server.has_id = server.has_role = true;
    server.id = 1;
    server.address = "node-1";
    server.role = RAFT_VOTER;
    Kp__RaftServer *conf[] = {&server};
    uint8_t sha[32] = {1};
    Kp__SnapshotOffer offer = KP__SNAPSHOT_OFFER__INIT;
    offer.has_transfer = offer.has_term = offer.has_last_index = offer.has_last_term = true;
    offer.has_conf_index = offer.has_size = offer.has_sha256 = true;
    offer.transfer = 1;
    offer.term = 3;
    offer.last_index = 9;
    offer.last_term = 2;
    offer.conf_index = 1;
    offer.size = 4;
    offer.sha256.data = sha;
    offer.sha256.len = 32;
    offer.n_conf = 1;
    offer.conf = conf;
    Kp__PeerFrame frame = KP__PEER_FRAME__INIT;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_OFFER;
    frame.snapshot_offer = &offer;
    s_peer_write("offer", kp_raftwire_pack("fuzz", 1, "node-1", &frame, &size), size);
    Kp__SnapshotChunk chunk = KP__SNAPSHOT_CHUNK__INIT;
    chunk.has_transfer = chunk.has_offset = chunk.has_data = true;
    chunk.transfer = 1;
    chunk.data.data = (uint8_t *)"data";
    chunk.data.len = 4;
    frame.body_case = KP__PEER_FRAME__BODY_SNAPSHOT_CHUNK;
    frame.snapshot_chunk = &chunk;
    s_peer_write("chunk", kp_raftwire_pack("fuzz", 1, "node-1", &frame, &size), size);
    s_peer_node_level();
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
        return 2;
    }
    s_out = argv[1];
    mkdir(s_out, 0755);
    s_client();
    s_worker();
    s_admin();
    s_log();
    s_peer();
    return 0;
}
