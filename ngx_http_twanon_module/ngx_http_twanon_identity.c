
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_twanon_lib.h"


#define NGX_HTTP_TWANON_SID_LEN  34     /* two letters, 32 hex digits */


static ngx_int_t ngx_http_twanon_word_valid(ngx_str_t *word, size_t max,
    const char *punct);


/*
 * The one check of an operator identity: the pattern, and never empty,
 * a control character (PCRE's "$" matches before a final newline) or
 * invalid UTF-8.
 */

ngx_int_t
ngx_http_twanon_identity_valid(ngx_regex_t *re, ngx_str_t *identity)
{
    u_char    *p, *last;
    uint32_t   cp;

    if (identity->len == 0) {
        return NGX_DECLINED;
    }

    p = identity->data;
    last = p + identity->len;

    while (p < last) {

        /* printable ASCII, most identities, needs no decoding */

        if (*p >= 0x20 && *p < 0x7f) {
            p++;
            continue;
        }

        cp = ngx_http_twanon_utf8_next(&p, last);

        if (cp < 0x20 || cp == 0x7f || cp == NGX_HTTP_TWANON_UTF8_INVALID) {
            return NGX_DECLINED;
        }
    }

    if (ngx_regex_exec(re, identity, NULL, 0) < 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "AC", "SK", "AP", "CR" and the like followed by 32 hex digits */

ngx_int_t
ngx_http_twanon_sid_valid(ngx_str_t *sid, const char *prefix)
{
    size_t  i;

    if (sid->len != NGX_HTTP_TWANON_SID_LEN
        || sid->data[0] != (u_char) prefix[0]
        || sid->data[1] != (u_char) prefix[1])
    {
        return NGX_DECLINED;
    }

    for (i = 2; i < sid->len; i++) {
        if (ngx_hextoi(&sid->data[i], 1) == NGX_ERROR) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * A phone number in E.164 form, as the callback dials it: "+", then 7 to
 * 15 digits, the first of them not 0.
 */

ngx_int_t
ngx_http_twanon_e164_valid(ngx_str_t *number)
{
    size_t  i;

    if (number->len < 8 || number->len > 16 || number->data[0] != '+'
        || number->data[1] == '0')
    {
        return NGX_DECLINED;
    }

    for (i = 1; i < number->len; i++) {
        if (number->data[i] < '0' || number->data[i] > '9') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * The name of a parameter the operator configures, for the browser
 * (twanon_client_parameter) or for the TwiML App
 * (twanon_token_outgoing_param): 1 to NGX_HTTP_TWANON_PARAM_NAME_MAX
 * letters, digits, "_", "-" or ".", which need no escaping in JSON,
 * TwiML or a form body.
 */

ngx_int_t
ngx_http_twanon_param_name_valid(ngx_str_t *name)
{
    return ngx_http_twanon_word_valid(name, NGX_HTTP_TWANON_PARAM_NAME_MAX,
                                      "_-.");
}


/*
 * The customer ID an operator's browser calls back (twanon_outgoing): 1
 * to NGX_HTTP_TWANON_CUSTOMER_ID_MAX letters, digits, "_", "-", "." or
 * ":", which go into the resolver's form body as they are.
 */

ngx_int_t
ngx_http_twanon_customer_id_valid(ngx_str_t *id)
{
    return ngx_http_twanon_word_valid(id, NGX_HTTP_TWANON_CUSTOMER_ID_MAX,
                                      "_-.:");
}


/* 1 to max ASCII letters, digits or bytes of punct */

static ngx_int_t
ngx_http_twanon_word_valid(ngx_str_t *word, size_t max, const char *punct)
{
    u_char  *p, *last;

    if (word->len == 0 || word->len > max) {
        return NGX_DECLINED;
    }

    last = word->data + word->len;

    for (p = word->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9'))
        {
            continue;
        }

        if (*p == '\0' || ngx_strchr(punct, *p) == NULL) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
