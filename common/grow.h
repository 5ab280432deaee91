/* grow: room for one more element in a growable array. */
#ifndef FL_GROW_H
#define FL_GROW_H

#include <stdlib.h>
#include <string.h>

/* Make room for element N of the array ARR (capacity CAP elements),
 * doubling from FIRST.  Evaluates to 0, or -1 out of memory (ARR and CAP
 * unchanged). */
#define FL_GROW(arr, cap, n, first) fl__grow((void *)&(arr), &(cap), (n), sizeof *(arr), (first))

static inline int fl__grow(void *parr, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : first;
    void *old, *a;
    memcpy(&old, parr, sizeof old);
    a = realloc(old, c * size);
    if (!a)
        return -1;
    memcpy(parr, &a, sizeof a);
    *cap = c;
    return 0;
}

#endif
