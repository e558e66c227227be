
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * "twanon_after_dial": the action of a <Dial> that rang operators
 * (docs/webhook.md, "The after-dial step").
 */


/* the most of an unknown DialCallStatus that a log line shows */
#define NGX_HTTP_TWANON_SHOWN_MAX  32

/* its index in ngx_http_twanon_dial_statuses[] */
#define NGX_HTTP_TWANON_NO_ANSWER  4

/* its routes, from ngx_http_twanon_after_dial.route; or the next attempt */
#define NGX_HTTP_TWANON_ANSWERED   0
#define NGX_HTTP_TWANON_CANCELED   1
#define NGX_HTTP_TWANON_EXHAUSTED  2
#define NGX_HTTP_TWANON_RING_NEXT  3


static ngx_int_t ngx_http_twanon_after_dial_handler(ngx_http_request_t *r);
static char *ngx_http_twanon_after_dial_check(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_after_dial_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static u_char *ngx_http_twanon_after_dial_shown(u_char *p,
    ngx_str_t *value);
static ngx_int_t ngx_http_twanon_after_dial_attempt(ngx_http_request_t *r,
    ngx_uint_t *attempt);
static ngx_int_t ngx_http_twanon_after_dial_action(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_after_dial_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);


static ngx_http_variable_t  ngx_http_twanon_after_dial_variables[] = {

    { ngx_string("twanon_dial_status"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, dial_status),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  route;
} ngx_http_twanon_dial_status_t;


/* Twilio's DialCallStatus values, and what each one leads to */

static ngx_http_twanon_dial_status_t  ngx_http_twanon_dial_statuses[] = {
    { ngx_string("completed"), NGX_HTTP_TWANON_ANSWERED },
    { ngx_string("answered"), NGX_HTTP_TWANON_ANSWERED },
    { ngx_string("canceled"), NGX_HTTP_TWANON_CANCELED },
    { ngx_string("busy"), NGX_HTTP_TWANON_RING_NEXT },
    { ngx_string("no-answer"), NGX_HTTP_TWANON_RING_NEXT },
    { ngx_string("failed"), NGX_HTTP_TWANON_RING_NEXT },
    { ngx_null_string, 0 }
};


static ngx_str_t  ngx_http_twanon_hangup = ngx_string(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Response><Hangup/></Response>\n");


static ngx_http_twanon_field_t  ngx_http_twanon_after_dial_fields[] = {
    { ngx_string("StirVerstat"),
      offsetof(ngx_http_twanon_ctx_t, stir_field), 0 },
    { ngx_string("DialCallStatus"),
      offsetof(ngx_http_twanon_ctx_t, dial_field), 0 },
    { ngx_string("CallStatus"),
      offsetof(ngx_http_twanon_ctx_t, call_status), 0 },
    { ngx_null_string, 0, 0 }
};


static ngx_str_t  ngx_http_twanon_after_dial_routes[] = {
    ngx_string("answered"),
    ngx_string("canceled"),
    ngx_string("exhausted"),
    ngx_null_string
};


ngx_http_twanon_handler_t  ngx_http_twanon_after_dial = {
    ngx_string("twanon_after_dial"),
    ngx_string("after_dial"),
    ngx_http_twanon_after_dial_handler,
    NGX_HTTP_TWANON_WEBHOOK|NGX_HTTP_TWANON_ATTEMPT,
    ngx_http_twanon_after_dial_check,
    NULL,
    ngx_http_twanon_after_dial_fields,
    ngx_http_twanon_after_dial_verified,
    ngx_http_twanon_after_dial_reply,
    ngx_http_twanon_after_dial_routes,
    ngx_http_twanon_after_dial_variables,
    ngx_string(NGX_HTTP_TWANON_FALLBACK_SAY),
    0, 0
};


static ngx_int_t
ngx_http_twanon_after_dial_handler(ngx_http_request_t *r)
{
    return ngx_http_twanon_webhook_handler(r, &ngx_http_twanon_after_dial);
}


/*
 * A configured URL is signed with the attempt appended: it must have
 * none of its own.
 */

static char *
ngx_http_twanon_after_dial_check(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    char  *reason;

    if (ngx_http_twanon_check_webhook(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->webhook_url == NULL || conf->webhook_url->lengths != NULL) {
        return NGX_CONF_OK;
    }

    reason = ngx_http_twanon_action_query(&conf->webhook_url->value);

    if (reason) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_webhook_url\" \"%V\" of "
                      "\"twanon_after_dial\" in %V:%ui %s",
                      &conf->webhook_url->value, &conf->where.file,
                      conf->where.line, reason);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * NGX_DONE to hang up or serve the fallback, NGX_OK to look up the next
 * attempt, NGX_DECLINED (400); an unknown status is taken as "no-answer".
 */

static ngx_int_t
ngx_http_twanon_after_dial_verified(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    u_char                         *p;
    ngx_str_t                       shown;
    ngx_uint_t                      attempt;
    ngx_http_twanon_loc_conf_t     *tlcf;
    ngx_http_twanon_dial_status_t  *s;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ctx->own_action = 1;

    if (ctx->dial_field.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: after-dial webhook with no "
                      "\"DialCallStatus\", call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    if (ngx_http_twanon_webhook_stir(r, ctx) != NGX_OK) {
        return NGX_DECLINED;
    }

    for (s = ngx_http_twanon_dial_statuses; s->name.len; s++) {
        if (s->name.len == ctx->dial_field.len
            && ngx_strncmp(s->name.data, ctx->dial_field.data,
                           s->name.len) == 0)
        {
            break;
        }
    }

    if (s->name.len == 0) {
        p = ngx_pnalloc(r->pool, NGX_HTTP_TWANON_SHOWN_MAX * 4 + 3);
        if (p == NULL) {
            return NGX_ERROR;
        }

        shown.data = p;
        shown.len = ngx_http_twanon_after_dial_shown(p, &ctx->dial_field)
                    - p;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: after-dial webhook with an unknown "
                      "\"DialCallStatus\" \"%V\", taken as \"no-answer\", "
                      "call \"%V\"", &shown, &ctx->call_sid);

        s = &ngx_http_twanon_dial_statuses[NGX_HTTP_TWANON_NO_ANSWER];
    }

    /* from now on, the name is ours: it may go to logs and the resolver */

    ctx->dial_status = s->name;

    if (ngx_http_twanon_after_dial_attempt(r, &attempt) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: after-dial webhook with an invalid "
                      "\"attempt\", call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    if (s->route != NGX_HTTP_TWANON_RING_NEXT) {
        ctx->route = ngx_http_twanon_after_dial.route + s->route;
        ctx->hangup = 1;
        return NGX_DONE;
    }

    /* the caller hung up while the dial rang: nobody to ring for */

    if ((ctx->call_status.len == sizeof("completed") - 1
         && ngx_strncmp(ctx->call_status.data, "completed",
                        sizeof("completed") - 1) == 0)
        || (ctx->call_status.len == sizeof("canceled") - 1
            && ngx_strncmp(ctx->call_status.data, "canceled",
                           sizeof("canceled") - 1) == 0))
    {
        ctx->route = ngx_http_twanon_after_dial.route
                     + NGX_HTTP_TWANON_CANCELED;
        ctx->hangup = 1;
        return NGX_DONE;
    }

    if ((ngx_int_t) attempt >= tlcf->dial_attempts) {
        if ((ngx_int_t) attempt > tlcf->dial_attempts) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: after-dial webhook with attempt %ui, "
                          "above \"twanon_dial_attempts\" %i, call \"%V\"",
                          attempt, tlcf->dial_attempts, &ctx->call_sid);
        }

        ctx->route = ngx_http_twanon_after_dial.route
                     + NGX_HTTP_TWANON_EXHAUSTED;
        return NGX_DONE;
    }

    ctx->attempt = attempt + 1;

    if (ngx_http_twanon_after_dial_action(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * At most NGX_HTTP_TWANON_SHOWN_MAX bytes of a peer's value, for a log
 * line: printable ASCII as it is, other bytes, quotes and backslashes
 * as \xNN, then "..." if cut.
 */

static u_char *
ngx_http_twanon_after_dial_shown(u_char *p, ngx_str_t *value)
{
    u_char      c;
    ngx_uint_t  i, n;

    static u_char  hex[] = "0123456789abcdef";

    n = ngx_min(value->len, NGX_HTTP_TWANON_SHOWN_MAX);

    for (i = 0; i < n; i++) {
        c = value->data[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            *p++ = c;
            continue;
        }

        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0xf];
    }

    if (value->len > n) {
        p = ngx_cpymem(p, "...", 3);
    }

    return p;
}


/*
 * The attempt whose dial ended: 1 without "attempt" in the query, else
 * its value, 2 or more, given once; NGX_DECLINED if not.
 */

static ngx_int_t
ngx_http_twanon_after_dial_attempt(ngx_http_request_t *r,
    ngx_uint_t *attempt)
{
    u_char     *p, *last, *start, *end;
    ngx_int_t   n;
    ngx_uint_t  seen;

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

            if (seen++ || n < 2 || *start == '0') {
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


/*
 * The next dial's action, with the attempt it rings: twanon_dial_action,
 * or, without it, the last segment of the request's own path and its
 * query less the attempt, a relative URL that Twilio resolves against
 * the one it requested (docs/webhook.md, "The after-dial step").
 */

static ngx_int_t
ngx_http_twanon_after_dial_action(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    u_char                      *p, *q, *last, *end;
    ngx_str_t                    action, path, args;
    ngx_uint_t                   query;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->dial_action.len) {
        action = tlcf->dial_action;
        ngx_str_null(&args);

    } else {
        /* the URI as sent: a rewrite may have changed r->args */

        path = r->unparsed_uri;
        ngx_str_null(&args);

        q = ngx_strlchr(path.data, path.data + path.len, '?');

        if (q) {
            args.data = q + 1;
            args.len = path.data + path.len - args.data;
            path.len = q - path.data;
        }

        for (p = path.data + path.len; p > path.data; p--) {
            if (p[-1] == '/') {
                break;
            }
        }

        action.data = p;
        action.len = path.data + path.len - p;
    }

    ctx->action.data = ngx_pnalloc(r->pool, sizeof("./") - 1 + action.len
                                            + 1 + args.len
                                            + sizeof("&attempt=") - 1
                                            + NGX_INT_T_LEN);
    if (ctx->action.data == NULL) {
        return NGX_ERROR;
    }

    p = ctx->action.data;

    /* a segment with ":" would be read as a scheme */

    if (tlcf->dial_action.len == 0
        && ngx_strlchr(action.data, action.data + action.len, ':'))
    {
        p = ngx_cpymem(p, "./", 2);
    }

    p = ngx_cpymem(p, action.data, action.len);

    query = (ngx_strlchr(action.data, action.data + action.len, '?') != NULL);

    /* the request's own query, its attempt left out */

    q = args.data;
    last = args.data + args.len;

    while (q < last) {
        end = ngx_strlchr(q, last, '&');
        if (end == NULL) {
            end = last;
        }

        if (!(end - q >= 7 && ngx_strncmp(q, "attempt", 7) == 0
              && (end - q == 7 || q[7] == '=')))
        {
            *p++ = query++ ? '&' : '?';
            p = ngx_cpymem(p, q, end - q);
        }

        q = end + 1;
    }

    p = ngx_sprintf(p, "%cattempt=%ui", query ? '&' : '?', ctx->attempt);

    ctx->action.len = p - ctx->action.data;

    return NGX_OK;
}


/* hang up, the fallback when no attempt is left, or the next dial */

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

        return ngx_http_twanon_dial_fallback(r, ctx);
    }

    return ngx_http_twanon_dial_reply(r, ctx);
}
