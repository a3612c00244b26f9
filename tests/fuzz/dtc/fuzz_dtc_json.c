/* Fuzz target: the-things-stack (JSON stream extents, jansson, the EndDevice reading). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run("the-things-stack", data, size);
    return 0;
}
