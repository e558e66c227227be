
/*
 * Copyright (C) twanon authors
 */


/*
 * A strict JSON reader (RFC 8259) for the resolver's reply.  It checks
 * the whole document and keeps only what the route needs: the values of
 * a few members of the root object, in the request's pool.  It accepts
 * and refuses the documents that jansson 2.14's json_loadb() accepts and
 * refuses with JSON_ALLOW_NUL, and writes numbers as jansson does, so
 * that t/fuzz/fuzz_route.c can hold it to jansson on every input; the
 * one difference is a number jansson cannot hold, which reads here as
 * null (see ngx_http_twanon_json_number()).
 *
 * The reply must be valid UTF-8 (ngx_http_twanon_utf8_fix()): bytes
 * from 0x80 up are copied, never decoded.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>

#include "ngx_http_twanon_lib.h"


/* jansson's JSON_PARSER_MAX_DEPTH: a value inside 2047 containers */
#define NGX_HTTP_TWANON_JSON_DEPTH         2048

/* what the document may hold next */
#define NGX_HTTP_TWANON_JSON_EXPECT_VALUE  1
#define NGX_HTTP_TWANON_JSON_EXPECT_KEY    2
#define NGX_HTTP_TWANON_JSON_EXPECT_NEXT   3
#define NGX_HTTP_TWANON_JSON_EXPECT_END    4


typedef struct {
    u_char                         *pos;
    u_char                         *last;
    ngx_pool_t                     *pool;
    ngx_http_twanon_json_member_t  *members;
    ngx_uint_t                      nmembers;

    /* the root member whose value is being read, if one is wanted */
    ngx_str_t                       name;
    ngx_uint_t                      wanted;

    ngx_uint_t                      depth;       /* open containers */
    u_char                          objects[NGX_HTTP_TWANON_JSON_DEPTH / 8];
} ngx_http_twanon_json_t;


static ngx_int_t ngx_http_twanon_json_value(ngx_http_twanon_json_t *j);
static ngx_int_t ngx_http_twanon_json_one(ngx_http_twanon_json_t *j);
static ngx_int_t ngx_http_twanon_json_open(ngx_http_twanon_json_t *j,
    u_char c);
static ngx_int_t ngx_http_twanon_json_next(ngx_http_twanon_json_t *j);
static ngx_int_t ngx_http_twanon_json_key(ngx_http_twanon_json_t *j);
static void ngx_http_twanon_json_keep(ngx_http_twanon_json_t *j,
    ngx_uint_t type, ngx_str_t *text);
static ngx_int_t ngx_http_twanon_json_string(ngx_http_twanon_json_t *j,
    ngx_str_t *out, ngx_uint_t key);
static ngx_int_t ngx_http_twanon_json_escape(u_char **pos, u_char *last,
    u_char **dst);
static ngx_int_t ngx_http_twanon_json_hex(u_char *p, u_char *last);
static ngx_int_t ngx_http_twanon_json_number(ngx_http_twanon_json_t *j);
static u_char *ngx_http_twanon_json_digits(u_char *p, u_char *last,
    ngx_uint_t integer);
static ngx_int_t ngx_http_twanon_json_integer(ngx_str_t *text);
static ngx_int_t ngx_http_twanon_json_real(ngx_pool_t *pool,
    ngx_str_t *text);


#define ngx_http_twanon_json_space(j)                                         \
    while (j->pos < j->last                                                   \
           && (*j->pos == ' ' || *j->pos == '\n' || *j->pos == '\r'           \
               || *j->pos == '\t'))                                           \
    {                                                                         \
        j->pos++;                                                             \
    }

#define ngx_http_twanon_json_in_object(j)                                     \
    (j->objects[(j->depth - 1) >> 3] & (1 << ((j->depth - 1) & 7)))


/*
 * Reads "text" and fills in the value of each of the "n" members named
 * in "members" that the root object has (the last one, if a name comes
 * twice, as jansson keeps it); the others stay NGX_HTTP_TWANON_JSON_NONE.
 * NGX_DECLINED, with "reason" set, when the text is not JSON or its root
 * is not an object.
 */

ngx_int_t
ngx_http_twanon_json_members(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_twanon_json_member_t *members, ngx_uint_t n,
    const char **reason)
{
    ngx_int_t                rc;
    ngx_uint_t               i, object;
    ngx_http_twanon_json_t   j;

    for (i = 0; i < n; i++) {
        members[i].value.type = NGX_HTTP_TWANON_JSON_NONE;
        members[i].nitems = 0;
    }

    j.pos = text->data;
    j.last = text->data + text->len;
    j.pool = pool;
    j.members = members;
    j.nmembers = n;
    j.wanted = 0;
    j.depth = 0;

    /* like jansson without JSON_DECODE_ANY: an object or an array */

    ngx_http_twanon_json_space((&j));

    object = (j.pos < j.last && *j.pos == '{');

    if (!object && (j.pos == j.last || *j.pos != '[')) {
        *reason = "invalid JSON";
        return NGX_DECLINED;
    }

    rc = ngx_http_twanon_json_value(&j);

    if (rc == NGX_DECLINED) {
        *reason = "invalid JSON";
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (!object) {
        *reason = "not a JSON object";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The document: a loop over what may come next rather than a recursion,
 * with one bit per open container (set for an object) to know it.
 */

static ngx_int_t
ngx_http_twanon_json_value(ngx_http_twanon_json_t *j)
{
    ngx_int_t  next;

    next = NGX_HTTP_TWANON_JSON_EXPECT_VALUE;

    for ( ;; ) {

        switch (next) {

        case NGX_HTTP_TWANON_JSON_EXPECT_VALUE:
            next = ngx_http_twanon_json_one(j);
            break;

        case NGX_HTTP_TWANON_JSON_EXPECT_KEY:
            next = ngx_http_twanon_json_key(j);
            break;

        case NGX_HTTP_TWANON_JSON_EXPECT_NEXT:
            next = ngx_http_twanon_json_next(j);
            break;

        case NGX_HTTP_TWANON_JSON_EXPECT_END:
            return NGX_OK;

        default: /* NGX_DECLINED, NGX_ERROR */
            return next;
        }
    }
}


/* one value: a scalar, or the start of a container */

static ngx_int_t
ngx_http_twanon_json_one(ngx_http_twanon_json_t *j)
{
    u_char      c;
    ngx_int_t   rc;
    ngx_str_t   text;

    ngx_http_twanon_json_space(j);

    if (j->pos == j->last || j->depth == NGX_HTTP_TWANON_JSON_DEPTH) {
        return NGX_DECLINED;
    }

    c = *j->pos;

    if (c == '{' || c == '[') {
        return ngx_http_twanon_json_open(j, c);
    }

    if (c == '"') {
        rc = ngx_http_twanon_json_string(j, &text, 0);

        if (rc == NGX_OK) {
            ngx_http_twanon_json_keep(j, NGX_HTTP_TWANON_JSON_STRING, &text);
        }

    } else if (c == '-' || (c >= '0' && c <= '9')) {
        rc = ngx_http_twanon_json_number(j);

    } else {
        if (c == 't') {
            ngx_str_set(&text, "true");

        } else if (c == 'f') {
            ngx_str_set(&text, "false");

        } else if (c == 'n') {
            ngx_str_set(&text, "null");

        } else {
            return NGX_DECLINED;
        }

        if ((size_t) (j->last - j->pos) < text.len
            || ngx_memcmp(j->pos, text.data, text.len) != 0)
        {
            return NGX_DECLINED;
        }

        j->pos += text.len;
        ngx_http_twanon_json_keep(j, NGX_HTTP_TWANON_JSON_OTHER, NULL);
        rc = NGX_OK;
    }

    return (rc == NGX_OK) ? NGX_HTTP_TWANON_JSON_EXPECT_NEXT : rc;
}


/* "{" or "[", and an empty container's end */

static ngx_int_t
ngx_http_twanon_json_open(ngx_http_twanon_json_t *j, u_char c)
{
    j->pos++;

    ngx_http_twanon_json_keep(j, (c == '[') ? NGX_HTTP_TWANON_JSON_ARRAY
                                            : NGX_HTTP_TWANON_JSON_OTHER,
                              NULL);

    if (c == '{') {
        j->objects[j->depth >> 3] |= (u_char) (1 << (j->depth & 7));

    } else {
        j->objects[j->depth >> 3] &= (u_char) ~(1 << (j->depth & 7));
    }

    j->depth++;

    ngx_http_twanon_json_space(j);

    if (j->pos < j->last && *j->pos == (c == '{' ? '}' : ']')) {
        j->pos++;
        j->depth--;
        return NGX_HTTP_TWANON_JSON_EXPECT_NEXT;
    }

    return (c == '{') ? NGX_HTTP_TWANON_JSON_EXPECT_KEY
                      : NGX_HTTP_TWANON_JSON_EXPECT_VALUE;
}


/* after a value: the end, a comma, or its container's end */

static ngx_int_t
ngx_http_twanon_json_next(ngx_http_twanon_json_t *j)
{
    u_char  c;

    ngx_http_twanon_json_space(j);

    if (j->depth == 0) {
        return (j->pos == j->last) ? NGX_HTTP_TWANON_JSON_EXPECT_END
                                   : NGX_DECLINED;
    }

    if (j->pos == j->last) {
        return NGX_DECLINED;
    }

    c = *j->pos++;

    if (ngx_http_twanon_json_in_object(j)) {

        if (c == ',') {
            ngx_http_twanon_json_space(j);
            return NGX_HTTP_TWANON_JSON_EXPECT_KEY;
        }

        if (c == '}') {
            j->depth--;
            return NGX_HTTP_TWANON_JSON_EXPECT_NEXT;
        }

        return NGX_DECLINED;
    }

    if (c == ',') {
        return NGX_HTTP_TWANON_JSON_EXPECT_VALUE;
    }

    if (c == ']') {
        j->depth--;
        return NGX_HTTP_TWANON_JSON_EXPECT_NEXT;
    }

    return NGX_DECLINED;
}


/* a member's name and its colon; in the root object, whether it is wanted */

static ngx_int_t
ngx_http_twanon_json_key(ngx_http_twanon_json_t *j)
{
    ngx_int_t   rc;
    ngx_str_t   name;
    ngx_uint_t  i;

    if (j->pos == j->last || *j->pos != '"') {
        return NGX_DECLINED;
    }

    rc = ngx_http_twanon_json_string(j, &name, 1);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_twanon_json_space(j);

    if (j->pos == j->last || *j->pos != ':') {
        return NGX_DECLINED;
    }

    j->pos++;

    if (j->depth != 1) {
        return NGX_HTTP_TWANON_JSON_EXPECT_VALUE;
    }

    j->wanted = 0;

    for (i = 0; i < j->nmembers; i++) {
        if (j->members[i].name.len == name.len
            && ngx_memcmp(j->members[i].name.data, name.data, name.len) == 0)
        {
            j->wanted = 1;

            /* a name given again: jansson keeps the last value */

            j->members[i].value.type = NGX_HTTP_TWANON_JSON_NONE;
            j->members[i].nitems = 0;
        }
    }

    j->name = name;

    return NGX_HTTP_TWANON_JSON_EXPECT_VALUE;
}


/*
 * Keeps a value just read, if it is a wanted member's (depth 1) or an
 * item of a wanted member's array (depth 2, the first items only).
 */

static void
ngx_http_twanon_json_keep(ngx_http_twanon_json_t *j, ngx_uint_t type,
    ngx_str_t *text)
{
    ngx_uint_t                      i;
    ngx_http_twanon_json_value_t   *v;
    ngx_http_twanon_json_member_t  *m;

    if (!j->wanted || j->depth == 0 || j->depth > 2) {
        return;
    }

    for (i = 0; i < j->nmembers; i++) {
        m = &j->members[i];

        if (m->name.len != j->name.len
            || ngx_memcmp(m->name.data, j->name.data, j->name.len) != 0)
        {
            continue;
        }

        if (j->depth == 1) {
            v = &m->value;

        } else if (m->value.type == NGX_HTTP_TWANON_JSON_ARRAY) {
            v = (m->nitems < NGX_HTTP_TWANON_JSON_ITEMS) ? &m->items[m->nitems]
                                                        : NULL;
            m->nitems++;

            if (v == NULL) {
                continue;
            }

        } else {
            continue;
        }

        v->type = type;

        if (text) {
            v->text = *text;
        }
    }
}


/*
 * A string, from its opening quote: decoded into "out" (pointing into
 * the text itself when it has no escape), or NGX_DECLINED.  A key may
 * not hold U+0000 (jansson refuses it; a value may, JSON_ALLOW_NUL).
 */

static ngx_int_t
ngx_http_twanon_json_string(ngx_http_twanon_json_t *j, ngx_str_t *out,
    ngx_uint_t key)
{
    u_char  *p, *start, *dst;

    start = ++j->pos;

    for (p = start; p < j->last && *p != '"' && *p != '\\'; p++) {
        if (*p < 0x20) {
            return NGX_DECLINED;
        }
    }

    if (p == j->last) {
        return NGX_DECLINED;
    }

    if (*p == '"') {
        out->data = start;
        out->len = p - start;
        j->pos = p + 1;
        return NGX_OK;
    }

    /* an escape: decoded into a copy, never longer than the text */

    out->data = ngx_pnalloc(j->pool, j->last - start);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = ngx_cpymem(out->data, start, p - start);

    while (p < j->last && *p != '"') {

        if (*p < 0x20) {
            return NGX_DECLINED;
        }

        if (*p != '\\') {
            *dst++ = *p++;
            continue;
        }

        if (ngx_http_twanon_json_escape(&p, j->last, &dst) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (key && dst[-1] == '\0') {
            return NGX_DECLINED;
        }
    }

    if (p == j->last) {
        return NGX_DECLINED;
    }

    out->len = dst - out->data;
    j->pos = p + 1;

    return NGX_OK;
}


/* one escape, from its backslash, written out as UTF-8 */

static ngx_int_t
ngx_http_twanon_json_escape(u_char **pos, u_char *last, u_char **dst)
{
    u_char     *p, *d;
    ngx_int_t   c, low;

    p = *pos + 1;
    d = *dst;

    if (p == last) {
        return NGX_DECLINED;
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
        c = ngx_http_twanon_json_hex(p + 1, last);

        if (c < 0 || (c >= 0xdc00 && c <= 0xdfff)) {
            return NGX_DECLINED;
        }

        p += 4;

        if (c >= 0xd800 && c <= 0xdbff) {

            /* a high surrogate: a low one must follow */

            if (last - p < 7 || p[1] != '\\' || p[2] != 'u') {
                return NGX_DECLINED;
            }

            low = ngx_http_twanon_json_hex(p + 3, last);

            if (low < 0xdc00 || low > 0xdfff) {
                return NGX_DECLINED;
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
        return NGX_DECLINED;
    }

    *pos = p + 1;
    *dst = d;

    return NGX_OK;
}


/* four hex digits at "p", or -1 */

static ngx_int_t
ngx_http_twanon_json_hex(u_char *p, u_char *last)
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


/*
 * A number, checked against RFC 8259's grammar and, when it is kept,
 * written as jansson writes it.  jansson refuses a whole document for a
 * number it cannot hold (an integer outside int64_t, a real beyond a
 * double); the route only needs the members it names, so such a number
 * reads as null: ignored elsewhere, left out of a parameter, refused as
 * the identity.
 */

static ngx_int_t
ngx_http_twanon_json_number(ngx_http_twanon_json_t *j)
{
    u_char      *p, *start;
    ngx_int_t    rc;
    ngx_str_t    text;
    ngx_uint_t   real;

    start = j->pos;

    p = ngx_http_twanon_json_digits(start + (*start == '-'), j->last, 1);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    real = 0;

    if (p < j->last && *p == '.') {
        real = 1;

        p = ngx_http_twanon_json_digits(p + 1, j->last, 0);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    if (p < j->last && (*p == 'e' || *p == 'E')) {
        real = 1;

        if (++p < j->last && (*p == '+' || *p == '-')) {
            p++;
        }

        p = ngx_http_twanon_json_digits(p, j->last, 0);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    j->pos = p;

    if (!j->wanted || j->depth == 0 || j->depth > 2) {
        return NGX_OK;
    }

    text.data = start;
    text.len = p - start;

    rc = real ? ngx_http_twanon_json_real(j->pool, &text)
              : ngx_http_twanon_json_integer(&text);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    ngx_http_twanon_json_keep(j, (rc == NGX_OK) ? NGX_HTTP_TWANON_JSON_NUMBER
                                                : NGX_HTTP_TWANON_JSON_OTHER,
                              &text);

    return NGX_OK;
}


/*
 * Digits from "p": one or more, or, for an integer part, "0" alone or a
 * run that does not start with "0".  The end, or NULL.
 */

static u_char *
ngx_http_twanon_json_digits(u_char *p, u_char *last, ngx_uint_t integer)
{
    if (p == last || *p < '0' || *p > '9') {
        return NULL;
    }

    if (integer && *p == '0') {
        return p + 1;
    }

    while (p < last && *p >= '0' && *p <= '9') {
        p++;
    }

    return p;
}


/* an integer within int64_t as "%L" writes it ("-0" is "0"), or declined */

static ngx_int_t
ngx_http_twanon_json_integer(ngx_str_t *text)
{
    u_char    *p, *last;
    uint64_t   n, max;

    p = text->data;
    last = p + text->len;

    max = (uint64_t) INT64_MAX;

    if (*p == '-') {
        max++;
        p++;
    }

    for (n = 0; p < last; p++) {
        if (n > (max - (*p - '0')) / 10) {
            return NGX_DECLINED;
        }

        n = n * 10 + (*p - '0');
    }

    if (n == 0) {
        ngx_str_set(text, "0");
    }

    return NGX_OK;
}


/*
 * A real as jansson writes it: "%.17g", with ".0" added when that has
 * neither a point nor an exponent, and the exponent without "+" or
 * leading zeros.  NGX_DECLINED when the double is infinite.
 */

static ngx_int_t
ngx_http_twanon_json_real(ngx_pool_t *pool, ngx_str_t *text)
{
    int      n;
    char     buf[32];
    u_char  *s, *e, *d;
    double   value;

    s = ngx_pnalloc(pool, text->len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(s, text->data, text->len + 1);

    value = strtod((char *) s, NULL);

    if (isinf(value)) {
        return NGX_DECLINED;
    }

    n = snprintf(buf, sizeof(buf), "%.17g", value);

    if (n <= 0 || (size_t) n >= sizeof(buf) - 2) {
        return NGX_ERROR;
    }

    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }

    text->data = ngx_pnalloc(pool, n);
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    e = (u_char *) strchr(buf, 'e');

    if (e == NULL) {
        text->len = n;
        ngx_memcpy(text->data, buf, n);
        return NGX_OK;
    }

    /* "1e+100" is written "1e100", "1e-05" "1e-5" */

    e++;
    d = ngx_cpymem(text->data, buf, e - (u_char *) buf);

    if (*e == '-') {
        *d++ = *e;
    }

    if (*e == '-' || *e == '+') {
        e++;
    }

    while (*e == '0' && e[1] != '\0') {
        e++;
    }

    d = ngx_cpymem(d, e, ngx_strlen(e));
    text->len = d - text->data;

    return NGX_OK;
}
