
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ngx_http_twanon_lib.h"


/*
 * Written straight into the pool: one pass measures, the next writes;
 * fuzz_twiml.c parses it all back with libxml2.
 */

typedef struct {
    u_char     *pos;                /* NULL: measuring */
    size_t      len;
} ngx_http_twanon_xml_t;


typedef struct {
    ngx_str_t   text;               /* what XML can carry of the string */
    size_t      len;                /* its length escaped */
    ngx_uint_t  attr;               /* escaped for an attribute value */
} ngx_http_twanon_xml_str_t;


#define NGX_HTTP_TWANON_XML_DECL                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

#define ngx_http_twanon_xml_literal(x, s)                                     \
    ngx_http_twanon_xml_raw(x, (u_char *) s, sizeof(s) - 1)

#define ngx_http_twanon_xml_attr(x, name, value)                              \
    ngx_http_twanon_xml_attr_n(x, (u_char *) name, sizeof(name) - 1, value)


static void ngx_http_twanon_twiml_params_fit(ngx_http_twanon_dial_t *dial,
    ngx_http_twanon_xml_str_t *param, ngx_uint_t n);
static void ngx_http_twanon_twiml_dial_write(ngx_http_twanon_xml_t *x,
    ngx_http_twanon_dial_t *dial, ngx_http_twanon_xml_str_t *s,
    ngx_str_t *numbers);
static void ngx_http_twanon_twiml_say_write(ngx_http_twanon_xml_t *x,
    ngx_str_t *language, ngx_str_t *voice, ngx_http_twanon_xml_str_t *s);
static ngx_int_t ngx_http_twanon_xml_prepare(ngx_pool_t *pool,
    ngx_str_t *in, ngx_uint_t attr, ngx_http_twanon_xml_str_t *out);
static ngx_int_t ngx_http_twanon_xml_string(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);
static void ngx_http_twanon_xml_raw(ngx_http_twanon_xml_t *x, u_char *s,
    size_t len);
static void ngx_http_twanon_xml_number(ngx_str_t *out, ngx_uint_t n);
static void ngx_http_twanon_xml_put(ngx_http_twanon_xml_t *x,
    ngx_http_twanon_xml_str_t *s);
static void ngx_http_twanon_xml_attr_n(ngx_http_twanon_xml_t *x,
    u_char *name, size_t len, ngx_http_twanon_xml_str_t *value);
static void ngx_http_twanon_xml_escape(ngx_http_twanon_xml_t *x,
    ngx_str_t *s, ngx_uint_t attr);
static void ngx_http_twanon_xml_cleanup(void *data);


/* one <Client> per identity, each with the same parameters */

ngx_int_t
ngx_http_twanon_twiml_dial(ngx_pool_t *pool, ngx_http_twanon_dial_t *dial,
    ngx_str_t *out)
{
    ngx_str_t                  *id, numbers[2];
    ngx_uint_t                  i, k, nids, nparams;
    ngx_http_twanon_xml_t       x;
    ngx_http_twanon_pair_t     *p;
    ngx_http_twanon_xml_str_t  *s;
    u_char                      buf[2 * NGX_INT_T_LEN];

    /* a dial to a number rings no browser, with no parameter */

    nids = dial->number.len ? 0 : dial->identities->nelts;
    nparams = dial->number.len ? 0 : dial->params->nelts;

    /* callerId, action, number, identities, parameters */

    s = ngx_palloc(pool, (3 + nids + 2 * nparams)
                         * sizeof(ngx_http_twanon_xml_str_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_twanon_xml_prepare(pool, &dial->caller_id, 1, &s[0])
        != NGX_OK
        || ngx_http_twanon_xml_prepare(pool, &dial->action, 1, &s[1])
           != NGX_OK
        || ngx_http_twanon_xml_prepare(pool, &dial->number, 0, &s[2])
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    k = 3;
    id = nids ? dial->identities->elts : NULL;

    for (i = 0; i < nids; i++) {
        if (ngx_http_twanon_xml_prepare(pool, &id[i], 0, &s[k++]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    p = nparams ? dial->params->elts : NULL;

    for (i = 0; i < nparams; i++) {
        if (ngx_http_twanon_xml_prepare(pool, &p[i].key, 1, &s[k++])
            != NGX_OK
            || ngx_http_twanon_xml_prepare(pool, &p[i].value, 1, &s[k++])
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    dial->params_cut = 0;

    if (dial->params_max) {
        ngx_http_twanon_twiml_params_fit(dial, &s[3 + nids], nparams);
    }

    numbers[0].data = buf;
    ngx_http_twanon_xml_number(&numbers[0], dial->time_limit);

    numbers[1].data = buf + NGX_INT_T_LEN;
    ngx_http_twanon_xml_number(&numbers[1], dial->timeout);

    x.pos = NULL;
    x.len = 0;

    ngx_http_twanon_twiml_dial_write(&x, dial, s, numbers);

    out->data = ngx_pnalloc(pool, x.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    x.pos = out->data;
    x.len = 0;

    ngx_http_twanon_twiml_dial_write(&x, dial, s, numbers);

    out->len = x.len;

    return NGX_OK;
}


/*
 * Twilio's budget for the <Parameter>s of a <Client>: the bytes of each
 * name and value as the XML carries them (docs/webhook.md, "Twilio's
 * parameter limits").  Over it, values past the kept ones are cut to the
 * largest common length that fits, each at a character boundary.
 */

static void
ngx_http_twanon_twiml_params_fit(ngx_http_twanon_dial_t *dial,
    ngx_http_twanon_xml_str_t *param, ngx_uint_t n)
{
    size_t                  total, fixed, budget, lo, hi, mid, sum;
    ngx_str_t              *v;
    ngx_uint_t              i;
    ngx_http_twanon_xml_t   x;

    total = 0;

    for (i = 0; i < 2 * n; i++) {
        total += param[i].text.len;
    }

    if (total <= dial->params_max) {
        return;
    }

    fixed = 0;
    hi = 0;

    for (i = 0; i < n; i++) {
        fixed += param[2 * i].text.len;
        v = &param[2 * i + 1].text;

        if (i < dial->params_kept) {
            fixed += v->len;

        } else if (v->len > hi) {
            hi = v->len;
        }
    }

    budget = (fixed < dial->params_max) ? dial->params_max - fixed : 0;

    /* the largest length "lo" with the values cut to it within budget */

    lo = 0;

    while (lo < hi) {
        mid = lo + (hi - lo + 1) / 2;
        sum = 0;

        for (i = dial->params_kept; i < n; i++) {
            sum += ngx_min(param[2 * i + 1].text.len, mid);
        }

        if (sum <= budget) {
            lo = mid;

        } else {
            hi = mid - 1;
        }
    }

    for (i = dial->params_kept; i < n; i++) {
        v = &param[2 * i + 1].text;

        if (v->len <= lo) {
            continue;
        }

        /* the text is valid UTF-8 by now */

        v->len = ngx_http_twanon_utf8_cut(v->data, lo);

        x.pos = NULL;
        x.len = 0;

        ngx_http_twanon_xml_escape(&x, v, 1);

        param[2 * i + 1].len = x.len;

        if (i < 8 * sizeof(ngx_uint_t)) {
            dial->params_cut |= (ngx_uint_t) 1 << i;
        }
    }
}


/* numbers: timeLimit and timeout */

static void
ngx_http_twanon_twiml_dial_write(ngx_http_twanon_xml_t *x,
    ngx_http_twanon_dial_t *dial, ngx_http_twanon_xml_str_t *s,
    ngx_str_t *numbers)
{
    ngx_uint_t                  i, k;
    ngx_http_twanon_xml_str_t  *id, *param;

    ngx_http_twanon_xml_literal(x, NGX_HTTP_TWANON_XML_DECL
                                   "<Response><Dial answerOnBridge=\"");

    if (dial->answer_on_bridge) {
        ngx_http_twanon_xml_literal(x, "true");

    } else {
        ngx_http_twanon_xml_literal(x, "false");
    }

    ngx_http_twanon_xml_literal(x, "\" timeLimit=\"");
    ngx_http_twanon_xml_raw(x, numbers[0].data, numbers[0].len);
    ngx_http_twanon_xml_literal(x, "\" timeout=\"");
    ngx_http_twanon_xml_raw(x, numbers[1].data, numbers[1].len);
    ngx_http_twanon_xml_literal(x, "\"");

    if (dial->caller_id.len) {
        ngx_http_twanon_xml_attr(x, " callerId=\"", &s[0]);
    }

    if (dial->action.len) {
        ngx_http_twanon_xml_attr(x, " action=\"", &s[1]);
    }

    ngx_http_twanon_xml_literal(x, ">");

    if (dial->number.len) {
        ngx_http_twanon_xml_literal(x, "<Number>");
        ngx_http_twanon_xml_put(x, &s[2]);
        ngx_http_twanon_xml_literal(x, "</Number></Dial></Response>\n");
        return;
    }

    id = &s[3];
    param = &s[3 + dial->identities->nelts];

    for (i = 0; i < dial->identities->nelts; i++) {
        ngx_http_twanon_xml_literal(x, "<Client><Identity>");
        ngx_http_twanon_xml_put(x, &id[i]);
        ngx_http_twanon_xml_literal(x, "</Identity>");

        for (k = 0; k < 2 * dial->params->nelts; k += 2) {
            ngx_http_twanon_xml_attr(x, "<Parameter name=\"", &param[k]);
            ngx_http_twanon_xml_attr(x, " value=\"", &param[k + 1]);
            ngx_http_twanon_xml_literal(x, "/>");
        }

        ngx_http_twanon_xml_literal(x, "</Client>");
    }

    ngx_http_twanon_xml_literal(x, "</Dial></Response>\n");
}


/* <Response><Say language="..." voice="...">text</Say></Response> */

ngx_int_t
ngx_http_twanon_twiml_say(ngx_pool_t *pool, ngx_str_t *language,
    ngx_str_t *voice, ngx_str_t *text, ngx_str_t *out)
{
    ngx_http_twanon_xml_t      x;
    ngx_http_twanon_xml_str_t  s[3];

    if (ngx_http_twanon_xml_prepare(pool, language, 1, &s[0]) != NGX_OK
        || ngx_http_twanon_xml_prepare(pool, voice, 1, &s[1]) != NGX_OK
        || ngx_http_twanon_xml_prepare(pool, text, 0, &s[2]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    x.pos = NULL;
    x.len = 0;

    ngx_http_twanon_twiml_say_write(&x, language, voice, s);

    out->data = ngx_pnalloc(pool, x.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    x.pos = out->data;
    x.len = 0;

    ngx_http_twanon_twiml_say_write(&x, language, voice, s);

    out->len = x.len;

    return NGX_OK;
}


/* an attribute given is written even if nothing of it is left for XML */

static void
ngx_http_twanon_twiml_say_write(ngx_http_twanon_xml_t *x,
    ngx_str_t *language, ngx_str_t *voice, ngx_http_twanon_xml_str_t *s)
{
    ngx_http_twanon_xml_literal(x, NGX_HTTP_TWANON_XML_DECL
                                   "<Response><Say");

    if (language->len) {
        ngx_http_twanon_xml_attr(x, " language=\"", &s[0]);
    }

    if (voice->len) {
        ngx_http_twanon_xml_attr(x, " voice=\"", &s[1]);
    }

    ngx_http_twanon_xml_literal(x, ">");
    ngx_http_twanon_xml_put(x, &s[2]);
    ngx_http_twanon_xml_literal(x, "</Say></Response>\n");
}


/*
 * A whole TwiML document given by the user: well-formed XML whose root
 * element is <Response>.  NGX_DECLINED with "reason" set otherwise.
 */

ngx_int_t
ngx_http_twanon_twiml_check(ngx_pool_t *pool, ngx_str_t *text,
    const char **reason)
{
    xmlDocPtr            doc;
    xmlNodePtr           root;
    ngx_pool_cleanup_t  *cln;

    if (text->len > INT_MAX) {
        *reason = "is too large";
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    doc = xmlReadMemory((char *) text->data, (int) text->len, NULL, NULL,
                        XML_PARSE_NONET|XML_PARSE_NOERROR
                        |XML_PARSE_NOWARNING);
    if (doc == NULL) {
        *reason = "is not well-formed XML";
        return NGX_DECLINED;
    }

    cln->handler = ngx_http_twanon_xml_cleanup;
    cln->data = doc;

    root = xmlDocGetRootElement(doc);

    if (root == NULL || root->ns != NULL
        || xmlStrcmp(root->name, BAD_CAST "Response") != 0)
    {
        *reason = "has no <Response> root element";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* printable ASCII without markup is used as it is; the rest is escaped */

static ngx_int_t
ngx_http_twanon_xml_prepare(ngx_pool_t *pool, ngx_str_t *in,
    ngx_uint_t attr, ngx_http_twanon_xml_str_t *out)
{
    u_char                 *p, *last;
    ngx_http_twanon_xml_t   x;

    /* printable ASCII but for the quote, "&", "<" and ">" */

    static u_char  plain[256] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x00 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x10 */
        1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x20 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1,  /* 0x30 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x40 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x50 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  /* 0x60 */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,  /* 0x70 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x80 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0x90 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xa0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xb0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xc0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xd0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* 0xe0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0   /* 0xf0 */
    };

    out->attr = attr;

    if (in->len == 0) {
        /* an unset string has no data pointer to offset */
        out->text = *in;
        out->len = 0;
        return NGX_OK;
    }

    p = in->data;
    last = in->data + in->len;

    while (p < last && plain[*p]) {
        p++;
    }

    if (p == last) {
        out->text = *in;
        out->len = in->len;
        return NGX_OK;
    }

    if (ngx_http_twanon_xml_string(pool, in, &out->text) != NGX_OK) {
        return NGX_ERROR;
    }

    x.pos = NULL;
    x.len = 0;

    ngx_http_twanon_xml_escape(&x, &out->text, attr);

    out->len = x.len;

    return NGX_OK;
}


/*
 * What XML 1.0 can carry of a string: #x9 | #xA | #xD | [#x20-#xD7FF] |
 * [#xE000-#xFFFD] | [#x10000-#x10FFFF].  Invalid UTF-8 becomes U+FFFD,
 * other characters are dropped; printable ASCII is used as it is.
 */

static ngx_int_t
ngx_http_twanon_xml_string(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char     *p, *last, *start, *dst;
    uint32_t    cp;
    ngx_str_t   text;

    if (in->len == 0) {
        /* an unset string has no data pointer to offset */
        *out = *in;
        return NGX_OK;
    }

    p = in->data;
    last = in->data + in->len;

    while (p < last
           && ((*p >= 0x20 && *p < 0x7f)
               || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    if (p == last) {
        *out = *in;
        return NGX_OK;
    }

    if (ngx_http_twanon_utf8_fix(pool, in, &text) != NGX_OK) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, text.len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = out->data;
    p = text.data;
    last = text.data + text.len;

    while (p < last) {
        start = p;

        /* the text is valid UTF-8 now: only forbidden characters go */

        cp = ngx_http_twanon_utf8_next(&p, last);

        if (cp < 0x20 && cp != 0x09 && cp != 0x0a && cp != 0x0d) {
            continue;
        }

        if (cp == 0xfffe || cp == 0xffff) {
            continue;
        }

        dst = ngx_cpymem(dst, start, p - start);
    }

    out->len = dst - out->data;

    return NGX_OK;
}


static void
ngx_http_twanon_xml_raw(ngx_http_twanon_xml_t *x, u_char *s, size_t len)
{
    if (x->pos) {
        x->pos = ngx_cpymem(x->pos, s, len);
    }

    x->len += len;
}


static void
ngx_http_twanon_xml_number(ngx_str_t *out, ngx_uint_t n)
{
    u_char  *p, *last;

    /* digits are written from the end, then moved to the start */

    last = out->data + NGX_INT_T_LEN;
    p = last;

    do {
        *--p = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    out->len = last - p;
    ngx_memmove(out->data, p, out->len);
}


static void
ngx_http_twanon_xml_put(ngx_http_twanon_xml_t *x,
    ngx_http_twanon_xml_str_t *s)
{
    if (x->pos == NULL || s->len == s->text.len) {

        /* measuring, or nothing to escape */

        ngx_http_twanon_xml_raw(x, s->text.data, s->len);
        return;
    }

    ngx_http_twanon_xml_escape(x, &s->text, s->attr);
}


/* name is written as given: ' name="' */

static void
ngx_http_twanon_xml_attr_n(ngx_http_twanon_xml_t *x, u_char *name,
    size_t len, ngx_http_twanon_xml_str_t *value)
{
    ngx_http_twanon_xml_raw(x, name, len);
    ngx_http_twanon_xml_put(x, value);
    ngx_http_twanon_xml_literal(x, "\"");
}


/*
 * Escapes as libxml2 does: markup characters always; in attribute
 * values also the quote, and tab, LF and CR as character references,
 * which attribute-value normalization would otherwise turn into spaces.
 */

static void
ngx_http_twanon_xml_escape(ngx_http_twanon_xml_t *x, ngx_str_t *s,
    ngx_uint_t attr)
{
    u_char  *p, *last, *plain;

    p = s->data;
    last = s->data + s->len;
    plain = p;

    for ( /* void */ ; p < last; p++) {

        switch (*p) {

        case '<':
        case '>':
        case '&':
        case '\r':
            break;

        case '"':
        case '\t':
        case '\n':
            if (attr) {
                break;
            }

            continue;

        default:
            continue;
        }

        ngx_http_twanon_xml_raw(x, plain, p - plain);
        plain = p + 1;

        switch (*p) {

        case '<':
            ngx_http_twanon_xml_literal(x, "&lt;");
            break;

        case '>':
            ngx_http_twanon_xml_literal(x, "&gt;");
            break;

        case '&':
            ngx_http_twanon_xml_literal(x, "&amp;");
            break;

        case '"':
            ngx_http_twanon_xml_literal(x, "&quot;");
            break;

        case '\t':
            ngx_http_twanon_xml_literal(x, "&#9;");
            break;

        case '\n':
            ngx_http_twanon_xml_literal(x, "&#10;");
            break;

        default: /* '\r' */
            ngx_http_twanon_xml_literal(x, "&#13;");
            break;
        }
    }

    ngx_http_twanon_xml_raw(x, plain, p - plain);
}


static void
ngx_http_twanon_xml_cleanup(void *data)
{
    xmlFreeDoc(data);
}
