
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * What every Twilio webhook handler shares, up to the lookup: the method
 * and content type, the body, the strict fields; verify.c checks the
 * AccountSid and signature, resolver.c does the lookup.
 */


static ngx_int_t ngx_http_twanon_webhook_type(ngx_http_request_t *r);
static void ngx_http_twanon_webhook_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_webhook_accept(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t **text);
static ngx_int_t ngx_http_twanon_webhook_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *text);
static ngx_int_t ngx_http_twanon_webhook_fields(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs);
static ngx_int_t ngx_http_twanon_webhook_word(ngx_str_t *s,
    ngx_uint_t dash);


static ngx_int_t ngx_http_twanon_register_fields(ngx_conf_t *cf,
    ngx_http_twanon_main_conf_t *mcf, ngx_http_twanon_field_t *f,
    ngx_uint_t shared);
static ngx_int_t ngx_http_twanon_variable_route(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_twanon_text_type =
    ngx_string("text/plain; charset=utf-8");
static ngx_str_t  ngx_http_twanon_invalid =
    ngx_string("invalid webhook fields\n");
static ngx_str_t  ngx_http_twanon_forbidden = ngx_string("forbidden\n");


/* the plumbing's routes, then the handlers' own */

static ngx_str_t  ngx_http_twanon_routes[] = {
    ngx_string("error"),
    ngx_string("rejected"),
    ngx_string("unknown"),
    ngx_string("client"),
    ngx_null_string
};


/* the fields every webhook reads; CallSid is required */

static ngx_http_twanon_field_t  ngx_http_twanon_webhook_fields_shared[] = {
    { ngx_string("To"), offsetof(ngx_http_twanon_ctx_t, to), 0 },
    { ngx_string("From"), offsetof(ngx_http_twanon_ctx_t, from), 0 },
    { ngx_string("CallSid"), offsetof(ngx_http_twanon_ctx_t, call_sid), 1 },
    { ngx_string("AccountSid"),
      offsetof(ngx_http_twanon_ctx_t, account_sid), 0 },
    { ngx_null_string, 0, 0 }
};


ngx_http_variable_t  ngx_http_twanon_webhook_variables[] = {

    { ngx_string("twanon_call_sid"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, call_sid),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_route"), NULL, ngx_http_twanon_variable_route,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/*
 * The handlers in module.c's order: each webhook's counters, its routes
 * numbered after those before, its fields in the lookup, its variables.
 */

ngx_int_t
ngx_http_twanon_register(ngx_conf_t *cf, ngx_http_twanon_handler_t **handlers)
{
    ngx_str_t                    *name;
    ngx_http_twanon_handler_t    *h;
    ngx_http_twanon_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    mcf->nwebhooks = 0;
    mcf->nroutes = 0;
    mcf->nfields = 0;
    mcf->nrequired = 0;

    mcf->webhooks = ngx_pcalloc(cf->pool,
                                sizeof(ngx_http_twanon_handler_t *)
                                * NGX_HTTP_TWANON_HANDLERS_MAX);
    if (mcf->webhooks == NULL) {
        return NGX_ERROR;
    }

    for (name = ngx_http_twanon_routes; name->len; name++) {
        mcf->routes[mcf->nroutes++] = *name;
    }

    if (ngx_http_twanon_register_fields(cf, mcf,
                                        ngx_http_twanon_webhook_fields_shared,
                                        1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for ( /* void */ ; *handlers; handlers++) {
        h = *handlers;

        if (h->variables
            && ngx_http_twanon_add_variables(cf, h->variables) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (!(h->flags & NGX_HTTP_TWANON_WEBHOOK)) {
            continue;
        }

        if (mcf->nwebhooks == NGX_HTTP_TWANON_HANDLERS_MAX) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "twanon: too many webhook handlers");
            return NGX_ERROR;
        }

        h->index = mcf->nwebhooks;
        mcf->webhooks[mcf->nwebhooks++] = h;

        h->route = mcf->nroutes;

        for (name = h->routes; name && name->len; name++) {
            if (mcf->nroutes == NGX_HTTP_TWANON_ROUTES_MAX) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "twanon: too many routes");
                return NGX_ERROR;
            }

            mcf->routes[mcf->nroutes++] = *name;
        }

        if (h->fields
            && ngx_http_twanon_register_fields(cf, mcf, h->fields, 0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The fields in one table sorted by length, with the first of each
 * length, so that a form's name is compared with a few at most; a field
 * that several handlers read is there once, required only if shared.
 */

static ngx_int_t
ngx_http_twanon_register_fields(ngx_conf_t *cf,
    ngx_http_twanon_main_conf_t *mcf, ngx_http_twanon_field_t *f,
    ngx_uint_t shared)
{
    size_t                    len;
    ngx_uint_t                i, k;
    ngx_http_twanon_field_t  *t;

    t = mcf->fields;

    for ( /* void */ ; f->name.len; f++) {

        for (i = 0; i < mcf->nfields; i++) {
            if (t[i].name.len == f->name.len
                && ngx_strncmp(t[i].name.data, f->name.data, f->name.len)
                   == 0)
            {
                break;
            }
        }

        if (i < mcf->nfields) {
            if (t[i].offset != f->offset) {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "twanon: field \"%V\" read into two places",
                              &f->name);
                return NGX_ERROR;
            }

            continue;
        }

        if (mcf->nfields == NGX_HTTP_TWANON_FIELDS_MAX
            || f->name.len > NGX_HTTP_TWANON_FIELD_LEN)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "twanon: no room for field \"%V\"", &f->name);
            return NGX_ERROR;
        }

        for (i = mcf->nfields; i > 0 && t[i - 1].name.len > f->name.len; i--)
        {
            t[i] = t[i - 1];
        }

        t[i] = *f;
        t[i].required = shared && f->required;
        mcf->nrequired += t[i].required;
        mcf->nfields++;
    }

    k = 0;

    for (len = 0; len <= NGX_HTTP_TWANON_FIELD_LEN; len++) {
        while (k < mcf->nfields && t[k].name.len < len) {
            k++;
        }

        mcf->by_len[len] = (k < mcf->nfields && t[k].name.len == len)
                           ? k : NGX_HTTP_TWANON_FIELDS_MAX;
    }

    return NGX_OK;
}


/* the content handler of each webhook calls this with its descriptor */

ngx_int_t
ngx_http_twanon_webhook_handler(ngx_http_request_t *r,
    ngx_http_twanon_handler_t *h)
{
    ngx_int_t               rc;
    ngx_http_twanon_ctx_t  *ctx;

    static ngx_str_t  allow = ngx_string("POST");
    static ngx_str_t  not_allowed = ngx_string("method not allowed\n");
    static ngx_str_t  unsupported =
        ngx_string("expected application/x-www-form-urlencoded\n");

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon %V handler", &h->label);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_twanon_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->handler = h;

    ngx_http_set_ctx(r, ctx, ngx_http_twanon_module);

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_twanon_add_header(r, "Allow", &allow) == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_twanon_webhook_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                              &not_allowed);
    }

    if (ngx_http_twanon_webhook_type(r) != NGX_OK) {
        return ngx_http_twanon_webhook_refuse(r,
                                           NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                           &unsupported);
    }

    /* a larger body never gets here: check.c caps client_max_body_size */

    rc = ngx_http_read_client_request_body(r,
                                         ngx_http_twanon_webhook_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* application/x-www-form-urlencoded, with or without parameters */

static ngx_int_t
ngx_http_twanon_webhook_type(ngx_http_request_t *r)
{
    size_t      len;
    ngx_str_t  *type;

    len = sizeof("application/x-www-form-urlencoded") - 1;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    type = &r->headers_in.content_type->value;

    /* Twilio writes it in lowercase: a case-blind compare only if not */

    if (type->len < len
        || (ngx_memcmp(type->data, "application/x-www-form-urlencoded", len)
            != 0
            && ngx_strncasecmp(type->data,
                               (u_char *) "application/x-www-form-urlencoded",
                               len)
               != 0)
        || (type->len > len && type->data[len] != ';'
            && type->data[len] != ' '))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_twanon_webhook_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t              *text;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    rc = ngx_http_twanon_webhook_accept(r, ctx, &text);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (rc != NGX_OK) {
        rc = ngx_http_twanon_webhook_refuse(r, rc, text);
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ctx->handler->verified ? ctx->handler->verified(r, ctx) : NGX_OK;

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twanon_webhook_refuse(r, NGX_HTTP_BAD_REQUEST,
                                            &ngx_http_twanon_invalid);
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (rc == NGX_HTTP_FORBIDDEN) {
        rc = ngx_http_twanon_webhook_refuse(r, NGX_HTTP_FORBIDDEN,
                                            &ngx_http_twanon_forbidden);
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx->verified = 1;

    if (rc == NGX_DONE) {
        ctx->done = 1;
        ngx_http_finalize_request(r, ctx->handler->reply(r, ctx));
        return;
    }

    if (ngx_http_twanon_resolver_start(r, ctx) != NGX_OK) {
        ctx->done = 1;
        ctx->failed = 1;
        ngx_http_finalize_request(r, ctx->handler->reply(r, ctx));
        return;
    }

    /*
     * The reply is sent from ngx_http_twanon_resolver_resume() once the
     * subrequest is done; the request stays referenced by it until then.
     */
}


/* NGX_OK, or the status to refuse the request with and its text */

static ngx_int_t
ngx_http_twanon_webhook_accept(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t **text)
{
    ngx_int_t    rc;
    ngx_str_t    body;
    ngx_array_t  pairs;

    static ngx_str_t  too_large = ngx_string("request body too large\n");
    static ngx_str_t  malformed = ngx_string("malformed form body\n");
    static ngx_str_t  empty = ngx_string("empty webhook body\n");

    rc = ngx_http_twanon_read_body(r, NGX_HTTP_TWANON_WEBHOOK_BODY_MAX,
                                   &body);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming body len:%uz rc:%i", body.len, rc);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *text = &too_large;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: empty webhook body");
        *text = &empty;
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_array_init(&pairs, r->pool, 32, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_twanon_form_parse(r->pool, &body, &pairs,
                                    NGX_HTTP_TWANON_WEBHOOK_ARGS_MAX);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: malformed webhook body");
        *text = &malformed;
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_twanon_webhook_fields(r, ctx, &pairs) != NGX_OK) {
        *text = &ngx_http_twanon_invalid;
        return NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_http_twanon_verify(r, ctx, &pairs);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *text = &ngx_http_twanon_forbidden;
        return NGX_HTTP_FORBIDDEN;
    }

    /* the fields, for a handler that reads more of them */

    ctx->pairs = pairs;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_webhook_refuse(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text)
{
    ngx_int_t               rc;
    ngx_http_twanon_ctx_t  *ctx;

    /* what the client sent of these is not shown in variables */

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    ngx_str_null(&ctx->dial_status);
    ngx_str_null(&ctx->stir_verstat);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_twanon_send(r, status, &ngx_http_twanon_text_type, text);
}


/* docs/development.md, "Strict fields" */

static ngx_int_t
ngx_http_twanon_webhook_fields(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs)
{
    size_t                        len;
    u_char                        seen[NGX_HTTP_TWANON_FIELDS_MAX];
    ngx_str_t                    *value;
    ngx_uint_t                    k, n, nfields, required;
    ngx_http_twanon_pair_t       *pair;
    ngx_http_twanon_field_t      *f;
    ngx_http_twanon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_twanon_module);

    f = mcf->fields;
    nfields = mcf->nfields;

    ngx_memzero(seen, nfields);
    required = 0;

    pair = pairs->elts;

    for (n = 0; n < pairs->nelts; n++) {
        len = pair[n].key.len;

        for (k = (len <= NGX_HTTP_TWANON_FIELD_LEN) ? mcf->by_len[len]
                                                     : nfields;
             k < nfields && f[k].name.len == len;
             k++)
        {
            if (pair[n].key.data[0] == f[k].name.data[0]
                && ngx_memcmp(pair[n].key.data, f[k].name.data, len) == 0)
            {
                break;
            }
        }

        if (k >= nfields || f[k].name.len != len) {
            continue;
        }

        if (seen[k]++) {
            ngx_str_null(&ctx->call_sid);
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: webhook repeats \"%V\"", &f[k].name);
            return NGX_DECLINED;
        }

        value = (ngx_str_t *) ((u_char *) ctx + f[k].offset);
        *value = pair[n].value;
        required += f[k].required;
    }

    for (k = 0; required < mcf->nrequired && k < nfields; k++) {
        if (f[k].required && !seen[k]) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: webhook without \"%V\"", &f[k].name);
            return NGX_DECLINED;
        }
    }

    if (ngx_http_twanon_webhook_word(&ctx->call_sid, 0) != NGX_OK) {
        ngx_str_null(&ctx->call_sid);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook with a malformed \"CallSid\"");
        return NGX_DECLINED;
    }

    for (f = ctx->handler->fields; f && f->name.len; f++) {
        value = (ngx_str_t *) ((u_char *) ctx + f->offset);

        if (f->required && value->data == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: webhook without \"%V\", call \"%V\"",
                          &f->name, &ctx->call_sid);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * StirVerstat, for the handlers that send it to the resolver and show it
 * in $twanon_stir_verstat: one of Twilio's names, such as
 * "TN-Validation-Passed-A", or nothing; NGX_DECLINED (400) if not.
 */

ngx_int_t
ngx_http_twanon_webhook_stir(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    if (ctx->stir_field.len
        && ngx_http_twanon_webhook_word(&ctx->stir_field, 1) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook with a malformed \"StirVerstat\", "
                      "call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    ctx->stir_verstat = ctx->stir_field;

    return NGX_OK;
}


/* 1 to 64 letters and digits, and "-" and "_" with "dash" */

static ngx_int_t
ngx_http_twanon_webhook_word(ngx_str_t *s, ngx_uint_t dash)
{
    u_char  c;
    size_t  i;

    if (s->len == 0 || s->len > 64) {
        return NGX_DECLINED;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            || (dash && (c == '-' || c == '_')))
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_variable_route(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t                    route;
    ngx_http_twanon_ctx_t        *ctx;
    ngx_http_twanon_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_twanon_module);

    route = ctx->verified ? ctx->route : NGX_HTTP_TWANON_ROUTE_REJECTED;

    ngx_http_twanon_variable_set(v, &mcf->routes[route]);

    return NGX_OK;
}
