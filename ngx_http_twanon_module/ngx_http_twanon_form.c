
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_twanon_lib.h"


static ngx_int_t ngx_http_twanon_form_decode(u_char *dst, u_char *src,
    size_t len, size_t *out);


/*
 * Parses an application/x-www-form-urlencoded string into pairs of
 * decoded keys and values, in the order they appear.  "+" is a space,
 * "%XX" a byte; empty values and repeated keys are kept, empty segments
 * ("a=1&&b=2") are skipped.  A malformed escape or more than "max" pairs
 * is NGX_DECLINED.  The decoded bytes live in one copy from "pool".
 */

ngx_int_t
ngx_http_twanon_form_parse(ngx_pool_t *pool, ngx_str_t *in,
    ngx_array_t *pairs, ngx_uint_t max)
{
    u_char                  *p, *end, *amp, *eq, *dst;
    size_t                   n;
    ngx_http_twanon_pair_t  *pair;

    if (in->len == 0) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(pool, in->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    p = in->data;
    end = in->data + in->len;

    while (p < end) {

        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        if (amp == p) {
            p++;
            continue;
        }

        if (pairs->nelts == max) {
            return NGX_DECLINED;
        }

        pair = ngx_array_push(pairs);
        if (pair == NULL) {
            return NGX_ERROR;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        if (ngx_http_twanon_form_decode(dst, p, eq - p, &n) != NGX_OK) {
            return NGX_DECLINED;
        }

        pair->key.data = dst;
        pair->key.len = n;
        dst += n;

        if (eq == amp) {
            pair->value.data = dst;
            pair->value.len = 0;

        } else {
            if (ngx_http_twanon_form_decode(dst, eq + 1, amp - eq - 1, &n)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }

            pair->value.data = dst;
            pair->value.len = n;
            dst += n;
        }

        p = amp + 1;
    }

    return NGX_OK;
}


/*
 * Finds the value of "key".  A key given more than once is NGX_DECLINED,
 * so that no two readers of the same form can disagree on its value.
 */

ngx_int_t
ngx_http_twanon_form_get(ngx_array_t *pairs, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_uint_t               i, found;
    ngx_http_twanon_pair_t  *pair;

    found = 0;
    pair = pairs->elts;

    for (i = 0; i < pairs->nelts; i++) {

        if (pair[i].key.len != key->len
            || ngx_memcmp(pair[i].key.data, key->data, key->len) != 0)
        {
            continue;
        }

        if (found++) {
            return NGX_DECLINED;
        }

        *value = pair[i].value;
    }

    return found ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_twanon_form_decode(u_char *dst, u_char *src, size_t len,
    size_t *out)
{
    u_char      *start, *last, *plain;
    ngx_int_t    hi, lo;

    start = dst;
    last = src + len;

    while (src < last) {

        /* most of a webhook needs no decoding: copy runs of it at once */

        for (plain = src; src < last && *src != '%' && *src != '+'; src++) {
            /* void */
        }

        dst = ngx_cpymem(dst, plain, src - plain);

        if (src == last) {
            break;
        }

        if (*src == '+') {
            *dst++ = ' ';
            src++;
            continue;
        }

        if (last - src < 3) {
            return NGX_DECLINED;
        }

        hi = ngx_hextoi(src + 1, 1);
        lo = ngx_hextoi(src + 2, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_DECLINED;
        }

        *dst++ = (u_char) (hi << 4 | lo);
        src += 3;
    }

    *out = dst - start;

    return NGX_OK;
}
