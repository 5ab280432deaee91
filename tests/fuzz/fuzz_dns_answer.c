/* libFuzzer: the DNS answer parser, fed anything. */
#include <stddef.h>
#include <stdint.h>

#include "dns_answer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dns_answer a;
    char why[128];
    dns_answer_parse(data, size, &a, why, sizeof why);
    return 0;
}
