
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_module.h"


/*
 * "twanon_after_dial": Twilio's request to the action URL of a <Dial>
 * that rang operators.  Verified as the incoming-call webhook is; then
 * an answered call is hung up, a canceled one too, and one that nobody
 * answered rings the next attempt's operators, by a second lookup, or
 * gets the fallback.  The attempt that just ended travels in the action
 * URL's query ("?attempt=N", none for the first), which Twilio signs.
 */


static ngx_int_t ngx_http_twanon_after_dial_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_after_dial_attempt(ngx_http_request_t *r,
    ngx_uint_t *attempt);
static ngx_int_t ngx_http_twanon_after_dial_action(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_after_dial_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  route;          /* 0: ring the next */
} ngx_http_twanon_dial_status_t;


/* Twilio's DialCallStatus values, and what each one leads to */

static ngx_http_twanon_dial_status_t  ngx_http_twanon_dial_statuses[] = {
    { ngx_string("completed"), NGX_HTTP_TWANON_ROUTE_ANSWERED },
    { ngx_string("answered"), NGX_HTTP_TWANON_ROUTE_ANSWERED },
    { ngx_string("canceled"), NGX_HTTP_TWANON_ROUTE_CANCELED },
    { ngx_string("busy"), 0 },
    { ngx_string("no-answer"), 0 },
    { ngx_string("failed"), 0 },
    { ngx_null_string, 0 }
};


static ngx_str_t  ngx_http_twanon_hangup = ngx_string(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Response><Hangup/></Response>\n");


ngx_int_t
ngx_http_twanon_after_dial_handler(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon after-dial handler");

    return ngx_http_twanon_webhook_handler(r,
                                           ngx_http_twanon_after_dial_verified,
                                           ngx_http_twanon_after_dial_reply);
}


/*
 * What the dial's outcome leads to: NGX_DONE to hang up or to serve the
 * fallback at once, NGX_OK to look the caller up for the next attempt,
 * NGX_DECLINED (400) for a missing or unknown DialCallStatus or an
 * invalid attempt.
 */

static ngx_int_t
ngx_http_twanon_after_dial_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_uint_t                      attempt;
    ngx_http_twanon_loc_conf_t     *tlcf;
    ngx_http_twanon_dial_status_t  *s;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ctx->after_dial = 1;

    for (s = ngx_http_twanon_dial_statuses; s->name.len; s++) {
        if (s->name.len == ctx->dial_status.len
            && ngx_strncmp(s->name.data, ctx->dial_status.data,
                           s->name.len) == 0)
        {
            break;
        }
    }

    if (s->name.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: after-dial webhook with %s \"DialCallStatus\", "
                      "call \"%V\"",
                      ctx->dial_status.data ? "an unknown" : "no",
                      &ctx->call_sid);
        ngx_str_null(&ctx->dial_status);
        return NGX_DECLINED;
    }

    /* from now on, the name is ours: it may go to logs and the resolver */

    ctx->dial_status = s->name;

    if (ngx_http_twanon_after_dial_attempt(r, &attempt) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: after-dial webhook with an invalid "
                      "\"attempt\", call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    if (s->route) {
        ctx->route = s->route;
        ctx->hangup = 1;
        return NGX_DONE;
    }

    if ((ngx_int_t) attempt >= tlcf->dial_attempts) {
        ctx->route = NGX_HTTP_TWANON_ROUTE_EXHAUSTED;
        return NGX_DONE;
    }

    ctx->attempt = attempt + 1;

    if (ngx_http_twanon_after_dial_action(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The attempt whose dial ended: 1 without "attempt" in the query, else
 * its value, 2 to twanon_dial_attempts, given once; NGX_DECLINED if not.
 */

static ngx_int_t
ngx_http_twanon_after_dial_attempt(ngx_http_request_t *r,
    ngx_uint_t *attempt)
{
    u_char                      *p, *last, *start, *end;
    ngx_int_t                    n;
    ngx_uint_t                   seen;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    *attempt = 1;
    seen = 0;

    p = r->args.data;
    last = r->args.data + r->args.len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        if (end - p > 8 && ngx_strncmp(p, "attempt=", 8) == 0) {
            start = p + 8;
            n = ngx_atoi(start, end - start);

            if (seen++ || n < 2 || n > tlcf->dial_attempts
                || *start == '0')
            {
                return NGX_DECLINED;
            }

            *attempt = n;

        } else if (end - p >= 7 && ngx_strncmp(p, "attempt", 7) == 0
                   && (end - p == 7 || p[7] == '='))
        {
            return NGX_DECLINED;
        }

        if (end == last) {
            break;
        }

        p = end + 1;
    }

    return NGX_OK;
}


/* the next dial's action: this location's, with the attempt it rings */

static ngx_int_t
ngx_http_twanon_after_dial_action(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    u_char                      *p;
    ngx_str_t                   *action;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    action = &tlcf->dial_action;

    ctx->action.data = ngx_pnalloc(r->pool, action->len
                                            + sizeof("&attempt=") - 1
                                            + NGX_INT_T_LEN);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->action.data, action->data, action->len);

    p = ngx_sprintf(p, "%sattempt=%ui",
                    ngx_strlchr(action->data, action->data + action->len,
                                '?')
                    ? "&" : "?",
                    ctx->attempt);

    ctx->action.len = p - ctx->action.data;

    return NGX_OK;
}


/*
 * Hang up, serve the fallback when no attempt is left, or reply as the
 * incoming-call webhook does: the next attempt's dial, whose action
 * carries its number, or the fallback.  A fallback that rings browsers
 * has no action here: nothing comes after it.
 */

static ngx_int_t
ngx_http_twanon_after_dial_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ctx->replied = 1;

    if (ctx->hangup) {
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &ngx_http_twanon_hangup);
    }

    if (ctx->attempt == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: no attempt left after \"%V\", serving the "
                      "fallback, call \"%V\"", &ctx->dial_status,
                      &ctx->call_sid);

        return ngx_http_twanon_incoming_fallback(r, ctx);
    }

    return ngx_http_twanon_incoming_reply(r, ctx);
}
