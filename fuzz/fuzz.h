/* What the fuzz targets share: the shim's header, and a copy of the input
   in a buffer of its exact size (so a read past it is caught). */
#include "shim.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *s = malloc(size != 0 ? size : 1);

    if (size != 0)
        memcpy(s, data, size);
    return s;
}
