
/*
 * Copyright (C) twanon authors
 */


/*
 * A strict JSON reader that keeps a few members of the root object, held
 * to jansson by fuzz_route.c: docs/security.md, "The resolver's reply:
 * memory and time".  The reply is valid UTF-8 already.
 */


#include <ngx_config.h>
#include <ngx_core.h>

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

    /* a bit for each wanted member the root member being read names */
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
static ngx_int_t ngx_http_twanon_json_keep(ngx_http_twanon_json_t *j,
    ngx_uint_t type, ngx_str_t *text, ngx_uint_t escaped);
static ngx_int_t ngx_http_twanon_json_string(ngx_http_twanon_json_t *j,
    ngx_str_t *raw, ngx_uint_t *escaped, ngx_uint_t key);
static ngx_int_t ngx_http_twanon_json_decode(ngx_pool_t *pool,
    ngx_str_t *raw, ngx_str_t *out);
static ngx_uint_t ngx_http_twanon_json_is(ngx_str_t *name, ngx_str_t *raw,
    ngx_uint_t escaped);
static ngx_int_t ngx_http_twanon_json_number(ngx_http_twanon_json_t *j);
static u_char *ngx_http_twanon_json_digits(u_char *p, u_char *last,
    ngx_uint_t integer);


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
 * At most NGX_HTTP_TWANON_JSON_MEMBERS names.  NGX_DECLINED, with
 * "reason" set, when the text is not JSON or its root is not an object.
 */

ngx_int_t
ngx_http_twanon_json_members(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_twanon_json_member_t *members, ngx_uint_t n,
    const char **reason)
{
    ngx_int_t                rc;
    ngx_uint_t               i, object;
    ngx_http_twanon_json_t   j;

    if (n > NGX_HTTP_TWANON_JSON_MEMBERS) {
        return NGX_ERROR;
    }

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
    ngx_uint_t  escaped;

    ngx_http_twanon_json_space(j);

    if (j->pos == j->last || j->depth == NGX_HTTP_TWANON_JSON_DEPTH) {
        return NGX_DECLINED;
    }

    c = *j->pos;

    if (c == '{' || c == '[') {
        return ngx_http_twanon_json_open(j, c);
    }

    if (c == '"') {
        rc = ngx_http_twanon_json_string(j, &text, &escaped, 0);

        if (rc == NGX_OK) {
            rc = ngx_http_twanon_json_keep(j, NGX_HTTP_TWANON_JSON_STRING,
                                           &text, escaped);
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
        rc = ngx_http_twanon_json_keep(j, NGX_HTTP_TWANON_JSON_OTHER, NULL, 0);
    }

    return (rc == NGX_OK) ? NGX_HTTP_TWANON_JSON_EXPECT_NEXT : rc;
}


/* "{" or "[", and an empty container's end */

static ngx_int_t
ngx_http_twanon_json_open(ngx_http_twanon_json_t *j, u_char c)
{
    ngx_uint_t  type;

    j->pos++;

    type = (c == '[') ? NGX_HTTP_TWANON_JSON_ARRAY : NGX_HTTP_TWANON_JSON_OTHER;

    (void) ngx_http_twanon_json_keep(j, type, NULL, 0);

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


/*
 * A member's name and its colon; in the root object, which wanted
 * members it names, compared in place, escapes and all.
 */

static ngx_int_t
ngx_http_twanon_json_key(ngx_http_twanon_json_t *j)
{
    ngx_int_t                       rc;
    ngx_str_t                       raw;
    ngx_uint_t                      i, escaped;
    ngx_http_twanon_json_member_t  *m;

    if (j->pos == j->last || *j->pos != '"') {
        return NGX_DECLINED;
    }

    rc = ngx_http_twanon_json_string(j, &raw, &escaped, 1);

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
        m = &j->members[i];

        if (!ngx_http_twanon_json_is(&m->name, &raw, escaped)) {
            continue;
        }

        j->wanted |= (ngx_uint_t) 1 << i;

        /* a name given again: jansson keeps the last value */

        m->value.type = NGX_HTTP_TWANON_JSON_NONE;
        m->nitems = 0;
    }

    return NGX_HTTP_TWANON_JSON_EXPECT_VALUE;
}


/*
 * Keeps a value just read, if it is a wanted member's (depth 1) or an
 * item of a wanted member's array (depth 2, the first items only).  A
 * string's text is "raw", decoded here once if it is kept and escaped.
 */

static ngx_int_t
ngx_http_twanon_json_keep(ngx_http_twanon_json_t *j, ngx_uint_t type,
    ngx_str_t *raw, ngx_uint_t escaped)
{
    ngx_int_t                       rc;
    ngx_uint_t                      i;
    ngx_http_twanon_json_value_t   *v;
    ngx_http_twanon_json_member_t  *m;

    if (j->wanted == 0 || j->depth == 0 || j->depth > 2) {
        return NGX_OK;
    }

    for (i = 0; i < j->nmembers; i++) {

        if (!(j->wanted & ((ngx_uint_t) 1 << i))) {
            continue;
        }

        m = &j->members[i];

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

        if (raw == NULL) {
            continue;
        }

        if (escaped) {
            rc = ngx_http_twanon_json_decode(j->pool, raw, raw);

            if (rc != NGX_OK) {
                return rc;
            }

            escaped = 0;
        }

        v->text = *raw;
    }

    return NGX_OK;
}


/*
 * A string, from its opening quote: checked, its escapes too, without
 * writing anything; "raw" is its text between the quotes, "escaped" set
 * if that holds an escape.  A key may not hold U+0000 (jansson refuses
 * it; a value may, JSON_ALLOW_NUL).
 */

static ngx_int_t
ngx_http_twanon_json_string(ngx_http_twanon_json_t *j, ngx_str_t *raw,
    ngx_uint_t *escaped, ngx_uint_t key)
{
    u_char  *p, *last, buf[4];
    size_t   n;

    p = ++j->pos;
    last = j->last;

    *escaped = 0;

    while (p < last && *p != '"') {

        if (*p != '\\') {
            if (*p < 0x20) {
                return NGX_DECLINED;
            }

            p++;
            continue;
        }

        *escaped = 1;

        n = ngx_http_twanon_utf8_unescape(&p, last, buf);

        if (n == 0 || (key && n == 1 && buf[0] == '\0')) {
            return NGX_DECLINED;
        }
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    raw->data = j->pos;
    raw->len = p - j->pos;
    j->pos = p + 1;

    return NGX_OK;
}


/*
 * A checked string's text decoded into an allocation of its own length
 * (an escape is never shorter than what it stands for).
 */

static ngx_int_t
ngx_http_twanon_json_decode(ngx_pool_t *pool, ngx_str_t *raw, ngx_str_t *out)
{
    u_char  *p, *last, *dst;
    size_t   n;

    p = raw->data;
    last = raw->data + raw->len;

    dst = ngx_pnalloc(pool, raw->len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    out->data = dst;

    while (p < last) {

        if (*p != '\\') {
            *dst++ = *p++;
            continue;
        }

        n = ngx_http_twanon_utf8_unescape(&p, last, dst);

        if (n == 0) {
            return NGX_DECLINED;
        }

        dst += n;
    }

    out->len = dst - out->data;

    return NGX_OK;
}


/*
 * Whether a checked key's text, escapes decoded, is "name": decoded a
 * character at a time, no further than the name goes.
 */

static ngx_uint_t
ngx_http_twanon_json_is(ngx_str_t *name, ngx_str_t *raw, ngx_uint_t escaped)
{
    u_char  *p, *last, *s, *end, buf[4];
    size_t   n;

    if (!escaped) {
        return name->len == raw->len
               && ngx_memcmp(name->data, raw->data, raw->len) == 0;
    }

    p = raw->data;
    last = raw->data + raw->len;
    s = name->data;
    end = name->data + name->len;

    while (p < last) {

        if (*p != '\\') {
            if (s == end || *s++ != *p++) {
                return 0;
            }

            continue;
        }

        n = ngx_http_twanon_utf8_unescape(&p, last, buf);

        if (n == 0 || (size_t) (end - s) < n || ngx_memcmp(s, buf, n) != 0) {
            return 0;
        }

        s += n;
    }

    return s == end;
}


/*
 * A number, checked against RFC 8259's grammar and kept as its text:
 * never converted, so that "19.99" stays "19.99", whatever its size.
 */

static ngx_int_t
ngx_http_twanon_json_number(ngx_http_twanon_json_t *j)
{
    u_char     *p, *start;
    ngx_str_t   text;

    start = j->pos;

    p = ngx_http_twanon_json_digits(start + (*start == '-'), j->last, 1);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    if (p < j->last && *p == '.') {
        p = ngx_http_twanon_json_digits(p + 1, j->last, 0);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    if (p < j->last && (*p == 'e' || *p == 'E')) {

        if (++p < j->last && (*p == '+' || *p == '-')) {
            p++;
        }

        p = ngx_http_twanon_json_digits(p, j->last, 0);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    j->pos = p;

    text.data = start;
    text.len = p - start;

    return ngx_http_twanon_json_keep(j, NGX_HTTP_TWANON_JSON_NUMBER, &text, 0);
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
