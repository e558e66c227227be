
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_twiml_dial(), ngx_http_twanon_twiml_say() and
 * ngx_http_twanon_twiml_check().
 *
 * Input: options (o1 bit 0: answerOnBridge, bits 1-4: 0 to 10
 * identities, bit 5: the first parameter kept whole; o2 bits 0-3: 0 to 8
 * parameters, bits 4-7: a budget of 50 bytes each, or none), 8 bytes of
 * timeLimit
 * and 8 of timeout, then fields: callerId, action, the identities, the
 * parameters as name, value, ..., the <Say> language, voice and text;
 * the rest is a document for twiml_check().
 *
 * Invariants: both writers' output is well-formed XML (parsed back
 * with libxml2) that twiml_check() accepts, and holds every string as
 * given less what XML 1.0 cannot carry: invalid UTF-8 as U+FFFD,
 * control characters other than tab, LF and CR and U+FFFE, U+FFFF
 * dropped (a filter written here); the structure is <Response><Dial>
 * with one <Client><Identity/><Parameter/>...</Client> per identity.
 * Under a budget, the names and values of one <Client>'s parameters,
 * parsed back, take no more bytes than it, unless the names and the kept
 * value alone do, and then every other value is empty; a kept value is
 * whole, and a value cut is a shorter prefix of its own, flagged as cut.
 */


#include "fuzz_common.h"

#include <libxml/parser.h>
#include <libxml/tree.h>


#define PARSE_OPTS  (XML_PARSE_NONET|XML_PARSE_NOERROR|XML_PARSE_NOWARNING)


/* what must come back of s: a NUL-terminated malloc()ed string */

static u_char *
filtered(ngx_str_t *s)
{
    u_char    *out, *dst;
    size_t     i, n;
    uint32_t   cp;

    out = malloc(s->len * 3 + 1);
    twanon_fuzz_assert(out != NULL);

    dst = out;

    for (i = 0; i < s->len; i += n) {
        n = twanon_fuzz_utf8_decode(s->data + i, s->len - i, &cp);

        if (n == 0) {
            *dst++ = 0xef; *dst++ = 0xbf; *dst++ = 0xbd;
            n = 1;
            continue;
        }

        if ((cp < 0x20 && cp != 0x09 && cp != 0x0a && cp != 0x0d)
            || cp == 0xfffe || cp == 0xffff)
        {
            continue;
        }

        dst = ngx_cpymem(dst, s->data + i, n);
    }

    *dst = '\0';

    return out;
}


static void
expect_eq(xmlChar *got, ngx_str_t *given)
{
    u_char  *want;

    want = filtered(given);

    if (got == NULL || strcmp((char *) got, (char *) want) != 0) {
        fprintf(stderr, "twanon fuzz: expected \"%s\", got \"%s\"\n",
                want, got ? (char *) got : "(none)");
        abort();
    }

    free(want);
}


static void
expect_prop(xmlNodePtr node, const char *name, ngx_str_t *given)
{
    xmlChar  *v;

    v = xmlGetProp(node, BAD_CAST name);
    expect_eq(v, given);
    xmlFree(v);
}


static void
expect_content(xmlNodePtr node, ngx_str_t *given)
{
    xmlChar  *v;

    v = xmlNodeGetContent(node);
    expect_eq(v, given);
    xmlFree(v);
}


/* a value under the budget: whole, or cut to a prefix; its length */

static size_t
expect_value(xmlNodePtr node, ngx_str_t *given, ngx_uint_t cut)
{
    size_t    len;
    u_char   *want;
    xmlChar  *v;

    v = xmlGetProp(node, BAD_CAST "value");
    twanon_fuzz_assert(v != NULL);

    want = filtered(given);
    len = strlen((char *) v);

    if (cut) {
        twanon_fuzz_assert(len < strlen((char *) want)
                           && ngx_strncmp(v, want, len) == 0);

    } else {
        expect_eq(v, given);
    }

    free(want);
    xmlFree(v);

    return len;
}


static size_t
prop_len(xmlNodePtr node, const char *name)
{
    size_t    len;
    xmlChar  *v;

    v = xmlGetProp(node, BAD_CAST name);
    twanon_fuzz_assert(v != NULL);

    len = strlen((char *) v);
    xmlFree(v);

    return len;
}


static xmlNodePtr
next_element(xmlNodePtr node)
{
    while (node && node->type != XML_ELEMENT_NODE) {
        node = node->next;
    }

    return node;
}


static xmlNodePtr
element(xmlNodePtr node, const char *name)
{
    node = next_element(node);

    twanon_fuzz_assert(node != NULL);
    twanon_fuzz_assert(xmlStrcmp(node->name, BAD_CAST name) == 0);

    return node;
}


static xmlDocPtr
parse(ngx_str_t *xml)
{
    xmlDocPtr  doc;

    twanon_fuzz_assert(xml->len > 0 && xml->len < INT_MAX);

    doc = xmlReadMemory((char *) xml->data, (int) xml->len, NULL, NULL,
                        PARSE_OPTS);

    if (doc == NULL) {
        fprintf(stderr, "twanon fuzz: not well-formed: \"%.*s\"\n",
                (int) xml->len, xml->data);
        abort();
    }

    return doc;
}


static uint64_t
u64(twanon_fuzz_in_t *in)
{
    ngx_uint_t  i;
    uint64_t    v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = v << 8 | twanon_fuzz_byte(in);
    }

    return v;
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
    char                     num[32];
    xmlChar                 *v;
    xmlDocPtr                doc;
    xmlNodePtr               root, dial_node, client, node;
    size_t                   total, fixed;
    ngx_int_t                rc;
    ngx_str_t               *id, language, voice, text, check, out;
    ngx_uint_t               o1, o2, i, k, nids, nparams;
    ngx_pool_t              *pool;
    const char              *reason;
    ngx_array_t              ids, params;
    twanon_fuzz_in_t         in;
    ngx_http_twanon_pair_t  *param;
    ngx_http_twanon_dial_t   dial;

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    o1 = twanon_fuzz_byte(&in);
    o2 = twanon_fuzz_byte(&in);

    nids = ((o1 >> 1) & 0xf) % (NGX_HTTP_TWANON_IDENTITIES_MAX + 1);
    nparams = (o2 & 0xf) % (NGX_HTTP_TWANON_PARAMS_MAX + 1);

    ngx_memzero(&dial, sizeof(ngx_http_twanon_dial_t));

    dial.answer_on_bridge = o1 & 1;
    dial.params_max = (o2 >> 4) * 50;
    dial.params_kept = (o1 >> 5) & 1;
    dial.time_limit = (ngx_uint_t) u64(&in);
    dial.timeout = (ngx_uint_t) u64(&in);

    twanon_fuzz_field(pool, &in, &dial.caller_id);
    twanon_fuzz_field(pool, &in, &dial.action);

    if (ngx_array_init(&ids, pool, 1, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&params, pool, 1, sizeof(ngx_http_twanon_pair_t))
           != NGX_OK)
    {
        abort();
    }

    for (i = 0; i < nids; i++) {
        id = ngx_array_push(&ids);
        twanon_fuzz_assert(id != NULL);
        twanon_fuzz_field(pool, &in, id);
    }

    for (i = 0; i < nparams; i++) {
        param = ngx_array_push(&params);
        twanon_fuzz_assert(param != NULL);
        twanon_fuzz_field(pool, &in, &param->key);
        twanon_fuzz_field(pool, &in, &param->value);
    }

    dial.identities = &ids;
    dial.params = &params;

    twanon_fuzz_field(pool, &in, &language);
    twanon_fuzz_field(pool, &in, &voice);
    twanon_fuzz_field(pool, &in, &text);
    twanon_fuzz_rest(pool, &in, &check);

    /* <Dial> */

    rc = ngx_http_twanon_twiml_dial(pool, &dial, &out);
    twanon_fuzz_assert(rc == NGX_OK);

    reason = NULL;
    twanon_fuzz_assert(ngx_http_twanon_twiml_check(pool, &out, &reason)
                       == NGX_OK);

    doc = parse(&out);

    root = xmlDocGetRootElement(doc);
    twanon_fuzz_assert(root != NULL
                       && xmlStrcmp(root->name, BAD_CAST "Response") == 0);

    dial_node = element(root->children, "Dial");
    twanon_fuzz_assert(next_element(dial_node->next) == NULL);

    v = xmlGetProp(dial_node, BAD_CAST "answerOnBridge");
    twanon_fuzz_assert(v != NULL
                       && strcmp((char *) v, dial.answer_on_bridge
                                             ? "true" : "false") == 0);
    xmlFree(v);

    snprintf(num, sizeof(num), "%llu", (unsigned long long) dial.time_limit);
    v = xmlGetProp(dial_node, BAD_CAST "timeLimit");
    twanon_fuzz_assert(v != NULL && strcmp((char *) v, num) == 0);
    xmlFree(v);

    snprintf(num, sizeof(num), "%llu", (unsigned long long) dial.timeout);
    v = xmlGetProp(dial_node, BAD_CAST "timeout");
    twanon_fuzz_assert(v != NULL && strcmp((char *) v, num) == 0);
    xmlFree(v);

    if (dial.caller_id.len) {
        expect_prop(dial_node, "callerId", &dial.caller_id);

    } else {
        twanon_fuzz_assert(!xmlHasProp(dial_node, BAD_CAST "callerId"));
    }

    if (dial.action.len) {
        expect_prop(dial_node, "action", &dial.action);

    } else {
        twanon_fuzz_assert(!xmlHasProp(dial_node, BAD_CAST "action"));
    }

    client = dial_node->children;
    id = ids.elts;
    param = params.elts;

    for (i = 0; i < nids; i++) {
        client = element(client, "Client");

        node = element(client->children, "Identity");
        expect_content(node, &id[i]);

        total = 0;
        fixed = 0;

        for (k = 0; k < nparams; k++) {
            node = element(node->next, "Parameter");
            expect_prop(node, "name", &param[k].key);

            fixed += prop_len(node, "name");

            if (k < dial.params_kept) {
                expect_prop(node, "value", &param[k].value);
                fixed += prop_len(node, "value");
                continue;
            }

            total += expect_value(node, &param[k].value,
                                  dial.params_cut & ((ngx_uint_t) 1 << k));
        }

        twanon_fuzz_assert(dial.params_max == 0 || nparams == 0
                           || fixed + total <= dial.params_max
                           || (fixed >= dial.params_max && total == 0));

        twanon_fuzz_assert(next_element(node->next) == NULL);

        client = client->next;
    }

    twanon_fuzz_assert(next_element(client) == NULL);

    xmlFreeDoc(doc);

    /* <Say> */

    rc = ngx_http_twanon_twiml_say(pool, &language, &voice, &text, &out);
    twanon_fuzz_assert(rc == NGX_OK);

    twanon_fuzz_assert(ngx_http_twanon_twiml_check(pool, &out, &reason)
                       == NGX_OK);

    doc = parse(&out);

    root = xmlDocGetRootElement(doc);
    twanon_fuzz_assert(root != NULL
                       && xmlStrcmp(root->name, BAD_CAST "Response") == 0);

    node = element(root->children, "Say");
    twanon_fuzz_assert(next_element(node->next) == NULL);

    expect_content(node, &text);

    if (language.len) {
        expect_prop(node, "language", &language);

    } else {
        twanon_fuzz_assert(!xmlHasProp(node, BAD_CAST "language"));
    }

    if (voice.len) {
        expect_prop(node, "voice", &voice);

    } else {
        twanon_fuzz_assert(!xmlHasProp(node, BAD_CAST "voice"));
    }

    xmlFreeDoc(doc);

    /* a document of the user's */

    reason = NULL;
    rc = ngx_http_twanon_twiml_check(pool, &check, &reason);

    twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);
    twanon_fuzz_assert(rc == NGX_OK || reason != NULL);

    if (rc == NGX_OK) {
        doc = xmlReadMemory((char *) check.data, (int) check.len, NULL, NULL,
                            PARSE_OPTS);
        twanon_fuzz_assert(doc != NULL);

        root = xmlDocGetRootElement(doc);
        twanon_fuzz_assert(root != NULL && root->ns == NULL
                           && xmlStrcmp(root->name, BAD_CAST "Response")
                              == 0);
        xmlFreeDoc(doc);
    }

    twanon_fuzz_pool_done(pool);

    return 0;
}
