
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


static ngx_int_t ngx_http_twanon_incoming_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);


ngx_http_variable_t  ngx_http_twanon_incoming_variables[] = {

    { ngx_string("twanon_stir_verstat"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, stir_verstat),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_twanon_incoming_handler(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming handler");

    return ngx_http_twanon_webhook_handler(r,
                                           ngx_http_twanon_incoming_verified,
                                           ngx_http_twanon_dial_reply);
}


/*
 * NGX_DECLINED (400) for a malformed StirVerstat; NGX_DONE for a dial's
 * outcome: a dial whose action leads here would ring again and again, so
 * the call gets the fallback, without a dial; NGX_OK to look it up.
 */

static ngx_int_t
ngx_http_twanon_incoming_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    if (ngx_http_twanon_webhook_stir(r, ctx) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (ctx->dial_field.data == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "twanon: incoming-call webhook with \"DialCallStatus\": "
                  "a dial's action leads here, not to \"twanon_after_dial\"; "
                  "serving the fallback without a dial, call \"%V\"",
                  &ctx->call_sid);

    ctx->no_dial = 1;

    return NGX_DONE;
}
