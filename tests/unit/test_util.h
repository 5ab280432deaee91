/* Helpers shared by the unit tests. */
#ifndef FL_TEST_UTIL_H
#define FL_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh temporary directory for one test; removed by test_rmdir(). */
static inline char *test_tmpdir(void)
{
    char *t = strdup("/tmp/fltest.XXXXXX");
    return mkdtemp(t) ? t : NULL;
}

static inline void test_rmdir(char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

static inline void test_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

#endif
