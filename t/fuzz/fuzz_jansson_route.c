
/*
 * Copyright (C) twanon authors
 */


/*
 * The reference for fuzz_route.c: the resolver's reply read into a route
 * with jansson (json_loadb(), JSON_ALLOW_NUL), as the module did before
 * it had a reader of its own.  The module's ngx_http_twanon_route_parse()
 * must give the same result, reason and route for every input, but for
 * numbers, which the module passes on as their text: for each wanted
 * parameter, "values" says what jansson read, for fuzz_route.c to hold
 * the module's text to.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <math.h>
#include <jansson.h>

#include "fuzz_common.h"


static ngx_int_t ref_route_root(ngx_pool_t *pool,
    ngx_str_t *reply, json_t **root, const char **reason);
static ngx_int_t ref_route_params(ngx_pool_t *pool, json_t *root,
    ngx_array_t *wanted, ngx_array_t *params,
    twanon_fuzz_ref_value_t *values);
static ngx_int_t ref_route_load(ngx_pool_t *pool, ngx_str_t *text,
    json_t **root);
static void ref_json_cleanup(void *data);
static ngx_int_t ref_route_identity(ngx_pool_t *pool,
    json_t *value, ngx_regex_t *re, ngx_array_t *identities);
static ngx_int_t ref_route_value(ngx_pool_t *pool,
    json_t *value, ngx_str_t *out, twanon_fuzz_ref_value_t *ref);


ngx_int_t
twanon_fuzz_route_jansson(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *identity_field, ngx_array_t *wanted, ngx_regex_t *re,
    ngx_http_twanon_route_t *route, twanon_fuzz_ref_value_t *values,
    const char **reason)
{
    u_char      *name;
    json_t      *root, *value;
    ngx_int_t    rc;
    ngx_uint_t   i;

    for (i = 0; i < wanted->nelts; i++) {
        values[i].kind = TWANON_FUZZ_REF_NONE;
    }

    if (ngx_array_init(&route->identities, pool, 1, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&route->params, pool, wanted->nelts ? wanted->nelts
                                                              : 1,
                          sizeof(ngx_http_twanon_pair_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ref_route_root(pool, reply, &root, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    name = ngx_pnalloc(pool, identity_field->len + 1);
    if (name == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(name, identity_field->data, identity_field->len + 1);

    value = json_object_get(root, (char *) name);

    if (value == NULL) {
        *reason = "no identity";
        return NGX_DECLINED;
    }

    rc = ref_route_identity(pool, value, re, &route->identities);

    if (rc == NGX_DECLINED) {
        *reason = "invalid identity";
    }

    if (rc != NGX_OK) {
        return rc;
    }

    return ref_route_params(pool, root, wanted, &route->params, values);
}


/*
 * The reply as a JSON object in "root", freed with "pool": without a
 * byte order mark, its invalid UTF-8 repaired.  NGX_DECLINED, with
 * "reason" set, when it is empty, not JSON or not an object.
 */

static ngx_int_t
ref_route_root(ngx_pool_t *pool, ngx_str_t *reply, json_t **root,
    const char **reason)
{
    ngx_int_t            rc;
    ngx_str_t            body, text;
    ngx_pool_cleanup_t  *cln;

    /* a UTF-8 byte order mark, which some JSON writers put first */

    body = *reply;

    if (body.len >= 3 && ngx_memcmp(body.data, "\xef\xbb\xbf", 3) == 0) {
        body.data += 3;
        body.len -= 3;
    }

    if (body.len == 0) {
        *reason = "empty reply";
        return NGX_DECLINED;
    }

    /* jansson refuses invalid UTF-8; a stray byte must not lose a call */

    if (ngx_http_twanon_utf8_fix(pool, &body, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    rc = ref_route_load(pool, &text, root);

    if (rc == NGX_DECLINED) {
        *reason = "invalid JSON";
    }

    if (rc != NGX_OK) {
        return rc;
    }

    cln->handler = ref_json_cleanup;
    cln->data = *root;

    if (!json_is_object(*root)) {
        *reason = "not a JSON object";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the allowlisted parameters the reply has, in the order of "wanted" */

static ngx_int_t
ref_route_params(ngx_pool_t *pool, json_t *root,
    ngx_array_t *wanted, ngx_array_t *params,
    twanon_fuzz_ref_value_t *values)
{
    json_t                  *value;
    ngx_int_t                rc;
    ngx_str_t                text;
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *want, *param;

    want = wanted->elts;

    for (i = 0; i < wanted->nelts; i++) {

        /* fields are NUL-terminated at configuration time */

        value = json_object_get(root, (char *) want[i].value.data);
        if (value == NULL) {
            continue;
        }

        rc = ref_route_value(pool, value, &text, &values[i]);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            continue;
        }

        param = ngx_array_push(params);
        if (param == NULL) {
            return NGX_ERROR;
        }

        param->key = want[i].key;
        param->value = text;
    }

    return NGX_OK;
}


/*
 * The reply as jansson reads it into "root"; NGX_DECLINED if it is not
 * JSON.  jansson refuses a whole document for one number it cannot hold
 * (an integer beyond 64 bits, a real beyond a double), wherever it is.
 * Only the listed members matter here, so such a number counts as null:
 * ignored in any other member, left out of a parameter, refused as the
 * identity.  Not JSON_DECODE_INT_AS_REAL: that would write each integer
 * parameter as a real, and lose the digits of one above 2^53.  The common
 * reply is parsed once; only a refused one is scanned, and parsed again
 * if it had such a number.
 */

static ngx_int_t
ref_route_load(ngx_pool_t *pool, ngx_str_t *text, json_t **root)
{
    u_char        *p, *last, *copy, *start;
    size_t         len;
    json_error_t   error;

    *root = json_loadb((char *) text->data, text->len, JSON_ALLOW_NUL,
                       &error);

    if (*root != NULL) {
        return NGX_OK;
    }

    copy = NULL;
    p = text->data;
    last = text->data + text->len;

    while (p < last) {

        if (*p == '"') {

            /* a string: to its closing quote, over escaped characters */

            for (p++; p < last && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < last) {
                    p++;
                }
            }

            if (p < last) {
                p++;
            }

            continue;
        }

        if (*p != '-' && (*p < '0' || *p > '9')) {
            p++;
            continue;
        }

        /* a number, outside strings: jansson's token, [-+.0-9eE]+ */

        start = p;

        while (p < last
               && ((*p >= '0' && *p <= '9')
                   || *p == '-' || *p == '+' || *p == '.'
                   || *p == 'e' || *p == 'E'))
        {
            p++;
        }

        len = p - start;

        switch (twanon_fuzz_json_huge(pool, start, len)) {

        case NGX_ERROR:
            return NGX_ERROR;

        case NGX_OK:
            if (copy == NULL) {
                copy = ngx_pnalloc(pool, text->len);
                if (copy == NULL) {
                    return NGX_ERROR;
                }

                ngx_memcpy(copy, text->data, text->len);
            }

            /* "null" and spaces in its place: such a number has 5 bytes */

            start = copy + (start - text->data);
            ngx_memcpy(start, "null", 4);
            ngx_memset(start + 4, ' ', len - 4);
            break;

        default: /* NGX_DECLINED */
            break;
        }
    }

    if (copy == NULL) {
        return NGX_DECLINED;
    }

    *root = json_loadb((char *) copy, text->len, JSON_ALLOW_NUL, &error);

    return (*root != NULL) ? NGX_OK : NGX_DECLINED;
}


/*
 * NGX_OK when "p" is a JSON number, as RFC 8259 writes one, that jansson
 * refuses: an integer outside int64_t, or a number whose double is
 * infinite; NGX_DECLINED otherwise (a number it reads, or not a number).
 */

ngx_int_t
twanon_fuzz_json_huge(ngx_pool_t *pool, u_char *p, size_t len)
{
    u_char      *q, *last, *digits, *s;
    size_t       n;
    const char  *max;
    ngx_uint_t   integer;

    last = p + len;
    q = p;

    if (q < last && *q == '-') {
        q++;
    }

    digits = q;

    if (q < last && *q == '0') {
        q++;

    } else if (q < last && *q >= '1' && *q <= '9') {
        while (q < last && *q >= '0' && *q <= '9') {
            q++;
        }

    } else {
        return NGX_DECLINED;
    }

    n = q - digits;
    integer = (q == last);

    if (q < last && *q == '.') {
        for (s = ++q; q < last && *q >= '0' && *q <= '9'; q++) {
            /* void */
        }

        if (q == s) {
            return NGX_DECLINED;
        }
    }

    if (q < last && (*q == 'e' || *q == 'E')) {
        q++;

        if (q < last && (*q == '+' || *q == '-')) {
            q++;
        }

        for (s = q; q < last && *q >= '0' && *q <= '9'; q++) {
            /* void */
        }

        if (q == s) {
            return NGX_DECLINED;
        }
    }

    if (q != last) {
        return NGX_DECLINED;
    }

    if (integer) {

        /* beyond 9223372036854775807, or -9223372036854775808 */

        if (n < 19) {
            return NGX_DECLINED;
        }

        if (n > 19) {
            return NGX_OK;
        }

        max = (*p == '-') ? "9223372036854775808" : "9223372036854775807";

        return (ngx_memcmp(digits, max, 19) > 0) ? NGX_OK : NGX_DECLINED;
    }

    s = ngx_pnalloc(pool, len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(s, p, len + 1);

    return isinf(strtod((char *) s, NULL)) ? NGX_OK : NGX_DECLINED;
}


/* a string, or an array of 1 to 10 strings; each must pass the check */

static ngx_int_t
ref_route_identity(ngx_pool_t *pool, json_t *value,
    ngx_regex_t *re, ngx_array_t *identities)
{
    json_t      *item;
    size_t       i, n;
    ngx_str_t   *id;

    if (json_is_string(value)) {
        n = 1;

    } else if (json_is_array(value)) {
        n = json_array_size(value);

        if (n == 0 || n > NGX_HTTP_TWANON_IDENTITIES_MAX) {
            return NGX_DECLINED;
        }

    } else {
        return NGX_DECLINED;
    }

    for (i = 0; i < n; i++) {

        item = json_is_string(value) ? value : json_array_get(value, i);

        if (!json_is_string(item)) {
            return NGX_DECLINED;
        }

        id = ngx_array_push(identities);
        if (id == NULL) {
            return NGX_ERROR;
        }

        id->len = json_string_length(item);
        id->data = ngx_pnalloc(pool, id->len ? id->len : 1);
        if (id->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(id->data, json_string_value(item), id->len);

        if (ngx_http_twanon_identity_valid(re, id) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * Strings and numbers become parameter values, cut to Twilio's limit at
 * a character boundary; other types are skipped (NGX_DECLINED).
 */

static ngx_int_t
ref_route_value(ngx_pool_t *pool, json_t *value, ngx_str_t *out,
    twanon_fuzz_ref_value_t *ref)
{
    char     *dump;
    u_char   *p;
    size_t    len;
    int64_t   i;

    if (json_is_string(value)) {
        ref->kind = TWANON_FUZZ_REF_STRING;
        out->len = json_string_length(value);
        out->data = (u_char *) json_string_value(value);

    } else if (json_is_integer(value)) {
        ref->kind = TWANON_FUZZ_REF_INTEGER;
        ref->integer = (int64_t) json_integer_value(value);

        out->data = ngx_pnalloc(pool, NGX_INT64_LEN);
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        /*
         * The magnitude as unsigned: "%L" negates a negative value as
         * int64_t, which overflows for the smallest one.
         */

        i = (int64_t) json_integer_value(value);
        p = out->data;

        if (i < 0) {
            *p++ = '-';
        }

        p = ngx_sprintf(p, "%uL", i < 0 ? 0 - (uint64_t) i : (uint64_t) i);

        out->len = p - out->data;

        return NGX_OK;

    } else if (json_is_real(value)) {
        ref->kind = TWANON_FUZZ_REF_REAL;
        ref->real = json_real_value(value);

        dump = json_dumps(value, JSON_ENCODE_ANY);
        if (dump == NULL) {
            return NGX_ERROR;
        }

        len = ngx_strlen(dump);

        out->data = ngx_pnalloc(pool, len);
        if (out->data == NULL) {
            free(dump);
            return NGX_ERROR;
        }

        out->len = len;
        ngx_memcpy(out->data, dump, len);
        free(dump);

    } else {
        return NGX_DECLINED;
    }

    if (out->len > NGX_HTTP_TWANON_PARAM_VALUE_MAX) {
        out->len = ngx_http_twanon_utf8_cut(out->data,
                                            NGX_HTTP_TWANON_PARAM_VALUE_MAX);
    }

    /* the string belongs to the JSON tree: keep a copy of our own */

    len = out->len;
    dump = (char *) out->data;

    out->data = ngx_pnalloc(pool, len ? len : 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, dump, len);

    return NGX_OK;
}


static void
ref_json_cleanup(void *data)
{
    json_decref(data);
}
