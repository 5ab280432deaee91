/* libFuzzer: the envelope decoder, fed anything. */
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_msg *m = NULL;
    char why[160];
    if (wire_decode(data, size, &m, why, sizeof why) == WIRE_OK) {
        /* What was accepted must pack again. */
        uint8_t *buf;
        size_t len = wire_encode(m->env, &buf);
        if (len)
            __builtin_free(buf);
    }
    wire_msg_free(&m);
    return 0;
}
