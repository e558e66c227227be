
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* its routes, numbered from ngx_http_twanon_outgoing.route */
#define NGX_HTTP_TWANON_DIALLED_ROUTE  (ngx_http_twanon_outgoing.route)
#define NGX_HTTP_TWANON_REFUSED_ROUTE  (ngx_http_twanon_outgoing.route + 1)


/*
 * "twanon_outgoing": an operator's masked callback (docs/webhook.md,
 * "The masked callback"); the number goes only into the TwiML.
 */


static ngx_int_t ngx_http_twanon_outgoing_handler(ngx_http_request_t *r);
static char *ngx_http_twanon_outgoing_check(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_outgoing_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_outgoing_field(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_twanon_outgoing_body(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *operator, ngx_str_t *customer);
static ngx_int_t ngx_http_twanon_outgoing_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_outgoing_number(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *caller_id);
static ngx_int_t ngx_http_twanon_variable_callee_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_twanon_outgoing_variables[] = {

    { ngx_string("twanon_callee_hash"), NULL,
      ngx_http_twanon_variable_callee_hash,
      offsetof(ngx_http_twanon_ctx_t, callee_hash),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_twanon_outgoing_routes[] = {
    ngx_string("dialled"),
    ngx_string("refused"),
    ngx_null_string
};


ngx_http_twanon_handler_t  ngx_http_twanon_outgoing = {
    ngx_string("twanon_outgoing"),
    ngx_string("outgoing"),
    ngx_http_twanon_outgoing_handler,
    NGX_HTTP_TWANON_WEBHOOK,
    ngx_http_twanon_outgoing_check,
    NULL,
    NULL,
    ngx_http_twanon_outgoing_verified,
    ngx_http_twanon_outgoing_reply,
    ngx_http_twanon_outgoing_routes,
    ngx_http_twanon_outgoing_variables,
    ngx_string(NGX_HTTP_TWANON_OUTGOING_SAY),
    0, 0
};


static ngx_int_t
ngx_http_twanon_outgoing_handler(ngx_http_request_t *r)
{
    return ngx_http_twanon_webhook_handler(r, &ngx_http_twanon_outgoing);
}


static char *
ngx_http_twanon_outgoing_check(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    if (conf->outgoing_caller_id == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_outgoing\" in %V:%ui requires "
                      "\"twanon_outgoing_caller_id\": Twilio refuses a "
                      "call from a browser without a valid caller ID "
                      "(error 13214)", &conf->where.file, conf->where.line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_check_webhook(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->outgoing_application_sid.len == 0) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_outgoing\" in %V:%ui has no "
                      "\"twanon_token_outgoing_application_sid\": a call "
                      "from any TwiML App of the account, or with no "
                      "ApplicationSid, is accepted here",
                      &conf->where.file, conf->where.line);
    }

    return NGX_CONF_OK;
}


/*
 * NGX_HTTP_FORBIDDEN for another TwiML App or a From that is no operator
 * of ours, NGX_DECLINED (400) for a field given twice, NGX_DONE to refuse
 * the call at once (no customer ID, or one that is not 1 to 64 letters,
 * digits, "_", ".", ":" or "-"), NGX_OK to ask the resolver.
 */

static ngx_int_t
ngx_http_twanon_outgoing_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    app, customer, operator, name;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ngx_str_set(&name, "ApplicationSid");

    rc = ngx_http_twanon_outgoing_field(r, ctx, &name, &app);
    if (rc != NGX_OK) {
        return rc;
    }

    if (tlcf->outgoing_application_sid.len
        && (app.len != tlcf->outgoing_application_sid.len
            || ngx_strncmp(app.data, tlcf->outgoing_application_sid.data,
                           app.len) != 0))
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: outgoing call for another TwiML App, "
                      "call \"%V\"", &ctx->call_sid);
        return NGX_HTTP_FORBIDDEN;
    }

    ngx_str_null(&operator);

    if (ctx->from.len > sizeof("client:") - 1
        && ngx_strncmp(ctx->from.data, "client:", sizeof("client:") - 1)
           == 0)
    {
        operator.len = ctx->from.len - (sizeof("client:") - 1);
        operator.data = ctx->from.data + sizeof("client:") - 1;
    }

    if (operator.len == 0
        || ngx_http_twanon_identity_valid(tlcf->identity_regex, &operator)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: outgoing call not from an operator's "
                      "browser, call \"%V\"", &ctx->call_sid);
        return NGX_HTTP_FORBIDDEN;
    }

    ctx->identities = operator;

    rc = ngx_http_twanon_outgoing_field(r, ctx, &tlcf->outgoing_param,
                                        &customer);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_twanon_customer_id_valid(&customer) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: outgoing call with %s \"%V\", refused, "
                      "call \"%V\"", customer.data ? "an invalid" : "no",
                      &tlcf->outgoing_param, &ctx->call_sid);
        ctx->route = NGX_HTTP_TWANON_REFUSED_ROUTE;
        return NGX_DONE;
    }

    return ngx_http_twanon_outgoing_body(r, ctx, &operator, &customer);
}


/* a field given at most once: its value (NULL data if absent), or 400 */

static ngx_int_t
ngx_http_twanon_outgoing_field(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *name, ngx_str_t *value)
{
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *pair;

    ngx_str_null(value);

    pair = ctx->pairs.elts;

    for (i = 0; i < ctx->pairs.nelts; i++) {
        if (pair[i].key.len != name->len
            || ngx_memcmp(pair[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (value->data) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: webhook repeats \"%V\", call \"%V\"",
                          name, &ctx->call_sid);
            return NGX_DECLINED;
        }

        *value = pair[i].value;

        if (value->data == NULL) {
            value->data = (u_char *) "";
        }
    }

    return NGX_OK;
}


/*
 * operator=, customer_id=, call_sid=, then each field that
 * twanon_token_outgoing_param names, as Twilio sent it from the token
 * (given twice, it may be the browser's own: 400; missing, the call is
 * refused, rather than the resolver reading "absent" as "allowed")
 */

static ngx_int_t
ngx_http_twanon_outgoing_body(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *operator, ngx_str_t *customer)
{
    u_char                         *p;
    size_t                          len;
    ngx_int_t                       rc;
    ngx_str_t                      *values;
    ngx_uint_t                      i, n;
    ngx_http_twanon_loc_conf_t     *tlcf;
    ngx_http_twanon_token_param_t  *param;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    n = tlcf->outgoing_params ? tlcf->outgoing_params->nelts : 0;
    param = n ? tlcf->outgoing_params->elts : NULL;

    values = ngx_palloc(r->pool, (n ? n : 1) * sizeof(ngx_str_t));
    if (values == NULL) {
        return NGX_ERROR;
    }

    len = sizeof("operator=&customer_id=&call_sid=") - 1 + 3 * operator->len
          + customer->len + ctx->call_sid.len;

    for (i = 0; i < n; i++) {
        rc = ngx_http_twanon_outgoing_field(r, ctx, &param[i].name,
                                            &values[i]);
        if (rc != NGX_OK) {
            return rc;
        }

        if (values[i].data == NULL) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twanon: outgoing call without \"%V\" that "
                          "\"twanon_token_outgoing_param\" names, refused, "
                          "call \"%V\"", &param[i].name, &ctx->call_sid);
            ctx->route = NGX_HTTP_TWANON_REFUSED_ROUTE;
            return NGX_DONE;
        }

        len += sizeof("&=") - 1 + param[i].name.len + 3 * values[i].len;
    }

    ctx->resolver_body.data = ngx_pnalloc(r->pool, len);
    if (ctx->resolver_body.data == NULL) {
        return NGX_ERROR;
    }

    /* a custom identity pattern may allow what a form must escape */

    p = ngx_cpymem(ctx->resolver_body.data, "operator=",
                   sizeof("operator=") - 1);
    p = (u_char *) ngx_escape_uri(p, operator->data, operator->len,
                                  NGX_ESCAPE_ARGS);
    p = ngx_sprintf(p, "&customer_id=%V&call_sid=%V", customer,
                    &ctx->call_sid);

    /* names are letters, digits, "_", "-" and "." */

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, "&%V=", &param[i].name);
        p = (u_char *) ngx_escape_uri(p, values[i].data, values[i].len,
                                      NGX_ESCAPE_ARGS);
    }

    ctx->resolver_body.len = p - ctx->resolver_body.data;

    return NGX_OK;
}


/*
 * The number the resolver named, dialled with the caller ID it named or
 * twanon_outgoing_caller_id; anything else is refused with the fallback.
 */

static ngx_int_t
ngx_http_twanon_outgoing_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    twiml;
    ngx_http_twanon_dial_t       dial;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ctx->replied = 1;

    if (ctx->route == NGX_HTTP_TWANON_REFUSED_ROUTE) {
        ctx->fallback = tlcf->fallback_kind;
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    ngx_memzero(&dial, sizeof(ngx_http_twanon_dial_t));

    rc = ngx_http_twanon_outgoing_number(r, ctx, &dial.caller_id);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ctx->fallback = tlcf->fallback_kind;
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    dial.number = ctx->callee;
    dial.time_limit = tlcf->dial_time_limit;
    dial.timeout = tlcf->dial_timeout;
    dial.answer_on_bridge = tlcf->answer_on_bridge;

    if (ngx_http_twanon_twiml_dial(r->pool, &dial, &twiml) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->route = NGX_HTTP_TWANON_DIALLED_ROUTE;

    return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                &twiml);
}


/*
 * The lookup's number into ctx->callee and the caller ID, or
 * NGX_DECLINED, logged with the reason (never the number).
 */

static ngx_int_t
ngx_http_twanon_outgoing_number(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *caller_id)
{
    ngx_int_t                    rc;
    ngx_str_t                    reply;
    ngx_uint_t                   level;
    const char                  *reason;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ctx->route = NGX_HTTP_TWANON_REFUSED_ROUTE;

    if (ctx->failed || ctx->status != NGX_HTTP_OK) {
        if (ctx->failed || ctx->status != NGX_HTTP_NOT_FOUND) {
            ctx->route = NGX_HTTP_TWANON_ROUTE_ERROR;
        }

        level = (ctx->route == NGX_HTTP_TWANON_ROUTE_ERROR) ? NGX_LOG_ERR
                                                            : NGX_LOG_WARN;

        if (ctx->failed) {
            reason = "failed or was cut short";

        } else if (ctx->status == NGX_HTTP_NOT_FOUND) {
            reason = "refused it";

        } else {
            reason = "unexpected status";
        }

        ngx_log_error(level, r->connection->log, 0,
                      "twanon: resolver \"%V\" %s (status %ui), refusing "
                      "the outgoing call, call \"%V\"", &tlcf->resolver,
                      reason, ctx->status, &ctx->call_sid);

        return NGX_DECLINED;
    }

    ngx_str_null(&reply);

    if (ctx->reply) {
        reply.data = ctx->reply->pos;
        reply.len = ctx->reply->last - ctx->reply->pos;
    }

    rc = ngx_http_twanon_route_outgoing(r->pool, &reply, &ctx->callee,
                                        caller_id, &reason);

    if (rc == NGX_DECLINED) {
        ctx->invalid = 1;
    }

    if (rc == NGX_OK && caller_id->len == 0) {
        if (ngx_http_complex_value(r, tlcf->outgoing_caller_id, caller_id)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_http_twanon_e164_valid(caller_id) != NGX_OK) {
            reason = "\"twanon_outgoing_caller_id\" is not in E.164 form";
            rc = NGX_DECLINED;
        }
    }

    if (rc == NGX_DECLINED) {
        ngx_str_null(&ctx->callee);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: resolver \"%V\" %s (status %ui), refusing "
                      "the outgoing call, call \"%V\"", &tlcf->resolver,
                      reason, ctx->status, &ctx->call_sid);
    }

    return rc;
}


static ngx_int_t
ngx_http_twanon_variable_callee_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->callee_hash.len == 0
        && ngx_http_twanon_number_hash(r, &ctx->callee, &ctx->callee_hash)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return ngx_http_twanon_variable_str(r, v, data);
}
