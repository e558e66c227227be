
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_route_parse(): the resolver's reply to a route, and
 * the route on to ngx_http_twanon_twiml_dial() as the webhook does.
 *
 * Input: one options byte (bit 0: identity field "identity", else the
 * default "appId"; bit 1: a third wanted parameter reads the identity
 * field too; bit 2: the route is written as TwiML; bit 3: the reply is
 * parsed again behind a UTF-8 byte order mark; bit 4: again with a
 * member holding a number jansson cannot hold put first, bits 5-6
 * choosing which), then the reply.
 * The wanted parameters are the default customerName and customerId;
 * the identity pattern is the default ^[A-Za-z0-9_]{1,121}$.
 *
 * Invariants: the same result, reason and route as jansson reading the
 * reply (fuzz_jansson_route.c), but for numbers: the module passes a
 * number on as its text, which must be one by RFC 8259 and read as the
 * same int64_t or double as jansson's value (strtoll(), strtod()), or,
 * where jansson cannot hold it, be an integer outside int64_t or a real
 * beyond a double; the parameter is there exactly when that text has at
 * most 128 bytes.  "invalid JSON" for a reply with a NUL byte, which
 * jansson sometimes skips; NGX_ERROR never (it means no memory);
 * NGX_DECLINED has a reason; a route has 1 to 10 identities, each 1 to
 * 121 of [A-Za-z0-9_], and at most one value per wanted parameter, each
 * at most 128 bytes of valid UTF-8; the TwiML parses back as XML; a byte
 * order mark before the reply, or a huge number in a member nobody
 * asked for, changes nothing: the same result, reason and route; the
 * parse allocates at most 4 bytes per byte of the reply plus 64 KiB.
 */


#include "fuzz_common.h"

#include <errno.h>
#include <sanitizer/allocator_interface.h>
#include <libxml/parser.h>
#include <libxml/tree.h>


static ngx_regex_t  *re;
static ngx_array_t  *wanted2, *wanted3;


static ngx_array_t *
wanted_params(ngx_uint_t n)
{
    ngx_array_t             *a;
    ngx_http_twanon_pair_t  *p;

    a = ngx_array_create(twanon_fuzz_conf_pool, 3,
                         sizeof(ngx_http_twanon_pair_t));
    twanon_fuzz_assert(a != NULL);

    p = ngx_array_push_n(a, n);
    twanon_fuzz_assert(p != NULL);

    /* as configuration leaves them: fields NUL-terminated */

    ngx_str_set(&p[0].key, "customerName");
    p[0].value = p[0].key;
    ngx_str_set(&p[1].key, "customerId");
    p[1].value = p[1].key;

    if (n == 3) {
        ngx_str_set(&p[2].key, "appId.copy");
        ngx_str_set(&p[2].value, "appId");
    }

    return a;
}


static const char  *huge[] = {
    "\"zzHuge\":123456789012345678901234567890,",
    "\"zzHuge\":-9223372036854775809,",
    "\"zzHuge\":1.5e400,",
    "\"zzHuge\":[-1E+999,{\"n\":18446744073709551616}],"
};


static void
same_route(ngx_int_t rc, const char *reason, ngx_http_twanon_route_t *route,
    ngx_int_t rc2, const char *reason2, ngx_http_twanon_route_t *route2)
{
    ngx_str_t               *a, *b;
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *pa, *pb;

    twanon_fuzz_assert(rc == rc2);

    if (rc != NGX_OK) {
        twanon_fuzz_assert(strcmp(reason, reason2) == 0);
        return;
    }

    twanon_fuzz_assert(route->identities.nelts == route2->identities.nelts);
    twanon_fuzz_assert(route->params.nelts == route2->params.nelts);

    a = route->identities.elts;
    b = route2->identities.elts;

    for (i = 0; i < route->identities.nelts; i++) {
        twanon_fuzz_assert(a[i].len == b[i].len
                           && memcmp(a[i].data, b[i].data, a[i].len) == 0);
    }

    pa = route->params.elts;
    pb = route2->params.elts;

    for (i = 0; i < route->params.nelts; i++) {
        twanon_fuzz_assert(pa[i].key.data == pb[i].key.data);
        twanon_fuzz_assert(pa[i].value.len == pb[i].value.len
                           && (pa[i].value.len == 0
                               || memcmp(pa[i].value.data, pb[i].value.data,
                                         pa[i].value.len)
                                  == 0));
    }
}


/* a JSON number by RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */

static ngx_uint_t
number_ok(u_char *p, size_t len, ngx_uint_t *integer)
{
    u_char  *last, *s;

    last = p + len;
    *integer = 1;

    if (p < last && *p == '-') {
        p++;
    }

    if (p < last && *p == '0') {
        p++;

    } else if (p < last && *p >= '1' && *p <= '9') {
        while (p < last && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return 0;
    }

    if (p < last && *p == '.') {
        *integer = 0;

        for (s = ++p; p < last && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == s) {
            return 0;
        }
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        *integer = 0;

        if (++p < last && (*p == '+' || *p == '-')) {
            p++;
        }

        for (s = p; p < last && *p >= '0' && *p <= '9'; p++) {
            /* void */
        }

        if (p == s) {
            return 0;
        }
    }

    return p == last;
}


/*
 * A number's text as the module keeps it against what jansson read for
 * the same member: the same int64_t or double, or a number jansson
 * cannot hold.
 */

static void
same_number(ngx_pool_t *pool, ngx_str_t *text, twanon_fuzz_ref_value_t *ref)
{
    char        *s, *end;
    double       d;
    long long    ll;
    ngx_uint_t   integer;

    twanon_fuzz_assert(number_ok(text->data, text->len, &integer));

    s = (char *) twanon_fuzz_copy(pool, NULL, text->len + 1);
    memcpy(s, text->data, text->len);
    s[text->len] = '\0';

    switch (ref->kind) {

    case TWANON_FUZZ_REF_INTEGER:
        twanon_fuzz_assert(integer);

        errno = 0;
        ll = strtoll(s, &end, 10);

        twanon_fuzz_assert(errno == 0 && *end == '\0'
                           && (int64_t) ll == ref->integer);
        break;

    case TWANON_FUZZ_REF_REAL:
        twanon_fuzz_assert(!integer);

        d = strtod(s, &end);

        twanon_fuzz_assert(*end == '\0'
                           && memcmp(&d, &ref->real, sizeof(double)) == 0);
        break;

    default:
        twanon_fuzz_assert(ref->kind == TWANON_FUZZ_REF_NONE);
        twanon_fuzz_assert(twanon_fuzz_json_huge(pool, text->data, text->len)
                           == NGX_OK);
    }
}


static ngx_http_twanon_pair_t *
find_param(ngx_http_twanon_route_t *route, ngx_str_t *key)
{
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *p;

    p = route->params.elts;

    for (i = 0; i < route->params.nelts; i++) {
        if (p[i].key.data == key->data) {
            return &p[i];
        }
    }

    return NULL;
}


/*
 * The module's route against jansson's: the same result, reason and
 * identities; each wanted parameter the same string, or, for a number,
 * its text (the module's JSON reader tells which) against jansson's
 * value.
 */

static void
same_as_jansson(ngx_pool_t *pool, ngx_str_t *reply, ngx_array_t *wanted,
    ngx_int_t rc, const char *reason, ngx_http_twanon_route_t *route,
    ngx_int_t rc2, const char *reason2, ngx_http_twanon_route_t *route2,
    twanon_fuzz_ref_value_t *values)
{
    ngx_str_t                       body, text, *a, *b;
    ngx_uint_t                      i;
    const char                     *why;
    ngx_http_twanon_pair_t         *want, *pa, *pb;
    ngx_http_twanon_json_member_t   members[3];

    twanon_fuzz_assert(rc == rc2);

    if (rc != NGX_OK) {
        twanon_fuzz_assert(strcmp(reason, reason2) == 0);
        return;
    }

    twanon_fuzz_assert(route->identities.nelts == route2->identities.nelts);

    a = route->identities.elts;
    b = route2->identities.elts;

    for (i = 0; i < route->identities.nelts; i++) {
        twanon_fuzz_assert(a[i].len == b[i].len
                           && memcmp(a[i].data, b[i].data, a[i].len) == 0);
    }

    /* the members' types, as ngx_http_twanon_route_parse() reads them */

    body = *reply;

    if (body.len >= 3 && memcmp(body.data, "\xef\xbb\xbf", 3) == 0) {
        body.data += 3;
        body.len -= 3;
    }

    twanon_fuzz_assert(ngx_http_twanon_utf8_fix(pool, &body, &text)
                       == NGX_OK);

    want = wanted->elts;

    for (i = 0; i < wanted->nelts; i++) {
        members[i].name = want[i].value;
    }

    why = NULL;

    twanon_fuzz_assert(ngx_http_twanon_json_members(pool, &text, members,
                                                    wanted->nelts, &why)
                       == NGX_OK);

    for (i = 0; i < wanted->nelts; i++) {
        pa = find_param(route, &want[i].key);
        pb = find_param(route2, &want[i].key);

        if (members[i].value.type == NGX_HTTP_TWANON_JSON_NUMBER) {
            same_number(pool, &members[i].value.text, &values[i]);

            if (members[i].value.text.len > NGX_HTTP_TWANON_PARAM_VALUE_MAX) {
                twanon_fuzz_assert(pa == NULL);
                continue;
            }

            twanon_fuzz_assert(pa != NULL
                               && pa->value.len == members[i].value.text.len
                               && memcmp(pa->value.data,
                                         members[i].value.text.data,
                                         pa->value.len)
                                  == 0);
            continue;
        }

        twanon_fuzz_assert(values[i].kind != TWANON_FUZZ_REF_INTEGER
                           && values[i].kind != TWANON_FUZZ_REF_REAL);

        if (pa == NULL || pb == NULL) {
            twanon_fuzz_assert(pa == NULL && pb == NULL);
            continue;
        }

        twanon_fuzz_assert(pa->value.len == pb->value.len
                           && (pa->value.len == 0
                               || memcmp(pa->value.data, pb->value.data,
                                         pa->value.len)
                                  == 0));
    }
}


/*
 * The reply behind a byte order mark (unless it has one), or with a
 * member holding a huge number put first in its object (when it starts
 * with "{" and a member); NULL when there is no such variant.
 */

static u_char *
variant(ngx_pool_t *pool, ngx_str_t *reply, ngx_uint_t opts, ngx_str_t *out)
{
    u_char      *p;
    size_t       i, n;
    const char  *member;

    if (opts & 8) {
        if (reply->len >= 3 && memcmp(reply->data, "\xef\xbb\xbf", 3) == 0) {
            return NULL;
        }

        out->len = reply->len + 3;
        out->data = twanon_fuzz_copy(pool, NULL, out->len);
        memcpy(out->data, "\xef\xbb\xbf", 3);

        if (reply->len) {
            memcpy(out->data + 3, reply->data, reply->len);
        }

        return out->data;
    }

    if (reply->len == 0 || reply->data[0] != '{') {
        return NULL;
    }

    for (i = 1; i < reply->len && (reply->data[i] == ' '
                                   || reply->data[i] == '\t'
                                   || reply->data[i] == '\n'
                                   || reply->data[i] == '\r'); i++)
    {
        /* void */
    }

    if (i == reply->len || reply->data[i] != '"') {
        return NULL;
    }

    member = huge[(opts >> 5) & 3];
    n = strlen(member);

    out->len = reply->len + n;
    out->data = twanon_fuzz_copy(pool, NULL, out->len);

    p = out->data;
    *p++ = '{';
    memcpy(p, member, n);
    memcpy(p + n, reply->data + 1, reply->len - 1);

    return out->data;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    twanon_fuzz_init();

    re = twanon_fuzz_regex("^[A-Za-z0-9_]{1,121}$");
    wanted2 = wanted_params(2);
    wanted3 = wanted_params(3);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                    before, after;
    xmlDocPtr                 doc;
    ngx_int_t                 rc, rc2;
    ngx_str_t                 reply, reply2, field, *id, twiml;
    ngx_uint_t                i, k, opts;
    ngx_pool_t               *pool;
    const char               *reason, *reason2;
    ngx_array_t              *wanted;
    twanon_fuzz_in_t          in;
    ngx_http_twanon_pair_t   *param, *want;
    ngx_http_twanon_dial_t    dial;
    ngx_http_twanon_route_t   route, route2;
    twanon_fuzz_ref_value_t   values[3];

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    opts = twanon_fuzz_byte(&in);

    if (opts & 1) {
        ngx_str_set(&field, "identity");

    } else {
        ngx_str_set(&field, "appId");
    }

    wanted = (opts & 2) ? wanted3 : wanted2;

    twanon_fuzz_rest(pool, &in, &reply);

    reason = NULL;

    before = __sanitizer_get_current_allocated_bytes();

    rc = ngx_http_twanon_route_parse(pool, &reply, &field, wanted, re,
                                     &route, &reason);

    after = __sanitizer_get_current_allocated_bytes();

    twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    /*
     * linear: a copy of the reply in invalid UTF-8 (3 bytes for 1), the
     * kept strings, and a constant (PCRE2's match data, once)
     */

    /*
     * the count is the process's, and the parse may free what an earlier
     * input left (nginx's cached PCRE2 match data): a count that fell is
     * no allocation, never a wrapped difference
     */

    twanon_fuzz_assert(after <= before || after - before
                                          <= 4 * reply.len + 65536);

    if (rc == NGX_DECLINED) {
        twanon_fuzz_assert(reason != NULL);
    }

    /*
     * jansson skips a NUL byte that ends a number or a literal (it takes
     * the byte for the end of its one-character buffer); RFC 8259 allows
     * none outside a string and none raw inside one
     */

    if (memchr(reply.data, '\0', reply.len) != NULL) {
        twanon_fuzz_assert(rc == NGX_DECLINED
                           && strcmp(reason, "invalid JSON") == 0);

    } else {
        reason2 = NULL;

        rc2 = twanon_fuzz_route_jansson(pool, &reply, &field, wanted, re,
                                        &route2, values, &reason2);

        same_as_jansson(pool, &reply, wanted, rc, reason, &route, rc2,
                        reason2, &route2, values);
    }

    if ((opts & 0x18) && variant(pool, &reply, opts, &reply2) != NULL) {
        reason2 = NULL;

        rc2 = ngx_http_twanon_route_parse(pool, &reply2, &field, wanted, re,
                                          &route2, &reason2);

        same_route(rc, reason, &route, rc2, reason2, &route2);
    }

    if (rc == NGX_DECLINED) {
        goto done;
    }

    twanon_fuzz_assert(route.identities.nelts >= 1
                       && route.identities.nelts
                          <= NGX_HTTP_TWANON_IDENTITIES_MAX);

    id = route.identities.elts;

    for (i = 0; i < route.identities.nelts; i++) {
        twanon_fuzz_assert(twanon_fuzz_identity_ok(&id[i]));
    }

    twanon_fuzz_assert(route.params.nelts <= wanted->nelts);

    param = route.params.elts;
    want = wanted->elts;

    for (i = 0; i < route.params.nelts; i++) {
        twanon_fuzz_assert(param[i].value.len
                           <= NGX_HTTP_TWANON_PARAM_VALUE_MAX);
        twanon_fuzz_assert(twanon_fuzz_utf8_valid(param[i].value.data,
                                                  param[i].value.len));

        for (k = 0; k < wanted->nelts; k++) {
            if (param[i].key.data == want[k].key.data) {
                break;
            }
        }

        twanon_fuzz_assert(k < wanted->nelts);

        for (k = 0; k < i; k++) {
            twanon_fuzz_assert(param[k].key.data != param[i].key.data);
        }
    }

    if (!(opts & 4)) {
        goto done;
    }

    ngx_memzero(&dial, sizeof(ngx_http_twanon_dial_t));

    dial.identities = &route.identities;
    dial.params = &route.params;
    dial.time_limit = 3600;
    dial.timeout = 30;
    dial.answer_on_bridge = 1;
    ngx_str_set(&dial.caller_id, "+15550100");

    rc = ngx_http_twanon_twiml_dial(pool, &dial, &twiml);
    twanon_fuzz_assert(rc == NGX_OK);

    doc = xmlReadMemory((char *) twiml.data, (int) twiml.len, NULL, NULL,
                        XML_PARSE_NONET|XML_PARSE_NOERROR
                        |XML_PARSE_NOWARNING);
    twanon_fuzz_assert(doc != NULL);
    xmlFreeDoc(doc);

done:

    twanon_fuzz_pool_done(pool);

    return 0;
}
