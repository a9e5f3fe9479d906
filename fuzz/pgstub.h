/* pgstub.c: what an extension target calls around one input */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* set by the target before it calls the parser; ereport(ERROR) jumps here */
extern sigjmp_buf pgstub_error_jump;
/* frees every palloc of the input */
void pgstub_reset(void);
/* a text (varlena) copy of len bytes, palloc'd */
void *pgstub_text(const void *data, size_t len);
