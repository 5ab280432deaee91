/* A collector store for one test: include after cmocka.h. */
#ifndef FL_TEST_DB_H
#define FL_TEST_DB_H

#include <stdio.h>

#include "store.h"

/* A store in a new SQLite file DIR/c.db (DIR from test_tmpdir(), the
 * caller's to remove); the file's path goes to PATH. */
static inline struct store *test_store_open(const char *dir, char *path, size_t len)
{
    char err[256];
    snprintf(path, len, "%s/c.db", dir);
    struct store_opts so = {.url = path};
    struct store *st = store_open(&so, err, sizeof err);
    if (!st)
        fail_msg("store_open %s: %s", path, err);
    return st;
}

#endif
