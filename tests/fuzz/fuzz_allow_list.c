/* libFuzzer: the collector's allow-list file ("NAME PUBLIC-KEY" lines). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count(void *arg, const char *name, const char *key)
{
    if (!name[0] || strlen(key) != 40)
        abort(); /* only well-formed entries are handed on */
    (*(size_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* The parsers take C strings: what follows a NUL is never seen. */
    char *text = strndup((const char *)data, size);
    if (!text)
        return 0;
    size_t n = 0;
    char err[256] = "";
    if (auth_parse_list(text, count, &n, err, sizeof err) != 0 && strncmp(err, "line ", 5) != 0)
        abort(); /* a rejection names its line */
    free(text);
    return 0;
}
