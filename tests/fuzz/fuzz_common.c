/*  fuzz_common.c - what the libFuzzer harnesses share. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <unistd.h>

#include "jsonl.h"

static char s_dir[64];
static kp_directory_t *s_directory;

static void s_cleanup(void)
{
    kp_directory_destroy(&s_directory);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", s_dir);
    if (system(command) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", s_dir);
}

static void s_load(const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        abort();
    }
    kp_jsonl_batch_t *batch = kp_jsonl_batch_new();
    char line[KP_JSONL_MAX_LINE];
    char err[256];
    while (fgets(line, sizeof line, file)) {
        Kp__DirectoryOp *op = kp_jsonl_parse(line, strcspn(line, "\n"), err, sizeof err);
        if (op)
            kp_jsonl_batch_add(batch, op);
    }
    fclose(file);
    uint64_t seq;
    if (kp_directory_apply(s_directory, kp_jsonl_batch_update(batch), &seq, err, sizeof err)) {
        fprintf(stderr, "fuzz: the sample directory: %s\n", err);
        abort();
    }
    kp_jsonl_batch_destroy(&batch);
}

kp_directory_t *fuzz_directory(void)
{
    if (s_directory)
        return s_directory;
    const char *tmp = getenv("TMPDIR");
    snprintf(s_dir, sizeof s_dir, "%s/kp-fuzz-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    char err[256];
    if (!mkdtemp(s_dir) || !(s_directory = kp_directory_new(s_dir, err, sizeof err))) {
        fprintf(stderr, "fuzz: cannot open a directory in %s\n", s_dir);
        abort();
    }
    atexit(s_cleanup);
    s_load(KP_FUZZ_SAMPLE_DIRECTORY);
    return s_directory;
}

static char s_folder[64];

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

void fuzz_folder_empty(void)
{
    nftw(s_folder, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static void s_folder_cleanup(void)
{
    fuzz_folder_empty();
    rmdir(s_folder);
}

const char *fuzz_folder(void)
{
    if (*s_folder)
        return s_folder;
    snprintf(s_folder, sizeof s_folder, "%s/kp-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(s_folder)) {
        fprintf(stderr, "fuzz: cannot make a folder %s\n", s_folder);
        abort();
    }
    atexit(s_folder_cleanup);
    return s_folder;
}

char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}
