/* The HTTP/1 framing checks over any head (framing_check). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_copy(data, size);

    framing_check(s, size, size != 0 && (data[0] & 1));
    free(s);
    return 0;
}
