
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "ngx_http_twanon_lib.h"


static xmlDocPtr ngx_http_twanon_twiml_doc(ngx_pool_t *pool,
    xmlNodePtr *root);
static u_char *ngx_http_twanon_xml_string(ngx_pool_t *pool, ngx_str_t *s);
static ngx_int_t ngx_http_twanon_twiml_dump(ngx_pool_t *pool, xmlDocPtr doc,
    ngx_str_t *out);
static void ngx_http_twanon_xml_cleanup(void *data);


/*
 * <Response><Dial ...><Client><Identity/><Parameter/>...</Client>...
 * </Dial></Response>: one <Client> per identity, each carrying the same
 * parameters.  Every string goes through ngx_http_twanon_xml_string(),
 * and libxml2 escapes what XML needs escaped.
 */

ngx_int_t
ngx_http_twanon_twiml_dial(ngx_pool_t *pool, ngx_http_twanon_dial_t *dial,
    ngx_str_t *out)
{
    u_char                  *s, buf[NGX_INT_T_LEN + 1];
    xmlDocPtr                doc;
    xmlNodePtr               root, node, client, param;
    ngx_str_t               *id;
    ngx_uint_t               i, k;
    ngx_http_twanon_pair_t  *p;

    doc = ngx_http_twanon_twiml_doc(pool, &root);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    node = xmlNewChild(root, NULL, BAD_CAST "Dial", NULL);
    if (node == NULL) {
        return NGX_ERROR;
    }

    if (xmlNewProp(node, BAD_CAST "answerOnBridge",
                   BAD_CAST (dial->answer_on_bridge ? "true" : "false"))
        == NULL)
    {
        return NGX_ERROR;
    }

    *ngx_sprintf(buf, "%ui", dial->time_limit) = '\0';

    if (xmlNewProp(node, BAD_CAST "timeLimit", buf) == NULL) {
        return NGX_ERROR;
    }

    *ngx_sprintf(buf, "%ui", dial->timeout) = '\0';

    if (xmlNewProp(node, BAD_CAST "timeout", buf) == NULL) {
        return NGX_ERROR;
    }

    if (dial->caller_id.len) {
        s = ngx_http_twanon_xml_string(pool, &dial->caller_id);
        if (s == NULL || xmlNewProp(node, BAD_CAST "callerId", s) == NULL) {
            return NGX_ERROR;
        }
    }

    if (dial->action.len) {
        s = ngx_http_twanon_xml_string(pool, &dial->action);
        if (s == NULL || xmlNewProp(node, BAD_CAST "action", s) == NULL) {
            return NGX_ERROR;
        }
    }

    id = dial->identities->elts;

    for (i = 0; i < dial->identities->nelts; i++) {

        client = xmlNewChild(node, NULL, BAD_CAST "Client", NULL);
        if (client == NULL) {
            return NGX_ERROR;
        }

        s = ngx_http_twanon_xml_string(pool, &id[i]);
        if (s == NULL
            || xmlNewTextChild(client, NULL, BAD_CAST "Identity", s) == NULL)
        {
            return NGX_ERROR;
        }

        p = dial->params->elts;

        for (k = 0; k < dial->params->nelts; k++) {

            param = xmlNewChild(client, NULL, BAD_CAST "Parameter", NULL);
            if (param == NULL) {
                return NGX_ERROR;
            }

            s = ngx_http_twanon_xml_string(pool, &p[k].key);
            if (s == NULL || xmlNewProp(param, BAD_CAST "name", s) == NULL) {
                return NGX_ERROR;
            }

            s = ngx_http_twanon_xml_string(pool, &p[k].value);
            if (s == NULL || xmlNewProp(param, BAD_CAST "value", s) == NULL)
            {
                return NGX_ERROR;
            }
        }
    }

    return ngx_http_twanon_twiml_dump(pool, doc, out);
}


/* <Response><Say language="..." voice="...">text</Say></Response> */

ngx_int_t
ngx_http_twanon_twiml_say(ngx_pool_t *pool, ngx_str_t *language,
    ngx_str_t *voice, ngx_str_t *text, ngx_str_t *out)
{
    u_char      *s;
    xmlDocPtr    doc;
    xmlNodePtr   root, node;

    doc = ngx_http_twanon_twiml_doc(pool, &root);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    s = ngx_http_twanon_xml_string(pool, text);
    if (s == NULL) {
        return NGX_ERROR;
    }

    node = xmlNewTextChild(root, NULL, BAD_CAST "Say", s);
    if (node == NULL) {
        return NGX_ERROR;
    }

    if (language->len) {
        s = ngx_http_twanon_xml_string(pool, language);
        if (s == NULL || xmlNewProp(node, BAD_CAST "language", s) == NULL) {
            return NGX_ERROR;
        }
    }

    if (voice->len) {
        s = ngx_http_twanon_xml_string(pool, voice);
        if (s == NULL || xmlNewProp(node, BAD_CAST "voice", s) == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_twanon_twiml_dump(pool, doc, out);
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


static xmlDocPtr
ngx_http_twanon_twiml_doc(ngx_pool_t *pool, xmlNodePtr *root)
{
    xmlDocPtr            doc;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    doc = xmlNewDoc(BAD_CAST "1.0");
    if (doc == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_twanon_xml_cleanup;
    cln->data = doc;

    *root = xmlNewDocNode(doc, NULL, BAD_CAST "Response", NULL);
    if (*root == NULL) {
        return NULL;
    }

    xmlDocSetRootElement(doc, *root);

    return doc;
}


static ngx_int_t
ngx_http_twanon_twiml_dump(ngx_pool_t *pool, xmlDocPtr doc, ngx_str_t *out)
{
    int       size;
    xmlChar  *mem;

    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");

    if (mem == NULL || size <= 0) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, size);
    if (out->data == NULL) {
        xmlFree(mem);
        return NGX_ERROR;
    }

    out->len = size;
    ngx_memcpy(out->data, mem, size);
    xmlFree(mem);

    return NGX_OK;
}


/*
 * A NUL-terminated copy for libxml2 that holds only what XML 1.0 allows:
 * #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
 * Invalid UTF-8 becomes U+FFFD, forbidden characters are dropped.
 */

static u_char *
ngx_http_twanon_xml_string(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char     *p, *last, *start, *dst, *out;
    uint32_t    cp;
    ngx_str_t   text;

    if (ngx_http_twanon_utf8_fix(pool, s, &text) != NGX_OK) {
        return NULL;
    }

    out = ngx_pnalloc(pool, text.len + 1);
    if (out == NULL) {
        return NULL;
    }

    dst = out;
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

    *dst = '\0';

    return out;
}


static void
ngx_http_twanon_xml_cleanup(void *data)
{
    xmlFreeDoc(data);
}
