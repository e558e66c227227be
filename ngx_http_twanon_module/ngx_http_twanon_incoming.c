
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_module.h"


/*
 * The incoming-call webhook's reply, which the after-dial step shares:
 * the routed dial or the fallback; and the variables of both.
 */


/* the parameter that tells each browser how many are rung with it */
#define NGX_HTTP_TWANON_PARAM_RINGING  "twanonRinging"


static ngx_int_t ngx_http_twanon_incoming_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_incoming_route(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_http_twanon_route_t *route,
    const char **reason);
static ngx_int_t ngx_http_twanon_incoming_dial(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities, ngx_array_t *params,
    ngx_str_t *twiml);
static ngx_int_t ngx_http_twanon_incoming_dial_caller_id(
    ngx_http_request_t *r, ngx_http_twanon_ctx_t *ctx, ngx_str_t *caller_id);
static ngx_int_t ngx_http_twanon_incoming_identities(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities);
static ngx_int_t ngx_http_twanon_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twanon_variable_caller_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twanon_variable_route(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_http_twanon_variable_set(ngx_http_variable_value_t *v,
    ngx_str_t *value);


static ngx_http_variable_t  ngx_http_twanon_incoming_vars[] = {

    { ngx_string("twanon_caller_hash"), NULL,
      ngx_http_twanon_variable_caller_hash,
      offsetof(ngx_http_twanon_ctx_t, caller_hash),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_callee_hash"), NULL,
      ngx_http_twanon_variable_caller_hash,
      offsetof(ngx_http_twanon_ctx_t, callee_hash),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_call_sid"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, call_sid),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_route"), NULL, ngx_http_twanon_variable_route,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_client_identity"), NULL,
      ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, identities),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_dial_status"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, dial_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_stir_verstat"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, stir_verstat),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * $twanon_route, indexed by ngx_http_twanon_route_e.  One refused before
 * it was verified is "rejected"; a verified one is "error" until the
 * resolver routes it, and ctx->route holds the rest; the after-dial step
 * adds "answered", "canceled" and "exhausted" (no attempt left).
 */

static ngx_str_t  ngx_http_twanon_routes[] = {
    ngx_string("error"),
    ngx_string("unknown"),
    ngx_string("client"),
    ngx_string("rejected"),
    ngx_string("answered"),
    ngx_string("canceled"),
    ngx_string("exhausted"),
    ngx_string("dialled"),
    ngx_string("refused")
};


ngx_str_t  ngx_http_twanon_xml_type = ngx_string("text/xml; charset=utf-8");


ngx_int_t
ngx_http_twanon_incoming_handler(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming handler");

    return ngx_http_twanon_webhook_handler(r,
                                           ngx_http_twanon_incoming_verified,
                                           ngx_http_twanon_incoming_reply);
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


/*
 * Always TwiML with 200 once the request is verified: the routed dial
 * when the resolver named valid identities, the fallback otherwise.
 */

ngx_int_t
ngx_http_twanon_incoming_reply(ngx_http_request_t *r,
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

    rc = ngx_http_twanon_incoming_route(r, ctx, &route, &reason);

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

        return ngx_http_twanon_incoming_fallback(r, ctx);
    }

    rc = ngx_http_twanon_incoming_dial(r, ctx, &route.identities,
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
                   "twanon incoming routed to %ui client(s), "
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
ngx_http_twanon_incoming_route(ngx_http_request_t *r,
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
ngx_http_twanon_incoming_fallback(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    twiml;
    ngx_array_t                  identities, params;
    ngx_http_twanon_pair_t      *param;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    /* a fallback dial of the after-dial step is the last: no action */

    if (ctx->after_dial) {
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

    rc = ngx_http_twanon_incoming_dial(r, ctx, &identities, &params, &twiml);

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
 * The dial to these identities with, first, how many are rung
 * (NGX_HTTP_TWANON_PARAM_RINGING), so that a browser that is the only
 * one can decline with busy and let the caller move on, then the
 * parameters, within Twilio's budget; its action is the after-dial
 * step's own, with the attempt, if there.
 */

static ngx_int_t
ngx_http_twanon_incoming_dial(ngx_http_request_t *r,
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
    dial.action = ctx->after_dial ? ctx->action : tlcf->dial_action;
    dial.time_limit = tlcf->dial_time_limit;
    dial.timeout = tlcf->dial_timeout;
    dial.answer_on_bridge = tlcf->answer_on_bridge;
    dial.params_max = NGX_HTTP_TWANON_PARAMS_BYTES;
    dial.params_kept = 1;

    if (ngx_http_twanon_incoming_dial_caller_id(r, ctx, &dial.caller_id)
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

    if (ngx_http_twanon_incoming_identities(r, ctx, identities) != NGX_OK) {
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
ngx_http_twanon_incoming_dial_caller_id(ngx_http_request_t *r,
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
ngx_http_twanon_incoming_identities(ngx_http_request_t *r,
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


ngx_int_t
ngx_http_twanon_incoming_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_twanon_incoming_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The variables read the main request's context, so that the resolver
 * location can use them too (for example $twanon_caller_hash in a
 * header).  None of them ever holds the caller's number.  "data" is the
 * offset of the ngx_str_t in the context.
 */

static ngx_int_t
ngx_http_twanon_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_twanon_variable_set(v, (ngx_str_t *) ((u_char *) ctx + data));

    return NGX_OK;
}


/* computed on first use, also when the resolver is sent the number */

static ngx_int_t
ngx_http_twanon_variable_caller_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t               rc;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* $twanon_caller_hash, or $twanon_callee_hash of a callback */

    if (data == offsetof(ngx_http_twanon_ctx_t, caller_hash)) {
        rc = ngx_http_twanon_caller_hash(r, ctx);

    } else if (ctx->callee_hash.len == 0) {
        rc = ngx_http_twanon_number_hash(r, &ctx->callee, &ctx->callee_hash);

    } else {
        rc = NGX_OK;
    }

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    return ngx_http_twanon_variable_str(r, v, data);
}


static ngx_int_t
ngx_http_twanon_variable_route(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t              route;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    route = ctx->verified ? ctx->route : NGX_HTTP_TWANON_ROUTE_REJECTED;

    ngx_http_twanon_variable_set(v, &ngx_http_twanon_routes[route]);

    return NGX_OK;
}


static void
ngx_http_twanon_variable_set(ngx_http_variable_value_t *v, ngx_str_t *value)
{
    if (value->len == 0) {
        v->not_found = 1;
        return;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;
}
