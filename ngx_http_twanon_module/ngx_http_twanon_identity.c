
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_twanon_lib.h"


/*
 * The one check of an operator identity, for the identities that tokens
 * are minted for and those that the resolver asks to ring.  Besides the
 * configured pattern, an empty identity or one with a control character
 * is always refused: PCRE's "$" matches before a final newline, and no
 * identity that Twilio can ring holds one.
 */

ngx_int_t
ngx_http_twanon_identity_valid(ngx_regex_t *re, ngx_str_t *identity)
{
    size_t  i;

    if (identity->len == 0) {
        return NGX_DECLINED;
    }

    for (i = 0; i < identity->len; i++) {
        if (identity->data[i] < 0x20 || identity->data[i] == 0x7f) {
            return NGX_DECLINED;
        }
    }

    if (ngx_regex_exec(re, identity, NULL, 0) < 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}
