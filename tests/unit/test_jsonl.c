/*  test_jsonl.c - the JSON Lines parser and formatter of directory records.

    Every table is parsed, every kind of bad line is named, escapes are
    decoded, formatting gives back the canonical line, and garbage or cut
    lines never crash the parser (run it under ASan to see that).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <math.h>

#include "json.h"
#include "jsonl.h"

static const char *s_lines[] = {
    "{\"table\":\"institution\",\"kbo\":\"0206731645\",\"name\":\"RSZ\",\"sector\":25,\"type\":0}",
    "{\"table\":\"user\",\"id\":\"rsz-app\",\"kbo\":\"0206731645\",\"sector\":25,\"type\":0,"
    "\"messages\":[\"A1\",\"A2\"]}",
    "{\"table\":\"authorization\",\"sector\":25,\"type\":0,\"capacity\":1,\"message\":\"A1\"}",
    "{\"table\":\"legal\",\"kbo\":\"0206731645\",\"framework\":\"IVC-23-001\",\"message\":\"B1\"}",
    "{\"table\":\"legal\",\"sector\":25,\"type\":0,\"framework\":\"IVC-23-002\",\"message\":"
    "\"B2\"}",
    "{\"table\":\"availability\",\"message\":\"A1\",\"sector\":17,\"type\":1}",
    "{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,\"type\":"
    "1,"
    "\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
    "{\"table\":\"maintenance\",\"id\":3,\"kbo\":\"0411702543\",\"message\":\"A1\","
    "\"from\":\"2026-11-28T22:00:00Z\",\"to\":\"2026-11-29T02:00:00Z\",\"reason\":\"upgrade\"}",
};
#define S_LINES (sizeof s_lines / sizeof s_lines[0])

static Kp__DirectoryOp *s_parse(const char *line, char *err)
{
    return kp_jsonl_parse(line, strlen(line), err, 256);
}

static void test_every_table(void **state)
{
    (void)state;
    char err[256];
    Kp__DirectoryOp *op = s_parse(s_lines[0], err);
    assert_non_null(op);
    assert_int_equal(op->kind, KP__DIRECTORY_OP__KIND__PUT);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_INSTITUTION);
    assert_string_equal(op->record->institution->kbo, "0206731645");
    assert_string_equal(op->record->institution->name, "RSZ");
    assert_true(op->record->institution->has_sector && op->record->institution->has_type);
    assert_int_equal(op->record->institution->sector, 25);
    assert_int_equal(op->record->institution->type, 0);
    kp_jsonl_op_free(&op);
    assert_null(op);

    op = s_parse(s_lines[1], err);
    assert_non_null(op);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_USER);
    assert_string_equal(op->record->user->id, "rsz-app");
    assert_int_equal(op->record->user->n_messages, 2);
    assert_string_equal(op->record->user->messages[0], "A1");
    assert_string_equal(op->record->user->messages[1], "A2");
    kp_jsonl_op_free(&op);

    op = s_parse(s_lines[2], err);
    assert_non_null(op);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION);
    assert_int_equal(op->record->authorization->capacity, 1);
    assert_string_equal(op->record->authorization->message, "A1");
    kp_jsonl_op_free(&op);

    op = s_parse(s_lines[3], err);
    assert_non_null(op);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_LEGAL);
    assert_string_equal(op->record->legal->kbo, "0206731645");
    assert_false(op->record->legal->has_sector);
    assert_string_equal(op->record->legal->framework, "IVC-23-001");
    kp_jsonl_op_free(&op);

    op = s_parse(s_lines[4], err);
    assert_non_null(op);
    assert_null(op->record->legal->kbo);
    assert_true(op->record->legal->has_sector);
    assert_int_equal(op->record->legal->sector, 25);
    kp_jsonl_op_free(&op);

    op = s_parse(s_lines[5], err);
    assert_non_null(op);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_AVAILABILITY);
    assert_int_equal(op->record->availability->sector, 17);
    kp_jsonl_op_free(&op);

    op = s_parse(s_lines[6], err);
    assert_non_null(op);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_PERSON);
    assert_string_equal(op->record->person->insz, "85073003328");
    assert_string_equal(op->record->person->from, "2020-01-01");
    assert_string_equal(op->record->person->to, "9999-12-31");
    kp_jsonl_op_free(&op);

    op = s_parse(s_lines[7], err);
    assert_non_null(op);
    assert_int_equal(op->record->record_case, KP__DIRECTORY_RECORD__RECORD_MAINTENANCE);
    assert_true(op->record->maintenance->has_id);
    assert_int_equal(op->record->maintenance->id, 3);
    assert_string_equal(op->record->maintenance->reason, "upgrade");
    kp_jsonl_op_free(&op);
}

static void test_delete_and_whitespace(void **state)
{
    (void)state;
    char err[256];
    const char *line =
        "  {\t\"op\" : \"delete\" ,\"table\":\"institution\", \"kbo\":\"0206731645\" "
        "}\r\n";
    Kp__DirectoryOp *op = s_parse(line, err);
    assert_non_null(op);
    assert_int_equal(op->kind, KP__DIRECTORY_OP__KIND__DELETE);
    assert_null(op->record->institution->name); //  a delete needs only the key
    kp_jsonl_op_free(&op);

    op = s_parse("{\"table\":\"maintenance\",\"kbo\":\"0411702543\",\"from\":\"2026-11-28\","
                 "\"to\":\"2026-11-29\",\"reason\":\"r\"}",
                 err);
    assert_non_null(op); //  no id: the directory assigns one; no message: all types
    assert_false(op->record->maintenance->has_id);
    assert_null(op->record->maintenance->message);
    kp_jsonl_op_free(&op);

    op = s_parse("{\"table\":\"user\",\"id\":\"u\",\"kbo\":\"0206731645\",\"sector\":1,"
                 "\"type\":2,\"messages\":[ ]}",
                 err);
    assert_non_null(op);
    assert_int_equal(op->record->user->n_messages, 0);
    kp_jsonl_op_free(&op);
}

static void test_escapes(void **state)
{
    (void)state;
    char err[256];
    const char *line = "{\"table\":\"institution\",\"kbo\":\"0206731645\",\"name\":"
                       "\"a\\\"b\\\\c\\/d \\u00e9\\u20AC \\ud83d\\ude00 \\u0041\",\"sector\":1,"
                       "\"type\":0}";
    Kp__DirectoryOp *op = s_parse(line, err);
    assert_non_null(op);
    assert_string_equal(op->record->institution->name,
                        "a\"b\\c/d \xc3\xa9\xe2\x82\xac \xf0\x9f\x98\x80 A");
    //  Formatting gives valid JSON that parses back to the same name.
    char buf[512];
    size_t len = kp_jsonl_format(op->record, buf, sizeof buf);
    assert_true(len < sizeof buf);
    Kp__DirectoryOp *again = kp_jsonl_parse(buf, len, err, sizeof err);
    assert_non_null(again);
    assert_string_equal(again->record->institution->name, op->record->institution->name);
    kp_jsonl_op_free(&again);
    kp_jsonl_op_free(&op);
    //  Field names may be escaped too.
    op = s_parse("{\"t\\u0061ble\":\"availability\",\"message\":\"A1\",\"sector\":1,\"type\":1}",
                 err);
    assert_non_null(op);
    kp_jsonl_op_free(&op);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    char err[256], buf[1024];
    for (size_t i = 0; i < S_LINES; i++) {
        Kp__DirectoryOp *op = s_parse(s_lines[i], err);
        assert_non_null(op);
        size_t len = kp_jsonl_format(op->record, buf, sizeof buf);
        assert_int_equal(len, strlen(s_lines[i]));
        assert_string_equal(buf, s_lines[i]);
        //  A short buffer is cut, NUL-terminated, and the need is told.
        char small[16];
        assert_int_equal(kp_jsonl_format(op->record, small, sizeof small), len);
        assert_int_equal(strlen(small), sizeof small - 1);
        assert_memory_equal(small, s_lines[i], sizeof small - 1);
        kp_jsonl_op_free(&op);
    }
}

typedef struct {
    const char *line;
    const char *reason; //  a part of the expected error
} s_bad_t;

static const s_bad_t s_bad[] = {
    {"", "empty line"},
    {"   \t", "empty line"},
    {"[1,2]", "unexpected '['"},
    {"{}", "missing field 'table'"},
    {"{\"sector\":1}", "missing field 'table'"},
    {"{\"table\":\"nope\"}", "unknown table 'nope'"},
    {"{\"table\":7}", "field 'table' must be a string"},
    {"{\"table\":\"availability\",\"colour\":\"red\"}", "unknown field 'colour'"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"message\":\"A2\",\"sector\":1,\"type\":1}",
     "duplicate field 'message'"},
    {"{\"table\":\"availability\",\"insz\":\"85073003328\",\"message\":\"A1\",\"sector\":1,"
     "\"type\":1}",
     "field 'insz' does not belong to table 'availability'"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":\"1\",\"type\":1}",
     "field 'sector' must be a number"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":65536,\"type\":1}",
     "field 'sector' out of range"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":-1,\"type\":1}",
     "must not be negative"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":1.5,\"type\":1}",
     "must be a whole number"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":1e3,\"type\":1}",
     "must be a whole number"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":01,\"type\":1}", "leading zeros"},
    {"{\"table\":\"maintenance\",\"id\":99999999999999999999999}", "too large"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":true,\"type\":1}",
     "unexpected 't'"},
    {"{\"table\":\"availability\",\"message\":{\"a\":1},\"sector\":1,\"type\":1}",
     "nested objects"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"type\":1}", "missing field 'sector'"},
    {"{\"table\":\"availability\",\"message\":\"A 1\",\"sector\":1,\"type\":1}", "invalid message"},
    {"{\"table\":\"user\",\"id\":\"u\",\"kbo\":\"0206731645\",\"sector\":1,\"type\":1,"
     "\"messages\":\"A1\"}",
     "field 'messages' must be an array of strings"},
    {"{\"table\":\"user\",\"id\":\"u\",\"kbo\":\"0206731645\",\"sector\":1,\"type\":1,"
     "\"messages\":[1]}",
     "must be an array of strings"},
    {"{\"table\":\"user\",\"id\":1}", "field 'id' must be a string"},
    {"{\"table\":\"maintenance\",\"id\":\"1\"}", "field 'id' must be a number"},
    {"{\"table\":\"person\",\"insz\":\"85073003327\",\"kbo\":\"0411702543\",\"sector\":17,"
     "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
     "invalid INSZ '85073003327'"},
    {"{\"table\":\"person\",\"insz\":\"8507300332\",\"kbo\":\"0411702543\",\"sector\":17,"
     "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
     "invalid INSZ"},
    {"{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702542\",\"sector\":17,"
     "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
     "invalid KBO '0411702542'"},
    {"{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,"
     "\"type\":1,\"capacity\":1,\"from\":\"2020-02-30\",\"to\":\"9999-12-31\"}",
     "invalid date from '2020-02-30'"},
    {"{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,"
     "\"type\":1,\"capacity\":1,\"from\":\"2020-01-01\",\"to\":\"31/12/9999\"}",
     "invalid date to"},
    {"{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,"
     "\"type\":1,\"capacity\":1,\"from\":\"2021-01-01\",\"to\":\"2020-12-31\"}",
     "from 2021-01-01 is after to 2020-12-31"},
    {"{\"table\":\"person\",\"insz\":\"85073003328\",\"kbo\":\"0411702543\",\"sector\":17,"
     "\"type\":1,\"from\":\"2020-01-01\",\"to\":\"9999-12-31\"}",
     "missing field 'capacity'"},
    {"{\"table\":\"maintenance\",\"kbo\":\"0411702543\",\"from\":\"2026-11-29T00:00:00Z\","
     "\"to\":\"2026-11-28T00:00:00Z\",\"reason\":\"r\"}",
     "is after"},
    {"{\"table\":\"maintenance\",\"kbo\":\"0411702543\",\"from\":\"tomorrow\","
     "\"to\":\"2026-11-28T00:00:00Z\",\"reason\":\"r\"}",
     "invalid time from"},
    {"{\"op\":\"delete\",\"table\":\"maintenance\"}", "missing field 'id'"},
    {"{\"table\":\"legal\",\"framework\":\"F\",\"message\":\"B1\"}", "missing field 'kbo'"},
    {"{\"table\":\"legal\",\"kbo\":\"0206731645\",\"sector\":1,\"type\":1,\"framework\":\"F\","
     "\"message\":\"B1\"}",
     "not both"},
    {"{\"op\":\"upsert\",\"table\":\"availability\",\"message\":\"A1\",\"sector\":1,\"type\":1}",
     "unknown op 'upsert'"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":1,\"type\":1} x",
     "trailing characters"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":1,\"type\":1}}",
     "trailing characters"},
    {"{\"table\":\"availability\",\"message\":\"A1", "unterminated string"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":1,\"type\":1", "truncated line"},
    {"{\"table\":\"availability\",\"message\":\"A1\",\"sector\":", "truncated line"},
    {"{\"table\":\"availability\" \"message\":\"A1\"}", "expected ',' or '}'"},
    {"{\"table\" \"availability\"}", "expected ':'"},
    {"{table:\"availability\"}", "a field name in quotes"},
    {"{\"table\":\"availability\",\"message\":\"A\\q\",\"sector\":1,\"type\":1}",
     "bad escape '\\q'"},
    {"{\"table\":\"availability\",\"message\":\"A\\u12\",\"sector\":1,\"type\":1}",
     "bad \\u escape"},
    {"{\"table\":\"availability\",\"message\":\"A\\ud800\",\"sector\":1,\"type\":1}",
     "without its low half"},
    {"{\"table\":\"availability\",\"message\":\"A\\udc00\",\"sector\":1,\"type\":1}",
     "lone low surrogate"},
    {"{\"table\":\"availability\",\"message\":\"A\\u0000\",\"sector\":1,\"type\":1}",
     "NUL character"},
    {"{\"table\":\"availability\",\"message\":\"A\tB\",\"sector\":1,\"type\":1}",
     "control character 0x09"},
    {"{\"table\":\"institution\",\"kbo\":\"0206731645\",\"name\":\"a\\nb\",\"sector\":1,"
     "\"type\":0}",
     "invalid name"},
    {"{\"table\":\"institution\",\"kbo\":\"0206731645\",\"name\":\"\xff\xfe\",\"sector\":1,"
     "\"type\":0}",
     "invalid name"},
};

static void test_bad_lines_named(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        char err[256] = "";
        Kp__DirectoryOp *op = s_parse(s_bad[i].line, err);
        if (op || !strstr(err, s_bad[i].reason))
            fail_msg("line %zu '%s': got %s '%s', wanted '%s'", i, s_bad[i].line,
                     op ? "an op" : "error", err, s_bad[i].reason);
    }
}

static void test_limits(void **state)
{
    (void)state;
    char err[256];
    //  Too long a line is refused before it is read.
    //  Static, not malloc'd: no NULL path for the compiler to find writes
    //  through (GCC's -Warray-bounds under ASan).
    static char line[KP_JSONL_MAX_LINE + 1];
    size_t len = sizeof line;
    memset(line, ' ', len);
    assert_null(kp_jsonl_parse(line, len, err, sizeof err));
    assert_non_null(strstr(err, "line too long"));
    //  Too many messages for one user.
    size_t at = (size_t)sprintf(line, "{\"table\":\"user\",\"id\":\"u\",\"kbo\":\"0206731645\","
                                      "\"sector\":1,\"type\":1,\"messages\":[");
    for (int i = 0; i < 300; i++)
        at += (size_t)sprintf(line + at, "%s\"M%d\"", i ? "," : "", i);
    at += (size_t)sprintf(line + at, "]}");
    assert_null(kp_jsonl_parse(line, at, err, sizeof err));
    assert_non_null(strstr(err, "too many items"));
    //  A long name (over 2 KiB) takes the heap path and is refused by
    //  length, not by a crash.
    at = (size_t)sprintf(line, "{\"table\":\"institution\",\"kbo\":\"0206731645\",\"name\":\"");
    memset(line + at, 'x', 5000);
    at += 5000;
    at += (size_t)sprintf(line + at, "\",\"sector\":1,\"type\":0}");
    assert_null(kp_jsonl_parse(line, at, err, sizeof err));
    assert_non_null(strstr(err, "invalid name"));
    //  Not NUL-terminated input: only len bytes are read.
    memcpy(line, s_lines[5], strlen(s_lines[5]));
    line[strlen(s_lines[5])] = '}';
    Kp__DirectoryOp *op = kp_jsonl_parse(line, strlen(s_lines[5]), err, sizeof err);
    assert_non_null(op);
    kp_jsonl_op_free(&op);
    //  A NULL err is allowed.
    assert_null(kp_jsonl_parse("{", 1, NULL, 0));
}

//  Every prefix of every good line, and random garbage and mutations:
//  the parser must answer, never crash or read past len.
static void test_garbage_never_crashes(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < S_LINES; i++) {
        size_t full = strlen(s_lines[i]);
        for (size_t len = 0; len < full; len++) {
            //  A heap copy of exactly len bytes, so ASan sees any overread.
            char *cut = malloc(len ? len : 1);
            memcpy(cut, s_lines[i], len);
            Kp__DirectoryOp *op = kp_jsonl_parse(cut, len, err, sizeof err);
            assert_null(op);
            free(cut);
        }
    }
    uint64_t rng = 42;
    size_t parsed = 0;
    for (int round = 0; round < 200000; round++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *base = s_lines[(rng >> 33) % S_LINES];
        size_t len = strlen(base);
        char *buf = malloc(len);
        memcpy(buf, base, len);
        int flips = 1 + (int)((rng >> 20) % 4);
        for (int f = 0; f < flips; f++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            buf[(rng >> 33) % len] = (char)(rng >> 12);
        }
        Kp__DirectoryOp *op = kp_jsonl_parse(buf, len, err, sizeof err);
        if (op) {
            parsed++;
            char out[1024];
            kp_jsonl_format(op->record, out, sizeof out);
            kp_jsonl_op_free(&op);
        }
        free(buf);
    }
    //  Some mutations land in names and stay valid; most do not.
    assert_true(parsed < 200000);
}

static void test_batch(void **state)
{
    (void)state;
    char err[256];
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    assert_int_equal(kp_jsonl_batch_size(batch), 0);
    assert_int_equal(kp_jsonl_batch_update(batch)->n_ops, 0);
    for (int round = 0; round < 500; round++)
        for (size_t i = 0; i < S_LINES; i++)
            kp_jsonl_batch_add(batch, s_parse(s_lines[i], err));
    Kp__DirectoryUpdate *update = kp_jsonl_batch_update(batch);
    assert_int_equal(update->n_ops, 500 * S_LINES);
    assert_int_equal(kp_jsonl_batch_size(batch), 500 * S_LINES);
    assert_int_equal(update->ops[S_LINES + 6]->record->record_case,
                     KP__DIRECTORY_RECORD__RECORD_PERSON);
    kp_jsonl_batch_destroy(&batch);
    assert_null(batch);
}

//  The one JSON writer: every byte below 0x20, 0x7F, quote and backslash
//  escaped so that jansson reads the string back byte for byte; NaN and
//  infinity written as null.
static void test_writer_escapes_and_numbers(void **state)
{
    (void)state;
    char all[128];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    kp_json_t *w = kp_json_new();
    kp_json_object_open(w);
    kp_json_kv_string(w, "s", all);
    kp_json_key(w, "nan");
    kp_json_double(w, NAN);
    kp_json_key(w, "inf");
    kp_json_double(w, -INFINITY);
    kp_json_key(w, "x");
    kp_json_double(w, 1.5);
    kp_json_object_close(w);
    const char *text = kp_json_text(w);
    assert_non_null(strstr(text, "\\r"));
    assert_non_null(strstr(text, "\\u007f"));
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fail_msg("the writer's output is not JSON: %s in %s", jerr.text, text);
    assert_string_equal(json_string_value(json_object_get(doc, "s")), all);
    assert_true(json_is_null(json_object_get(doc, "nan")));
    assert_true(json_is_null(json_object_get(doc, "inf")));
    assert_true(json_number_value(json_object_get(doc, "x")) == 1.5);
    json_decref(doc);
    kp_json_destroy(&w);
}

//  A file of n copies of the sample lines, with blank lines, CRLF, a line
//  too long to hold and a bad line at known places, read through the
//  reader: every record comes back with its line number, the bad ones are
//  named, and a file far bigger than the reader's buffer reads whole.
static FILE *s_file(size_t rounds, size_t *lines)
{
    FILE *file = tmpfile();
    assert_non_null(file);
    *lines = 0;
    for (size_t r = 0; r < rounds; r++)
        for (size_t i = 0; i < S_LINES; i++) {
            fprintf(file, "%s%s", s_lines[i], i == 2 ? "\r\n" : "\n");
            ++*lines;
            if (i == 4) {
                fputs("  \n", file); //  blank: skipped, but counted as a line
                ++*lines;
            }
        }
    return file;
}

static void test_reader_streams(void **state)
{
    (void)state;
    size_t lines;
    FILE *file = s_file(2000, &lines); //  about 2 MB: many buffers' worth
    fputs("{\"table\":\"nope\"}\n", file);
    fputc('{', file);
    for (int i = 0; i < 3 * KP_JSONL_MAX_LINE; i++)
        fputc(' ', file);
    fputs("}\n", file);
    fputs(s_lines[0], file); //  the last line has no newline
    rewind(file);
    kp_jsonl_reader_t *reader = kp_jsonl_reader_new(file);
    assert_non_null(reader);
    char err[256];
    Kp__DirectoryOp *op;
    size_t records = 0, bad = 0, last_line = 0;
    kp_jsonl_status_t status;
    while ((status = kp_jsonl_reader_next(reader, &op, err, sizeof err)) != KP_JSONL_END) {
        assert_true(kp_jsonl_reader_line(reader) > last_line);
        last_line = kp_jsonl_reader_line(reader);
        if (status == KP_JSONL_RECORD) {
            records++;
            kp_jsonl_op_free(&op);
            continue;
        }
        assert_int_equal(status, KP_JSONL_BAD);
        assert_null(op);
        bad++;
        if (last_line == lines + 1)
            assert_non_null(strstr(err, "unknown table 'nope'"));
        else {
            assert_int_equal(last_line, lines + 2);
            assert_non_null(strstr(err, "line too long"));
        }
    }
    assert_int_equal(records, 2000 * S_LINES + 1);
    assert_int_equal(bad, 2);
    assert_int_equal(last_line, lines + 3);
    long size = ftell(file);
    assert_int_equal(kp_jsonl_reader_offset(reader), (uint64_t)size);
    //  At the end it stays at the end.
    assert_int_equal(kp_jsonl_reader_next(reader, &op, err, sizeof err), KP_JSONL_END);
    kp_jsonl_reader_destroy(&reader);
    assert_null(reader);
    fclose(file);
}

static int s_count_bad(size_t line, const char *reason, void *arg)
{
    (void)reason;
    *(size_t *)arg = line;
    return 0;
}

static void test_batch_fill(void **state)
{
    (void)state;
    size_t lines;
    FILE *file = s_file(100, &lines);
    fputs("garbage\n", file);
    rewind(file);
    kp_jsonl_reader_t *reader = kp_jsonl_reader_new(file);
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    char err[256];
    size_t total = 0, bad_line = 0, fills = 0;
    kp_jsonl_status_t status;
    do {
        kp_jsonl_batch_clear(batch);
        status = kp_jsonl_batch_fill(batch, reader, 64, s_count_bad, &bad_line, err, sizeof err);
        assert_true(kp_jsonl_batch_size(batch) <= 64);
        total += kp_jsonl_batch_size(batch);
        fills++;
    } while (status == KP_JSONL_RECORD);
    assert_int_equal(status, KP_JSONL_END);
    assert_int_equal(total, 100 * S_LINES);
    assert_int_equal(fills, (100 * S_LINES + 63) / 64 + (100 * S_LINES % 64 == 0));
    assert_int_equal(bad_line, lines + 1);
    //  Lines are remembered; removing an op closes the gap.
    rewind(file);
    kp_jsonl_reader_destroy(&reader);
    reader = kp_jsonl_reader_new(file);
    kp_jsonl_batch_clear(batch);
    assert_int_equal(kp_jsonl_batch_fill(batch, reader, 3, NULL, NULL, err, sizeof err),
                     KP_JSONL_RECORD);
    assert_int_equal(kp_jsonl_batch_line(batch, 2), 3);
    kp_jsonl_batch_remove(batch, 0);
    assert_int_equal(kp_jsonl_batch_size(batch), 2);
    assert_int_equal(kp_jsonl_batch_line(batch, 0), 2);
    assert_int_equal(kp_jsonl_batch_update(batch)->ops[1]->record->record_case,
                     KP__DIRECTORY_RECORD__RECORD_AUTHORIZATION);
    kp_jsonl_batch_destroy(&batch);
    kp_jsonl_reader_destroy(&reader);
    fclose(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_table),
        cmocka_unit_test(test_delete_and_whitespace),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_bad_lines_named),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_writer_escapes_and_numbers),
        cmocka_unit_test(test_reader_streams),
        cmocka_unit_test(test_batch_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
