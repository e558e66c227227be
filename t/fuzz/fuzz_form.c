
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_form_parse() and ngx_http_twanon_form_get().
 *
 * Input: one options byte (bit 7: max 256 pairs as the webhook has,
 * else max = bits 0-5; bit 6: the pairs array starts with room for one
 * pair, else 32), then the body.
 *
 * Invariants: the result and the pairs equal those of a reference
 * parser written here; the pairs, percent-encoded again, parse back to
 * the same pairs; form_get() finds a key given once and refuses one
 * given twice.
 */


#include "fuzz_common.h"


typedef struct {
    ngx_str_t   key;
    ngx_str_t   value;
} ref_pair_t;


static int
ref_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
ref_decode(const u_char *src, size_t len, u_char *dst, size_t *out)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if (src[i] == '+') {
            dst[n++] = ' ';

        } else if (src[i] == '%') {
            if (i + 2 >= len) {
                return -1;
            }

            if (ref_hex(src[i + 1]) < 0 || ref_hex(src[i + 2]) < 0) {
                return -1;
            }

            dst[n++] = (u_char) (ref_hex(src[i + 1]) << 4
                                 | ref_hex(src[i + 2]));
            i += 2;

        } else {
            dst[n++] = src[i];
        }
    }

    *out = n;

    return 0;
}


/* NGX_OK, NGX_DECLINED: what form_parse() must answer */

static ngx_int_t
ref_parse(const u_char *in, size_t len, ngx_uint_t max, ref_pair_t *pairs,
    ngx_uint_t *npairs, u_char *buf)
{
    size_t        i, start, eq, n;
    ngx_uint_t    count;

    count = 0;
    start = 0;

    for (i = 0; i <= len; i++) {

        if (i < len && in[i] != '&') {
            continue;
        }

        if (i == start) {
            start = i + 1;
            continue;
        }

        if (count == max) {
            return NGX_DECLINED;
        }

        for (eq = start; eq < i && in[eq] != '='; eq++) { /* void */ }

        if (ref_decode(in + start, eq - start, buf, &n) != 0) {
            return NGX_DECLINED;
        }

        pairs[count].key.data = buf;
        pairs[count].key.len = n;
        buf += n;

        n = 0;

        if (eq < i && ref_decode(in + eq + 1, i - eq - 1, buf, &n) != 0) {
            return NGX_DECLINED;
        }

        pairs[count].value.data = buf;
        pairs[count].value.len = n;
        buf += n;

        count++;
        start = i + 1;
    }

    *npairs = count;

    return NGX_OK;
}


static u_char *
encode(u_char *p, ngx_str_t *s, ngx_uint_t plus, ngx_uint_t lower)
{
    size_t         i;
    u_char         c;
    static u_char  upper_hex[] = "0123456789ABCDEF";
    static u_char  lower_hex[] = "0123456789abcdef";

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
            || c == '~')
        {
            *p++ = c;

        } else if (c == ' ' && plus) {
            *p++ = '+';

        } else {
            *p++ = '%';
            *p++ = (lower ? lower_hex : upper_hex)[c >> 4];
            *p++ = (lower ? lower_hex : upper_hex)[c & 0xf];
        }
    }

    return p;
}


static ngx_uint_t
str_eq(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    twanon_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                  *buf, *p;
    size_t                   len;
    ngx_int_t                rc, ref;
    ngx_str_t                body, again, value;
    ngx_uint_t               i, k, max, nref, count, opts;
    ngx_pool_t              *pool;
    ngx_array_t              pairs, pairs2;
    ref_pair_t              *rp;
    twanon_fuzz_in_t         in;
    ngx_http_twanon_pair_t  *pair, *pair2;

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    opts = twanon_fuzz_byte(&in);
    max = (opts & 0x80) ? 256 : (opts & 0x3f);

    twanon_fuzz_rest(pool, &in, &body);

    if (ngx_array_init(&pairs, pool, (opts & 0x40) ? 1 : 32,
                       sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        abort();
    }

    rc = ngx_http_twanon_form_parse(pool, &body, &pairs, max);

    twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    /* the reference */

    rp = malloc((max + 1) * sizeof(ref_pair_t));
    buf = malloc(body.len + 1);
    twanon_fuzz_assert(rp && buf);

    ref = ref_parse(body.data, body.len, max, rp, &nref, buf);

    twanon_fuzz_assert(rc == ref);

    if (rc != NGX_OK) {
        goto done;
    }

    twanon_fuzz_assert(pairs.nelts == nref && pairs.nelts <= max);

    pair = pairs.elts;

    for (i = 0; i < pairs.nelts; i++) {
        twanon_fuzz_assert(str_eq(&pair[i].key, &rp[i].key));
        twanon_fuzz_assert(str_eq(&pair[i].value, &rp[i].value));
    }

    /* form_get(): a key once is found with its value, twice refused */

    for (i = 0; i < pairs.nelts; i++) {
        count = 0;

        for (k = 0; k < pairs.nelts; k++) {
            count += str_eq(&pair[i].key, &pair[k].key);
        }

        ngx_str_null(&value);
        rc = ngx_http_twanon_form_get(&pairs, &pair[i].key, &value);

        if (count == 1) {
            twanon_fuzz_assert(rc == NGX_OK);
            twanon_fuzz_assert(str_eq(&value, &pair[i].value));

        } else {
            twanon_fuzz_assert(rc == NGX_DECLINED);
        }
    }

    /* percent-encoded again, the pairs parse back to themselves */

    len = 0;

    for (i = 0; i < pairs.nelts; i++) {
        len += 3 * (pair[i].key.len + pair[i].value.len) + 2;
    }

    again.data = twanon_fuzz_copy(pool, NULL, len);
    p = again.data;

    for (i = 0; i < pairs.nelts; i++) {
        if (i) {
            *p++ = '&';
        }

        p = encode(p, &pair[i].key, opts & 1, opts & 2);

        /* "k" and "k=" are the same pair: write both forms */

        if (pair[i].value.len || (opts & 4)) {
            *p++ = '=';
            p = encode(p, &pair[i].value, opts & 1, opts & 2);
        }
    }

    again.len = p - again.data;

    if (ngx_array_init(&pairs2, pool, 4, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        abort();
    }

    rc = ngx_http_twanon_form_parse(pool, &again, &pairs2, pairs.nelts);

    /* an empty key with an empty value is written as nothing: skipped */

    count = 0;

    for (i = 0; i < pairs.nelts; i++) {
        if (pair[i].key.len || pair[i].value.len || (opts & 4)) {
            count++;
        }
    }

    twanon_fuzz_assert(rc == NGX_OK);
    twanon_fuzz_assert(pairs2.nelts == count);

    pair2 = pairs2.elts;
    k = 0;

    for (i = 0; i < pairs.nelts; i++) {
        if (!(pair[i].key.len || pair[i].value.len || (opts & 4))) {
            continue;
        }

        twanon_fuzz_assert(str_eq(&pair[i].key, &pair2[k].key));
        twanon_fuzz_assert(str_eq(&pair[i].value, &pair2[k].value));
        k++;
    }

done:

    free(rp);
    free(buf);

    twanon_fuzz_pool_done(pool);

    return 0;
}
