/*  test_frames.c - an operator's request split on the wire
    (kp_frames_admin_split): command and args decoded, the update left
    packed, its ops counted; hostile bytes refused, never read past. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "frames.h"

//  An AdminRequest "directory.apply" with n put ops, packed; *size set.
static uint8_t *s_request(size_t n, size_t *size)
{
    Kp__DirectoryOp *ops = calloc(n ? n : 1, sizeof *ops), **list = calloc(n ? n : 1, sizeof *list);
    Kp__DirectoryRecord *records = calloc(n ? n : 1, sizeof *records);
    assert_non_null(ops);
    for (size_t i = 0; i < n; i++) {
        kp__directory_op__init(&ops[i]);
        kp__directory_record__init(&records[i]);
        ops[i].record = &records[i];
        list[i] = &ops[i];
    }
    Kp__DirectoryUpdate update = KP__DIRECTORY_UPDATE__INIT;
    update.n_ops = n;
    update.ops = list;
    update.origin = "test";
    char *args[] = {"one", "two"};
    Kp__AdminRequest request = KP__ADMIN_REQUEST__INIT;
    request.command = "directory.apply";
    request.n_args = 2;
    request.args = args;
    request.update = &update;
    *size = kp__admin_request__get_packed_size(&request);
    uint8_t *packed = malloc(*size);
    assert_non_null(packed);
    kp__admin_request__pack(&request, packed);
    free(ops);
    free(list);
    free(records);
    return packed;
}

static void test_split(void **state)
{
    (void)state;
    size_t size;
    uint8_t *packed = s_request(1000, &size);
    kp_frames_admin_t admin;
    kp_refusal_t refusal;
    assert_int_equal(kp_frames_admin_split(packed, size, 1, &admin, &refusal), 0);
    assert_string_equal(admin.request->command, "directory.apply");
    assert_int_equal(admin.request->n_args, 2);
    assert_string_equal(admin.request->args[1], "two");
    assert_null(admin.request->update);
    assert_int_equal(admin.update_ops, 1000);
    //  The slice is the update as protobuf-c packed it.
    Kp__DirectoryUpdate *update =
        kp__directory_update__unpack(NULL, admin.update_size, admin.update);
    assert_non_null(update);
    assert_int_equal(update->n_ops, 1000);
    assert_string_equal(update->origin, "test");
    kp__directory_update__free_unpacked(update, NULL);
    kp__admin_request__free_unpacked(admin.request, NULL);

    //  No update: none, and 0 ops.
    Kp__AdminRequest status = KP__ADMIN_REQUEST__INIT;
    status.command = "status";
    uint8_t small[64];
    size_t small_size = kp__admin_request__pack(&status, small);
    assert_int_equal(kp_frames_admin_split(small, small_size, 1, &admin, &refusal), 0);
    assert_string_equal(admin.request->command, "status");
    assert_null(admin.update);
    assert_int_equal(admin.update_ops, 0);
    kp__admin_request__free_unpacked(admin.request, NULL);
    free(packed);
}

static void test_hostile(void **state)
{
    (void)state;
    size_t size;
    uint8_t *packed = s_request(10, &size);
    kp_frames_admin_t admin;
    kp_refusal_t refusal;
    //  Two frames; every truncation; two updates (two requests end to end).
    assert_int_equal(kp_frames_admin_split(packed, size, 2, &admin, &refusal), -1);
    assert_int_equal(refusal.reason, KP__REASON__WRONG_FRAME_COUNT);
    for (size_t cut = 1; cut < size; cut++) {
        if (kp_frames_admin_split(packed, cut, 1, &admin, &refusal) == 0)
            kp__admin_request__free_unpacked(admin.request, NULL);
        else
            assert_int_equal(refusal.reason, KP__REASON__MALFORMED_FRAME);
    }
    uint8_t *twice = malloc(2 * size);
    memcpy(twice, packed, size);
    memcpy(twice + size, packed, size);
    assert_int_equal(kp_frames_admin_split(twice, 2 * size, 1, &admin, &refusal), -1);
    assert_int_equal(refusal.reason, KP__REASON__MALFORMED_FRAME);
    assert_null(admin.update);
    //  A length past the end; a group; a varint of 11 bytes.
    uint8_t past[] = {0x1A, 0x7F, 0x0A, 0x00};
    uint8_t group[] = {0x0B, 0x0C};
    uint8_t varint[] = {0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    assert_int_equal(kp_frames_admin_split(past, sizeof past, 1, &admin, &refusal), -1);
    assert_int_equal(kp_frames_admin_split(group, sizeof group, 1, &admin, &refusal), -1);
    assert_int_equal(kp_frames_admin_split(varint, sizeof varint, 1, &admin, &refusal), -1);
    //  Random bytes: refused or split, never read out of bounds (ASan).
    srand(13);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % 64);
        uint8_t *bytes = malloc(n ? n : 1);
        for (size_t j = 0; j < n; j++)
            bytes[j] = (uint8_t)rand();
        if (kp_frames_admin_split(bytes, n, 1, &admin, &refusal) == 0)
            kp__admin_request__free_unpacked(admin.request, NULL);
        free(bytes);
    }
    free(twice);
    free(packed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
