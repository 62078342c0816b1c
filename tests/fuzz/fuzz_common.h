/*  fuzz_common.h - what the libFuzzer harnesses share.

    A harness that needs a reference directory opens one in a temporary
    folder, filled from the sample directory (cluster-config), once per
    process; one that reads files writes them into a folder of its own.
    The folders go when the process ends.
*/
#ifndef KP_FUZZ_COMMON_H_INCLUDED
#define KP_FUZZ_COMMON_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "directory.h"

//  The sample directory, loaded on the first call; aborts if it cannot be.
kp_directory_t *fuzz_directory(void);

//  A folder of this process's own for files a harness writes (in memory,
//  /dev/shm, where there is one); removed when the process ends.
const char *fuzz_folder(void);
//  Removes everything in it.
void fuzz_folder_empty(void);

//  A NUL-terminated copy of data (free it).
char *fuzz_text(const uint8_t *data, size_t size);

#endif
