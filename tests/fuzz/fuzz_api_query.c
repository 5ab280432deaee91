/* libFuzzer: the HTTP API's query parameters.  The input is a query string
 * ("since=10m&limit=5&verdict=TARGET"), split as libmicrohttpd hands it
 * over, applied to each kind of request. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    /* The parsers take C strings: what follows a NUL is never seen. */
    char *text = strndup((const char *)data, size);
    if (!text)
        return 0;
    for (int kind = API_QUERY_INCIDENTS; kind <= API_QUERY_SUMMARY; kind++) {
        char *copy = strdup(text), *save = NULL;
        struct api_query q;
        api_query_init(&q, (enum api_query_kind)kind);
        for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(pair, '=');
            if (eq)
                *eq = '\0';
            char err[256];
            /* A key without '=' comes with a NULL value, as in libmicrohttpd. */
            if (api_query_param(&q, (enum api_query_kind)kind, pair, eq ? eq + 1 : NULL,
                                1763800000000000LL, err, sizeof err) != 0 &&
                !err[0])
                abort(); /* a rejection always says why */
        }
        free(copy);
    }
    free(text);
    return 0;
}
