
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


static ngx_int_t ngx_http_twanon_incoming_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_incoming_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);


static ngx_http_variable_t  ngx_http_twanon_incoming_variables[] = {

    { ngx_string("twanon_stir_verstat"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, stir_verstat),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_twanon_field_t  ngx_http_twanon_incoming_fields[] = {
    { ngx_string("StirVerstat"),
      offsetof(ngx_http_twanon_ctx_t, stir_field), 0 },
    { ngx_string("DialCallStatus"),
      offsetof(ngx_http_twanon_ctx_t, dial_field), 0 },
    { ngx_null_string, 0, 0 }
};


/* its routes are dial.c's: "unknown", "client" */

ngx_http_twanon_handler_t  ngx_http_twanon_incoming = {
    ngx_string("twanon_incoming"),
    ngx_string("incoming"),
    ngx_http_twanon_incoming_handler,
    NGX_HTTP_TWANON_WEBHOOK,
    ngx_http_twanon_check_webhook,
    NULL,
    ngx_http_twanon_incoming_fields,
    ngx_http_twanon_incoming_verified,
    ngx_http_twanon_dial_reply,
    NULL,
    ngx_http_twanon_incoming_variables,
    ngx_string(NGX_HTTP_TWANON_FALLBACK_SAY),
    0, 0
};


static ngx_int_t
ngx_http_twanon_incoming_handler(ngx_http_request_t *r)
{
    return ngx_http_twanon_webhook_handler(r, &ngx_http_twanon_incoming);
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
