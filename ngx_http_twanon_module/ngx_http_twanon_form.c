
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_twanon_lib.h"


static ngx_int_t ngx_http_twanon_form_pair(ngx_http_twanon_pair_t *pair,
    u_char *eq, u_char *amp, u_char *end, u_char **pct, u_char **plus);
static ngx_int_t ngx_http_twanon_form_decode(u_char *start, u_char *first,
    u_char *last, size_t *len);
static ngx_inline u_char *ngx_http_twanon_form_next(u_char *found,
    u_char *from, u_char *end, u_char c);
static ngx_inline ngx_int_t ngx_http_twanon_form_hex(u_char c);


/*
 * Parses an application/x-www-form-urlencoded string into pairs of
 * decoded keys and values, in the order they appear.  "+" is a space,
 * "%XX" a byte; empty values and repeated keys are kept, empty segments
 * ("a=1&&b=2") are skipped.  A malformed escape or more than "max" pairs
 * is NGX_DECLINED.  The decoded bytes live in one copy from "pool".
 *
 * The copy is made at once and decoded in place, where a decoded string
 * is never longer than its encoding.  Most of a webhook needs no
 * decoding: the next "%" and the next "+" are each looked for once with
 * memchr(), and only a key or value that holds one is decoded.
 */

ngx_int_t
ngx_http_twanon_form_parse(ngx_pool_t *pool, ngx_str_t *in,
    ngx_array_t *pairs, ngx_uint_t max)
{
    u_char                  *p, *end, *amp, *eq, *pct, *plus;
    ngx_http_twanon_pair_t  *pair;

    if (in->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, in->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    end = ngx_cpymem(p, in->data, in->len);

    pct = memchr(p, '%', in->len);
    if (pct == NULL) {
        pct = end;
    }

    plus = memchr(p, '+', in->len);
    if (plus == NULL) {
        plus = end;
    }

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

        if (pairs->nelts < pairs->nalloc) {
            pair = (ngx_http_twanon_pair_t *) pairs->elts + pairs->nelts++;

        } else {
            pair = ngx_array_push(pairs);
            if (pair == NULL) {
                return NGX_ERROR;
            }
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        pair->key.data = p;
        pair->key.len = eq - p;

        pair->value.data = (eq == amp) ? amp : eq + 1;
        pair->value.len = amp - pair->value.data;

        p = amp + 1;

        if ((pct < amp || plus < amp)
            && ngx_http_twanon_form_pair(pair, eq, amp, end, &pct, &plus)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A pair that holds a "%" or a "+" before "amp": its key and value
 * decoded where they hold one, and the next "%" and "+" found past it.
 */

static ngx_int_t
ngx_http_twanon_form_pair(ngx_http_twanon_pair_t *pair, u_char *eq,
    u_char *amp, u_char *end, u_char **pct, u_char **plus)
{
    u_char  *first;

    first = ngx_min(*pct, *plus);

    if (first < eq
        && ngx_http_twanon_form_decode(pair->key.data, first, eq,
                                       &pair->key.len)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    *pct = ngx_http_twanon_form_next(*pct, pair->value.data, end, '%');
    *plus = ngx_http_twanon_form_next(*plus, pair->value.data, end, '+');

    first = ngx_min(*pct, *plus);

    if (first < amp
        && ngx_http_twanon_form_decode(pair->value.data, first, amp,
                                       &pair->value.len)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    *pct = ngx_http_twanon_form_next(*pct, amp, end, '%');
    *plus = ngx_http_twanon_form_next(*plus, amp, end, '+');

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


/* the first "c" at or after "from": "found" if that is still ahead */

static ngx_inline u_char *
ngx_http_twanon_form_next(u_char *found, u_char *from, u_char *end, u_char c)
{
    if (found >= from) {
        return found;
    }

    found = memchr(from, c, end - from);

    return (found != NULL) ? found : end;
}


/*
 * Decodes [start, last) in place, where "first" is its first "%" or
 * "+" and the bytes before it stay as they are.
 */

static ngx_int_t
ngx_http_twanon_form_decode(u_char *start, u_char *first, u_char *last,
    size_t *len)
{
    u_char     *src, *dst;
    ngx_int_t   hi, lo;

    src = first;
    dst = first;

    while (src < last) {

        if (*src == '+') {
            *dst++ = ' ';
            src++;
            continue;
        }

        if (*src != '%') {
            *dst++ = *src++;
            continue;
        }

        if (last - src < 3) {
            return NGX_DECLINED;
        }

        hi = ngx_http_twanon_form_hex(src[1]);
        lo = ngx_http_twanon_form_hex(src[2]);

        if (hi < 0 || lo < 0) {
            return NGX_DECLINED;
        }

        *dst++ = (u_char) (hi << 4 | lo);
        src += 3;
    }

    *len = dst - start;

    return NGX_OK;
}


static ngx_inline ngx_int_t
ngx_http_twanon_form_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
