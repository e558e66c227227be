
/*
 * Copyright (C) twanon authors
 */


/*
 * make bench's reference for the canonical sort (docs/performance.md):
 * the pairs of a file, one "name<TAB>value" a line, sorted by name, then
 * value, by the C library's qsort() with memcmp(), count times, each time
 * from the file's order.  Prints the comparisons of one sort.
 *
 *     sortref file count
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    const char     *key;
    size_t          key_len;
    const char     *value;
    size_t          value_len;
} pair_t;


static unsigned long  compares;


static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc != 0) {
        return rc;
    }

    return (alen < blen) ? -1 : (alen > blen);
}


static int
pair_cmp(const void *x, const void *y)
{
    int            rc;
    const pair_t  *a = x, *b = y;

    compares++;

    rc = bytes_cmp(a->key, a->key_len, b->key, b->key_len);

    if (rc != 0) {
        return rc;
    }

    return bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}


int
main(int argc, char **argv)
{
    char     *text, *p, *tab, *nl;
    long      size, count, i;
    FILE     *f;
    size_t    n, k;
    pair_t   *pairs, *work;

    if (argc != 3) {
        fprintf(stderr, "usage: sortref file count\n");
        return 2;
    }

    count = atol(argv[2]);

    f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
        perror(argv[1]);
        return 1;
    }

    rewind(f);

    text = malloc(size + 1);
    if (text == NULL || fread(text, 1, size, f) != (size_t) size) {
        perror(argv[1]);
        return 1;
    }

    fclose(f);
    text[size] = '\n';

    n = 0;
    for (p = text; p < text + size; p++) {
        n += (*p == '\n');
    }

    pairs = malloc(n * sizeof(pair_t));
    work = malloc(n * sizeof(pair_t));
    if (pairs == NULL || work == NULL) {
        return 1;
    }

    k = 0;
    for (p = text; k < n; p = nl + 1) {
        nl = memchr(p, '\n', text + size + 1 - p);
        tab = memchr(p, '\t', nl - p);
        if (tab == NULL) {
            fprintf(stderr, "%s: a line without a tab\n", argv[1]);
            return 1;
        }

        pairs[k].key = p;
        pairs[k].key_len = tab - p;
        pairs[k].value = tab + 1;
        pairs[k].value_len = nl - tab - 1;
        k++;
    }

    for (i = 0; i < count; i++) {
        memcpy(work, pairs, n * sizeof(pair_t));
        qsort(work, n, sizeof(pair_t), pair_cmp);
    }

    for (k = 1; count > 0 && k < n; k++) {
        if (pair_cmp(&work[k - 1], &work[k]) > 0) {
            fprintf(stderr, "%s: not sorted\n", argv[1]);
            return 1;
        }
    }

    printf("%lu\n", count ? (compares - (n - 1)) / count : 0);

    return 0;
}
