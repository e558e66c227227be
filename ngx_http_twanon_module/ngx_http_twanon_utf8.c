
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_twanon_lib.h"


static ngx_uint_t ngx_http_twanon_utf16_units(u_char **p, u_char *last,
    uint32_t *units);
static ngx_int_t ngx_http_twanon_utf8_hex(u_char *p, u_char *last);


/*
 * Decodes one character at *p, strictly: continuation bytes must be
 * 10xxxxxx, and overlong forms, surrogates and code points past U+10FFFF
 * are invalid.  On an invalid sequence *p moves one byte and the result
 * is NGX_HTTP_TWANON_UTF8_INVALID.  (ngx_utf8_decode() does not check
 * that a continuation byte is below 0xc0.)
 */

uint32_t
ngx_http_twanon_utf8_next(u_char **p, u_char *last)
{
    u_char    *s;
    size_t     len, i;
    uint32_t   u, min;

    s = *p;
    u = *s;

    if (u < 0x80) {
        (*p)++;
        return u;
    }

    if (u >= 0xc2 && u <= 0xdf) {
        u &= 0x1f; len = 1; min = 0x80;

    } else if (u >= 0xe0 && u <= 0xef) {
        u &= 0x0f; len = 2; min = 0x800;

    } else if (u >= 0xf0 && u <= 0xf4) {
        u &= 0x07; len = 3; min = 0x10000;

    } else {
        goto invalid;
    }

    if ((size_t) (last - s) <= len) {
        goto invalid;
    }

    for (i = 1; i <= len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            goto invalid;
        }

        u = (u << 6) | (s[i] & 0x3f);
    }

    if (u < min || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        goto invalid;
    }

    *p = s + len + 1;

    return u;

invalid:

    *p = s + 1;

    return NGX_HTTP_TWANON_UTF8_INVALID;
}


/*
 * Copies "in" replacing each byte that does not start a valid UTF-8
 * sequence with U+FFFD; "in" itself when it is valid already.
 */

ngx_int_t
ngx_http_twanon_utf8_fix(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char  *p, *last, *dst, *start;

    p = in->data;
    last = in->data + in->len;

    while (p < last) {

        /* ASCII, most of a reply, needs no decoding */

        if (*p < 0x80) {
            p++;
            continue;
        }

        start = p;

        if (ngx_http_twanon_utf8_next(&p, last)
            == NGX_HTTP_TWANON_UTF8_INVALID)
        {
            p = start;
            break;
        }
    }

    if (p == last) {
        *out = *in;
        return NGX_OK;
    }

    out->data = ngx_pnalloc(pool, in->len * 3);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = ngx_cpymem(out->data, in->data, p - in->data);

    while (p < last) {
        start = p;

        if (ngx_http_twanon_utf8_next(&p, last)
            == NGX_HTTP_TWANON_UTF8_INVALID)
        {
            *dst++ = 0xef; *dst++ = 0xbf; *dst++ = 0xbd;
            continue;
        }

        dst = ngx_cpymem(dst, start, p - start);
    }

    out->len = dst - out->data;

    return NGX_OK;
}


/*
 * The longest prefix of a valid UTF-8 string "p" that is at most "max"
 * bytes and does not split a character.
 */

size_t
ngx_http_twanon_utf8_cut(u_char *p, size_t max)
{
    size_t  len;

    len = max;

    while (len > 0 && (p[len] & 0xc0) == 0x80) {
        len--;
    }

    return len;
}


/*
 * By UTF-16 code units, as Twilio's helpers sort; a byte that starts no
 * valid character is a unit of its own above them all, so the order is
 * strict and total (docs/security.md, "Bad inputs and what the module
 * answers").  Only what follows the first differing byte is decoded: a
 * character holds at most 3 continuation bytes.
 */

ngx_int_t
ngx_http_twanon_utf16_cmp(ngx_str_t *a, ngx_str_t *b)
{
    u_char      *pa, *pb;
    size_t       i, k, n, start;
    uint32_t     ua[2], ub[2];
    uint64_t     wa, wb;
    ngx_uint_t   na, nb, ia, ib;

    n = ngx_min(a->len, b->len);

    /* the common prefix, 8 bytes at a time while it lasts */

    for (i = 0; i + 8 <= n; i += 8) {
        ngx_memcpy(&wa, a->data + i, 8);
        ngx_memcpy(&wb, b->data + i, 8);

        if (wa != wb) {
            break;
        }
    }

    for ( /* void */ ; i < n && a->data[i] == b->data[i]; i++) { /* void */ }

    if (i == a->len && i == b->len) {
        return 0;
    }

    if (i < n) {
        if (a->data[i] < 0x80 && b->data[i] < 0x80) {
            return (a->data[i] < b->data[i]) ? -1 : 1;
        }

    } else if (((i == a->len ? b->data[i] : a->data[i]) & 0xc0) != 0x80) {

        /*
         * A proper prefix, followed by a byte that starts a unit: every
         * unit of the prefix is read from the same bytes in both, and
         * comes first.
         */

        return (i == a->len) ? -1 : 1;
    }

    start = i;

    for (k = 1; k <= 3 && k <= i; k++) {
        if ((a->data[i - k] & 0xc0) != 0x80) {
            start = i - k;
            break;
        }
    }

    pa = a->data + start;
    pb = b->data + start;

    na = 0;
    nb = 0;
    ia = 0;
    ib = 0;

    for ( ;; ) {

        if (ia == na) {
            na = ngx_http_twanon_utf16_units(&pa, a->data + a->len, ua);
            ia = 0;
        }

        if (ib == nb) {
            nb = ngx_http_twanon_utf16_units(&pb, b->data + b->len, ub);
            ib = 0;
        }

        if (na == 0 || nb == 0) {
            return (na != 0) - (nb != 0);
        }

        if (ua[ia] != ub[ib]) {
            return (ua[ia] < ub[ib]) ? -1 : 1;
        }

        ia++;
        ib++;
    }
}


/* the units of the next character or invalid byte at *p; 0 at the end */

static ngx_uint_t
ngx_http_twanon_utf16_units(u_char **p, u_char *last, uint32_t *units)
{
    u_char    *s;
    uint32_t   u;

    if (*p == last) {
        return 0;
    }

    s = *p;

    u = ngx_http_twanon_utf8_next(p, last);

    if (u == NGX_HTTP_TWANON_UTF8_INVALID) {
        units[0] = 0x10000 + *s;
        return 1;
    }

    if (u >= 0x10000) {
        units[0] = 0xd800 + ((u - 0x10000) >> 10);
        units[1] = 0xdc00 + ((u - 0x10000) & 0x3ff);
        return 2;
    }

    units[0] = u;

    return 1;
}


/*
 * A JSON escape (RFC 8259, 7), from its backslash, as UTF-8 at "dst", at
 * most 4 bytes, fewer than the escape; 0 if invalid.  *pos moves past it.
 */

size_t
ngx_http_twanon_utf8_unescape(u_char **pos, u_char *last, u_char *dst)
{
    u_char     *p, *d;
    ngx_int_t   c, low;

    p = *pos + 1;
    d = dst;

    if (p == last) {
        return 0;
    }

    switch (*p) {
    case '"': case '\\': case '/':
        *d++ = *p;
        break;
    case 'b':
        *d++ = '\b';
        break;
    case 'f':
        *d++ = '\f';
        break;
    case 'n':
        *d++ = '\n';
        break;
    case 'r':
        *d++ = '\r';
        break;
    case 't':
        *d++ = '\t';
        break;

    case 'u':
        c = ngx_http_twanon_utf8_hex(p + 1, last);

        if (c < 0 || (c >= 0xdc00 && c <= 0xdfff)) {
            return 0;
        }

        p += 4;

        if (c >= 0xd800 && c <= 0xdbff) {

            /* a high surrogate: a low one must follow */

            if (last - p < 7 || p[1] != '\\' || p[2] != 'u') {
                return 0;
            }

            low = ngx_http_twanon_utf8_hex(p + 3, last);

            if (low < 0xdc00 || low > 0xdfff) {
                return 0;
            }

            c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
            p += 6;
        }

        if (c < 0x80) {
            *d++ = (u_char) c;

        } else if (c < 0x800) {
            *d++ = (u_char) (0xc0 | (c >> 6));
            *d++ = (u_char) (0x80 | (c & 0x3f));

        } else if (c < 0x10000) {
            *d++ = (u_char) (0xe0 | (c >> 12));
            *d++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (c & 0x3f));

        } else {
            *d++ = (u_char) (0xf0 | (c >> 18));
            *d++ = (u_char) (0x80 | ((c >> 12) & 0x3f));
            *d++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
            *d++ = (u_char) (0x80 | (c & 0x3f));
        }

        break;

    default:
        return 0;
    }

    *pos = p + 1;

    return d - dst;
}


/* four hex digits at "p", or -1 */

static ngx_int_t
ngx_http_twanon_utf8_hex(u_char *p, u_char *last)
{
    u_char      c;
    ngx_int_t   n, i;

    if (last - p < 4) {
        return -1;
    }

    n = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            n = n * 16 + c - '0';
            continue;
        }

        c |= 0x20;

        if (c < 'a' || c > 'f') {
            return -1;
        }

        n = n * 16 + c - 'a' + 10;
    }

    return n;
}
