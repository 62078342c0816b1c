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

#include "kruispunt.pb-c.h"

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
    return 0;
}
