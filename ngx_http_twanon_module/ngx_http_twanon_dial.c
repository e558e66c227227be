
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* the routed <Dial> or the fallback: docs/webhook.md, "The reply" */


/* tells each browser how many are rung with it */
#define NGX_HTTP_TWANON_PARAM_RINGING  "twanonRinging"


static ngx_int_t ngx_http_twanon_dial_route(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_http_twanon_route_t *route,
    const char **reason);
static ngx_int_t ngx_http_twanon_dial_twiml(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities, ngx_array_t *params,
    ngx_str_t *twiml);
static ngx_int_t ngx_http_twanon_dial_caller_id(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *caller_id);
static ngx_int_t ngx_http_twanon_dial_identities(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities);


ngx_http_variable_t  ngx_http_twanon_dial_variables[] = {

    { ngx_string("twanon_client_identity"), NULL,
      ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, identities),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * Always TwiML with 200 once the request is verified: the routed dial
 * when the resolver named valid identities, the fallback otherwise.
 */

ngx_int_t
ngx_http_twanon_dial_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    twiml;
    const char                  *reason;
    ngx_http_twanon_route_t      route;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ctx->replied = 1;

    if (ctx->no_dial) {
        ctx->fallback = tlcf->fallback_kind;
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    rc = ngx_http_twanon_dial_route(r, ctx, &route, &reason);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != NGX_OK) {
        if (ctx->route == NGX_HTTP_TWANON_ROUTE_UNKNOWN) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twanon: caller unknown to the resolver, "
                          "serving the fallback, call \"%V\"",
                          &ctx->call_sid);

        } else {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "twanon: resolver \"%V\" %s (status %ui), "
                          "serving the fallback, call \"%V\"",
                          &tlcf->resolver, reason, ctx->status,
                          &ctx->call_sid);
        }

        return ngx_http_twanon_dial_fallback(r, ctx);
    }

    rc = ngx_http_twanon_dial_twiml(r, ctx, &route.identities,
                                       &route.params, &twiml);
    if (rc == NGX_DECLINED) {
        ctx->fallback = tlcf->fallback_kind;
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->route = NGX_HTTP_TWANON_ROUTE_CLIENT;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon dial routed to %ui client(s), "
                   "%ui parameter(s)", route.identities.nelts,
                   route.params.nelts);

    return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                &twiml);
}


/*
 * What the lookup gave: NGX_OK with the route, NGX_DECLINED with the
 * reason to serve the fallback, or NGX_ERROR.
 */

static ngx_int_t
ngx_http_twanon_dial_route(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_http_twanon_route_t *route,
    const char **reason)
{
    ngx_int_t                    rc;
    ngx_str_t                    reply;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    *reason = NULL;

    if (ctx->failed) {
        *reason = "failed or was cut short";
        return NGX_DECLINED;
    }

    if (ctx->status == NGX_HTTP_NOT_FOUND) {
        *reason = "caller unknown";
        ctx->route = NGX_HTTP_TWANON_ROUTE_UNKNOWN;
        return NGX_DECLINED;
    }

    if (ctx->status != NGX_HTTP_OK) {
        *reason = "unexpected status";
        return NGX_DECLINED;
    }

    ngx_str_null(&reply);

    if (ctx->reply) {
        reply.data = ctx->reply->pos;
        reply.len = ctx->reply->last - ctx->reply->pos;
    }

    rc = ngx_http_twanon_route_parse(r->pool, &reply, &tlcf->identity_field,
                                     tlcf->client_params,
                                     tlcf->identity_regex, route, reason);

    if (rc == NGX_DECLINED) {
        ctx->invalid = 1;
    }

    return rc;
}


/* the configured fallback: TwiML, or a dial to the fallback browsers */

ngx_int_t
ngx_http_twanon_dial_fallback(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    twiml;
    ngx_array_t                  identities, params;
    ngx_http_twanon_pair_t      *param;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    /* a fallback dial after a handler's own action is the last */

    if (ctx->own_action) {
        ngx_str_null(&ctx->action);
    }

    if (tlcf->fallback_clients == NULL) {
        ctx->fallback = tlcf->fallback_kind;
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    ctx->fallback = NGX_HTTP_TWANON_FALLBACK_KIND_CLIENT;

    if (ngx_array_init(&params, r->pool, 1, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param = ngx_array_push(&params);
    if (param == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&param->key, NGX_HTTP_TWANON_PARAM_NAME);
    ngx_str_set(&param->value, NGX_HTTP_TWANON_UNKNOWN_CALLER);

    identities = *tlcf->fallback_clients;

    rc = ngx_http_twanon_dial_twiml(r, ctx, &identities, &params, &twiml);

    if (rc == NGX_DECLINED) {
        ctx->fallback = tlcf->fallback_kind;
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                &twiml);
}


/*
 * The dial with, first, how many are rung (a browser rung alone may
 * decline with busy), then the parameters, within Twilio's budget.
 */

static ngx_int_t
ngx_http_twanon_dial_twiml(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities, ngx_array_t *params,
    ngx_str_t *twiml)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i;
    ngx_array_t                  all;
    ngx_http_twanon_pair_t      *param;
    ngx_http_twanon_dial_t       dial;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (ngx_array_init(&all, r->pool, params->nelts + 1,
                       sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    param = ngx_array_push_n(&all, params->nelts + 1);
    if (param == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&param->key, NGX_HTTP_TWANON_PARAM_RINGING);

    param->value.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (param->value.data == NULL) {
        return NGX_ERROR;
    }

    param->value.len = ngx_sprintf(param->value.data, "%ui",
                                   identities->nelts)
                       - param->value.data;

    ngx_memcpy(param + 1, params->elts,
               params->nelts * sizeof(ngx_http_twanon_pair_t));

    ngx_memzero(&dial, sizeof(ngx_http_twanon_dial_t));

    dial.identities = identities;
    dial.params = &all;
    dial.action = ctx->own_action ? ctx->action : tlcf->dial_action;
    dial.time_limit = tlcf->dial_time_limit;
    dial.timeout = tlcf->dial_timeout;
    dial.answer_on_bridge = tlcf->answer_on_bridge;
    dial.params_max = NGX_HTTP_TWANON_PARAMS_BYTES;
    dial.params_kept = 1;

    if (ngx_http_twanon_dial_caller_id(r, ctx, &dial.caller_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * A dial without callerId shows the browser the caller's number: with
     * no called number to show instead, nobody is rung (NGX_DECLINED),
     * and the caller hears the spoken fallback.
     */

    if (tlcf->caller_id_mode != NGX_HTTP_TWANON_CALLER_ID_OFF
        && dial.caller_id.len == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: no caller ID to dial with (the webhook has "
                      "no \"To\"), serving the fallback, call \"%V\"",
                      &ctx->call_sid);

        ctx->route = NGX_HTTP_TWANON_ROUTE_ERROR;

        return NGX_DECLINED;
    }

    if (ngx_http_twanon_dial_identities(r, ctx, identities) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_twanon_twiml_dial(r->pool, &dial, twiml);

    /* values may be personal data: only the names are logged */

    for (i = 0; dial.params_cut && i < all.nelts; i++) {
        if (dial.params_cut & ((ngx_uint_t) 1 << i)) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: parameter \"%V\" cut to fit Twilio's "
                          "%d bytes of parameters, call \"%V\"",
                          &param[i].key, NGX_HTTP_TWANON_PARAMS_BYTES,
                          &ctx->call_sid);
        }
    }

    return rc;
}


static ngx_int_t
ngx_http_twanon_dial_caller_id(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *caller_id)
{
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    switch (tlcf->caller_id_mode) {

    case NGX_HTTP_TWANON_CALLER_ID_TO:
        *caller_id = ctx->to;
        break;

    case NGX_HTTP_TWANON_CALLER_ID_VALUE:
        if (ngx_http_complex_value(r, tlcf->caller_id, caller_id) != NGX_OK) {
            return NGX_ERROR;
        }

        /*
         * Without callerId the browser would be shown the caller's own
         * number: an empty value falls back to the called number.
         */

        if (caller_id->len == 0) {
            *caller_id = ctx->to;
        }

        break;

    default: /* NGX_HTTP_TWANON_CALLER_ID_OFF */
        break;
    }

    return NGX_OK;
}


/* $twanon_client_identity: the identities rung, comma-separated */

static ngx_int_t
ngx_http_twanon_dial_identities(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *id;
    ngx_uint_t   i;

    id = identities->elts;
    len = 0;

    for (i = 0; i < identities->nelts; i++) {
        len += id[i].len + 1;
    }

    ctx->identities.data = ngx_pnalloc(r->pool, len);
    if (ctx->identities.data == NULL) {
        return NGX_ERROR;
    }

    p = ctx->identities.data;

    for (i = 0; i < identities->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, id[i].data, id[i].len);
    }

    ctx->identities.len = p - ctx->identities.data;

    return NGX_OK;
}
