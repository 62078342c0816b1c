/*  fuzz_jsonl.c - one line of a directory import (kpctl directory import
    and the node's import). A line that parses is formatted back, and the
    formatted line must parse to the same record. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    Kp__DirectoryOp *op = kp_jsonl_parse((const char *)data, size, err, sizeof err);
    if (!op)
        return 0;
    static char line[2 * KP_JSONL_MAX_LINE];
    size_t length = kp_jsonl_format(op->record, line, sizeof line);
    if (length < sizeof line) {
        Kp__DirectoryOp *again = kp_jsonl_parse(line, length, err, sizeof err);
        if (!again) {
            fprintf(stderr, "a formatted record does not parse (%s): %s\n", err, line);
            abort();
        }
        static char second[2 * KP_JSONL_MAX_LINE];
        size_t second_length = kp_jsonl_format(again->record, second, sizeof second);
        if (second_length != length || memcmp(line, second, length)) {
            fprintf(stderr, "a record changed on its way through a line:\n%s\n%s\n", line, second);
            abort();
        }
        kp_jsonl_op_free(&again);
    }
    kp_jsonl_op_free(&op);
    return 0;
}
