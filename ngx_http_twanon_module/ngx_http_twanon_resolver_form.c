
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* what the resolver is sent (docs/webhook.md, "The request") */


static ngx_buf_t *ngx_http_twanon_resolver_form(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_variable_caller_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


ngx_http_variable_t  ngx_http_twanon_resolver_variables[] = {

    { ngx_string("twanon_caller_hash"), NULL,
      ngx_http_twanon_variable_caller_hash,
      offsetof(ngx_http_twanon_ctx_t, caller_hash),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * from_number= or from_hash=, and to_number=, escaped as form values;
 * then stir_verstat= when Twilio sent StirVerstat, and, in the after-dial
 * step, attempt= (the one to ring) and dial_status=
 */

ngx_http_request_body_t *
ngx_http_twanon_resolver_body(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_request_body_t  *rb;

    /* a handler that wrote a body of its own: the callback's */

    if (ctx->resolver_body.len) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NULL;
        }

        b->pos = ctx->resolver_body.data;
        b->last = ctx->resolver_body.data + ctx->resolver_body.len;
        b->memory = 1;

    } else {
        b = ngx_http_twanon_resolver_form(r, ctx);
        if (b == NULL) {
            return NULL;
        }
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NULL;
    }

    rb->bufs = cl;
    rb->buf = b;

    return rb;
}


/* the webhook's own fields, in one buffer */

static ngx_buf_t *
ngx_http_twanon_resolver_form(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    u_char                      *p;
    size_t                       len;
    ngx_buf_t                   *b;
    ngx_str_t                   *from, from_name;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->resolver_send == NGX_HTTP_TWANON_SEND_HASH) {
        if (ngx_http_twanon_caller_hash(r, ctx) != NGX_OK) {
            return NULL;
        }

        from = &ctx->caller_hash;
        ngx_str_set(&from_name, "from_hash=");

    } else {
        from = &ctx->from;
        ngx_str_set(&from_name, "from_number=");
    }

    /* room for every byte escaped (%XX): one pass, not a count and a copy */

    len = from_name.len + 3 * from->len
          + sizeof("&to_number=") - 1 + 3 * ctx->to.len
          + sizeof("&stir_verstat=") - 1 + ctx->stir_verstat.len
          + sizeof("&attempt=&dial_status=") - 1 + NGX_INT_T_LEN
          + ctx->dial_status.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = ngx_cpymem(b->last, from_name.data, from_name.len);
    p = (u_char *) ngx_escape_uri(p, from->data, from->len, NGX_ESCAPE_ARGS);
    p = ngx_cpymem(p, "&to_number=", sizeof("&to_number=") - 1);
    p = (u_char *) ngx_escape_uri(p, ctx->to.data, ctx->to.len,
                                  NGX_ESCAPE_ARGS);

    /* both checked to be letters, digits, "-" and "_": nothing to escape */

    if (ctx->stir_verstat.len) {
        p = ngx_cpymem(p, "&stir_verstat=", sizeof("&stir_verstat=") - 1);
        p = ngx_cpymem(p, ctx->stir_verstat.data, ctx->stir_verstat.len);
    }

    if (ctx->attempt) {
        p = ngx_sprintf(p, "&attempt=%ui&dial_status=%V", ctx->attempt,
                        &ctx->dial_status);
    }

    b->last = p;

    return b;
}


/* $twanon_caller_hash: hex HMAC-SHA256 of the caller under the hash key */

ngx_int_t
ngx_http_twanon_caller_hash(ngx_http_request_t *r, ngx_http_twanon_ctx_t *ctx)
{
    if (ctx->caller_hash.len) {
        return NGX_OK;
    }

    return ngx_http_twanon_number_hash(r, &ctx->from, &ctx->caller_hash);
}


/*
 * The keyed hash of a number (the caller's, or the one a callback dials)
 * under twanon_hash_key, in hex; NGX_DECLINED without a key or a number.
 */

ngx_int_t
ngx_http_twanon_number_hash(ngx_http_request_t *r, ngx_str_t *number,
    ngx_str_t *hash)
{
    ngx_str_t                    key;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r->main, ngx_http_twanon_module);

    if (tlcf->hash_key == NULL || number->data == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r->main, tlcf->hash_key, &key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key.len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: \"twanon_hash_key\" evaluated to "
                      "an empty value");
        return NGX_DECLINED;
    }

    if (ngx_http_twanon_hmac_hex(r->pool, &tlcf->hash_mac, &key, number,
                                 hash)
        != NGX_OK)
    {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twanon: HMAC-SHA256 failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* computed on first use, also when the resolver is sent the number */

static ngx_int_t
ngx_http_twanon_variable_caller_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_twanon_caller_hash(r, ctx) == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_twanon_variable_str(r, v, data);
}
