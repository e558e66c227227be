
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_module.h"


static void ngx_http_twanon_incoming_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_incoming_verify(ngx_http_request_t *r,
    ngx_array_t *pairs);
static ngx_int_t ngx_http_twanon_webhook_url(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t ngx_http_twanon_resolver_start(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_resolver_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_twanon_incoming_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_incoming_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_incoming_dial(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities, ngx_array_t *params,
    ngx_str_t *twiml);
static ngx_int_t ngx_http_twanon_incoming_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *text);
static void ngx_http_twanon_incoming_field(ngx_array_t *pairs,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_twanon_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_twanon_resolver_deadline(ngx_event_t *ev);
static void ngx_http_twanon_deadline_cleanup(void *data);


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


static ngx_str_t  ngx_http_twanon_xml_type =
    ngx_string("text/xml; charset=utf-8");
static ngx_str_t  ngx_http_twanon_text_type =
    ngx_string("text/plain; charset=utf-8");


/*
 * A body filter that only watches: the resolver's reply is complete when
 * its last buffer passes (last_in_chain, from ngx_http_send_special()).
 * An upstream that breaks off after the header only flushes, so a
 * chunked reply cut at a chunk boundary is told from a whole one.
 */

ngx_int_t
ngx_http_twanon_incoming_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_twanon_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t            *cl;
    ngx_http_twanon_ctx_t  *ctx;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx != NULL && ctx->resolver == r) {
        for (cl = in; cl; cl = cl->next) {
            if (cl->buf->last_in_chain || cl->buf->last_buf) {
                ctx->complete = 1;
            }
        }
    }

    return ngx_http_next_body_filter(r, in);
}


ngx_int_t
ngx_http_twanon_incoming_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t              *type;
    ngx_http_twanon_ctx_t  *ctx;

    static ngx_str_t  allow = ngx_string("POST");
    static ngx_str_t  not_allowed = ngx_string("method not allowed\n");
    static ngx_str_t  unsupported =
        ngx_string("expected application/x-www-form-urlencoded\n");
    static ngx_str_t  too_large = ngx_string("request body too large\n");

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming handler");

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_twanon_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->route = NGX_HTTP_TWANON_ROUTE_REJECTED;

    ngx_http_set_ctx(r, ctx, ngx_http_twanon_module);

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_twanon_add_header(r, "Allow", &allow) == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_twanon_incoming_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                               &not_allowed);
    }

    type = r->headers_in.content_type ? &r->headers_in.content_type->value
                                      : NULL;

    if (type == NULL
        || type->len < sizeof("application/x-www-form-urlencoded") - 1
        || ngx_strncasecmp(type->data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           != 0
        || (type->len > sizeof("application/x-www-form-urlencoded") - 1
            && type->data[sizeof("application/x-www-form-urlencoded") - 1]
               != ';'
            && type->data[sizeof("application/x-www-form-urlencoded") - 1]
               != ' '))
    {
        return ngx_http_twanon_incoming_refuse(r,
                                           NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                           &unsupported);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_TWANON_WEBHOOK_BODY_MAX) {
        return ngx_http_twanon_incoming_refuse(r,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           &too_large);
    }

    rc = ngx_http_read_client_request_body(r,
                                        ngx_http_twanon_incoming_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_twanon_incoming_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t               body;
    ngx_array_t             pairs;
    ngx_http_twanon_ctx_t  *ctx;

    static ngx_str_t  too_large = ngx_string("request body too large\n");
    static ngx_str_t  malformed = ngx_string("malformed form body\n");
    static ngx_str_t  forbidden = ngx_string("forbidden\n");

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    rc = ngx_http_twanon_read_body(r, NGX_HTTP_TWANON_WEBHOOK_BODY_MAX,
                                   &body);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming body len:%uz rc:%i", body.len, rc);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twanon_incoming_refuse(r,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           &too_large);
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (ngx_array_init(&pairs, r->pool, 32, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_twanon_form_parse(r->pool, &body, &pairs,
                                    NGX_HTTP_TWANON_WEBHOOK_ARGS_MAX);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: malformed webhook body");
        rc = ngx_http_twanon_incoming_refuse(r, NGX_HTTP_BAD_REQUEST,
                                             &malformed);
        ngx_http_finalize_request(r, rc);
        return;
    }

    ngx_http_twanon_incoming_field(&pairs, "CallSid", &ctx->call_sid);
    ngx_http_twanon_incoming_field(&pairs, "From", &ctx->from);
    ngx_http_twanon_incoming_field(&pairs, "To", &ctx->to);

    rc = ngx_http_twanon_incoming_verify(r, &pairs);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twanon_incoming_refuse(r, NGX_HTTP_FORBIDDEN,
                                             &forbidden);
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx->route = NGX_HTTP_TWANON_ROUTE_ERROR;

    if (ngx_http_twanon_resolver_start(r, ctx) != NGX_OK) {
        ctx->done = 1;
        ctx->failed = 1;
        ngx_http_finalize_request(r, ngx_http_twanon_incoming_reply(r, ctx));
        return;
    }

    /*
     * The reply is sent from ngx_http_twanon_incoming_resume() once the
     * subrequest is done; the request stays referenced by it until then.
     */
}


/*
 * The X-Twilio-Signature check and the AccountSid check.  Failures are
 * logged with the CallSid only: never the signature, the URL's
 * parameters or the caller.
 */

static ngx_int_t
ngx_http_twanon_incoming_verify(ngx_http_request_t *r, ngx_array_t *pairs)
{
    ngx_int_t                    rc;
    ngx_str_t                    url, params, account, sid, *tokens;
    ngx_uint_t                   i, n;
    ngx_table_elt_t             *h;
    ngx_http_twanon_ctx_t       *ctx;
    ngx_http_complex_value_t    *cv;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    if (tlcf->account_sid) {
        if (ngx_http_complex_value(r, tlcf->account_sid, &account)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_twanon_incoming_field(pairs, "AccountSid", &sid);

        if (account.len
            && (sid.len != account.len
                || ngx_strncmp(sid.data, account.data, sid.len) != 0))
        {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "twanon: webhook for another account, "
                          "call \"%V\"", &ctx->call_sid);
            return NGX_DECLINED;
        }
    }

    if (!tlcf->verify_signature) {
        return NGX_OK;
    }

    h = ngx_http_twanon_header_in(r, "x-twilio-signature");

    if (h == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: missing or repeated signature header, "
                      "call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    n = tlcf->auth_tokens->nelts;

    tokens = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (tokens == NULL) {
        return NGX_ERROR;
    }

    cv = tlcf->auth_tokens->elts;

    for (i = 0; i < n; i++) {
        if (ngx_http_complex_value(r, &cv[i], &tokens[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (tokens[i].len == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "twanon: \"twanon_auth_token\" evaluated to "
                          "an empty value");
            return NGX_DECLINED;
        }
    }

    if (ngx_http_twanon_webhook_url(r, &url) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twanon_signature_params(r->pool, pairs, &params) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_twanon_signature_check(r->pool, &url, &params, tokens,
                                         tlcf->auth_macs, n, &h->value);

    if (rc == NGX_ERROR) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twanon: HMAC-SHA1 failed");
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: invalid signature, call \"%V\"",
                      &ctx->call_sid);
    }

    return rc;
}


/* the URL that Twilio signed: configured, or scheme://Host/request-URI */

static ngx_int_t
ngx_http_twanon_webhook_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char                      *p;
    ngx_str_t                    scheme, host;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->webhook_url) {
        return ngx_http_complex_value(r, tlcf->webhook_url, url);
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https://");

    } else
#endif
    {
        ngx_str_set(&scheme, "http://");
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        host = r->headers_in.server;
    }

    url->len = scheme.len + host.len + r->unparsed_uri.len;
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, scheme.data, scheme.len);

    if (host.len) {
        p = ngx_cpymem(p, host.data, host.len);
    }

    ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);

    return NGX_OK;
}


/*
 * The resolver subrequest: a POST to the configured location whose small
 * form body carries the caller (or its keyed hash) and the called number.
 * Nothing of the webhook is passed on: not its headers, not its body.
 */

static ngx_int_t
ngx_http_twanon_resolver_start(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    u_char                       *p;
    size_t                        len;
    ngx_buf_t                    *b;
    ngx_str_t                    *from, from_name;
    ngx_chain_t                  *cl;
    ngx_table_elt_t              *h;
    ngx_http_request_t           *sr;
    ngx_pool_cleanup_t           *cln;
    ngx_http_request_body_t      *rb;
    ngx_http_post_subrequest_t   *ps;
    ngx_http_twanon_loc_conf_t   *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->resolver_send == NGX_HTTP_TWANON_SEND_HASH) {
        if (ngx_http_twanon_caller_hash(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        from = &ctx->caller_hash;
        ngx_str_set(&from_name, "from_hash=");

    } else {
        from = &ctx->from;
        ngx_str_set(&from_name, "from_number=");
    }

    len = from_name.len + from->len
          + 2 * ngx_escape_uri(NULL, from->data, from->len, NGX_ESCAPE_ARGS)
          + sizeof("&to_number=") - 1 + ctx->to.len
          + 2 * ngx_escape_uri(NULL, ctx->to.data, ctx->to.len,
                               NGX_ESCAPE_ARGS);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(b->last, from_name.data, from_name.len);
    p = (u_char *) ngx_escape_uri(p, from->data, from->len, NGX_ESCAPE_ARGS);
    p = ngx_cpymem(p, "&to_number=", sizeof("&to_number=") - 1);
    p = (u_char *) ngx_escape_uri(p, ctx->to.data, ctx->to.len,
                                  NGX_ESCAPE_ARGS);
    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    rb->bufs = cl;
    rb->buf = b;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_twanon_resolver_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &tlcf->resolver, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");
    sr->request_body = rb;

    /* a fresh set of request headers: only what describes our body */

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Type");
    ngx_str_set(&h->value, "application/x-www-form-urlencoded");
    h->lowcase_key = (u_char *) "content-type";
#if (nginx_version >= 1023000)
    h->next = NULL;                 /* $content_type follows the chain */
#endif

    sr->headers_in.content_type = h;
    sr->headers_in.content_length = NULL;
    sr->headers_in.content_length_n = b->last - b->pos;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.chunked = 0;

    ctx->resolver = sr;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_twanon_deadline_cleanup;
    cln->data = ctx;

    ctx->deadline.handler = ngx_http_twanon_resolver_deadline;
    ctx->deadline.data = r;
    ctx->deadline.log = r->connection->log;

    ngx_add_timer(&ctx->deadline, tlcf->resolver_timeout);

    r->write_event_handler = ngx_http_twanon_incoming_resume;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon resolver subrequest \"%V\"", &tlcf->resolver);

    return NGX_OK;
}


/*
 * twanon_resolver_timeout: the whole lookup, however the resolver
 * location is set up.  proxy_read_timeout bounds the gaps between reads
 * only, and a reply that trickles in never trips it.  The upstream's
 * connection is made to time out as if its own timer had fired, so that
 * the upstream module ends the subrequest its usual way (a next server
 * or an error) and the caller hears the fallback.  The timer re-arms
 * until the subrequest is done, for upstreams that move to a next
 * server.
 */

static void
ngx_http_twanon_resolver_deadline(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_upstream_t         *u;
    ngx_http_twanon_ctx_t       *ctx;
    ngx_http_twanon_loc_conf_t  *tlcf;

    r = ev->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    if (ctx->done) {
        return;
    }

    if (!ctx->timed_out) {
        tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: resolver \"%V\" did not answer within %M ms, "
                      "call \"%V\"", &tlcf->resolver, tlcf->resolver_timeout,
                      &ctx->call_sid);

        ctx->timed_out = 1;
        ctx->failed = 1;
    }

    ngx_add_timer(ev, 100);

    u = ctx->resolver->upstream;

    if (u == NULL || u->peer.connection == NULL) {
        return;
    }

    c = u->peer.connection;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    c->read->timedout = 1;

    /* this may end the webhook request: nothing is touched after it */

    c->read->handler(c->read);
}


static void
ngx_http_twanon_deadline_cleanup(void *data)
{
    ngx_http_twanon_ctx_t  *ctx = data;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }
}


/*
 * Runs as the subrequest ends, possibly more than once (again after
 * nginx has made an error page): it only records what happened.
 *
 * A filter error inside the in-memory subrequest, such as a reply over
 * subrequest_output_buffer_size, makes ngx_http_output_filter() set
 * c->error, which would close the webhook connection without a reply.
 * Nothing has been written to the client while the subrequest ran, so
 * the error is the resolver's, not the client's: it is cleared, and the
 * caller hears the fallback.
 */

static ngx_int_t
ngx_http_twanon_resolver_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_twanon_ctx_t  *ctx = data;

    off_t  len;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon resolver done s:%ui rc:%i e:%ui",
                   r->headers_out.status, rc,
                   (ngx_uint_t) r->connection->error);

    if (rc == NGX_ERROR || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || rc >= NGX_HTTP_SPECIAL_RESPONSE || r->connection->error)
    {
        ctx->failed = 1;
    }

    if (ctx->status == 0) {
        ctx->status = r->headers_out.status;

        if (ctx->status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            ctx->status = rc;
        }
    }

    ctx->reply = (r->out && r->out->buf) ? r->out->buf : NULL;

    /* a reply cut short of its Content-Length or of its last chunk */

    len = ctx->reply ? ctx->reply->last - ctx->reply->pos : 0;

    if (!ctx->complete
        || (r->headers_out.content_length_n >= 0
            && r->headers_out.content_length_n != len))
    {
        ctx->failed = 1;
    }

    ctx->done = 1;

    if (rc == NGX_ERROR || r->connection->error) {
        r->connection->error = 0;
        return NGX_OK;
    }

    return rc;
}


static void
ngx_http_twanon_incoming_resume(ngx_http_request_t *r)
{
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming resume done:%ui", (ngx_uint_t) ctx->done);

    if (!ctx->done || ctx->replied) {
        return;
    }

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_twanon_incoming_reply(r, ctx));
}


/*
 * Always TwiML with 200 once the request is verified: the routed dial
 * when the resolver named valid identities, the fallback otherwise.
 */

static ngx_int_t
ngx_http_twanon_incoming_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    reply, twiml;
    ngx_array_t                  identities, params;
    const char                  *reason;
    ngx_http_twanon_pair_t      *param;
    ngx_http_twanon_route_t      route;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ctx->replied = 1;
    reason = NULL;
    rc = NGX_DECLINED;

    if (ctx->failed) {
        reason = "failed or was cut short";

    } else if (ctx->status == NGX_HTTP_NOT_FOUND) {
        reason = "caller unknown";
        ctx->route = NGX_HTTP_TWANON_ROUTE_UNKNOWN;

    } else if (ctx->status != NGX_HTTP_OK) {
        reason = "unexpected status";

    } else {
        ngx_str_null(&reply);

        if (ctx->reply) {
            reply.data = ctx->reply->pos;
            reply.len = ctx->reply->last - ctx->reply->pos;
        }

        rc = ngx_http_twanon_route_parse(r->pool, &reply,
                                         &tlcf->identity_field,
                                         tlcf->client_params,
                                         tlcf->identity_regex, &route,
                                         &reason);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (rc == NGX_OK) {
        rc = ngx_http_twanon_incoming_dial(r, ctx, &route.identities,
                                           &route.params, &twiml);
        if (rc == NGX_DECLINED) {
            return ngx_http_twanon_send(r, NGX_HTTP_OK,
                                        &ngx_http_twanon_xml_type,
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

    if (ctx->route == NGX_HTTP_TWANON_ROUTE_UNKNOWN) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: caller unknown to the resolver, "
                      "serving the fallback, call \"%V\"", &ctx->call_sid);

    } else if (ctx->status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {

        /* the client went away during the lookup: its fault, not ours */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: client closed the connection during the "
                      "lookup, call \"%V\"", &ctx->call_sid);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: resolver \"%V\" %s (status %ui), "
                      "serving the fallback, call \"%V\"",
                      &tlcf->resolver, reason, ctx->status, &ctx->call_sid);
    }

    if (tlcf->fallback_clients == NULL) {
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    if (ngx_array_init(&params, r->pool, 1, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param = ngx_array_push(&params);
    if (param == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&param->key, "customerName");
    ngx_str_set(&param->value, "Unknown caller");

    identities = *tlcf->fallback_clients;

    rc = ngx_http_twanon_incoming_dial(r, ctx, &identities, &params, &twiml);

    if (rc == NGX_DECLINED) {
        return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                    &tlcf->fallback);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_xml_type,
                                &twiml);
}


static ngx_int_t
ngx_http_twanon_incoming_dial(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *identities, ngx_array_t *params,
    ngx_str_t *twiml)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                   *id;
    ngx_uint_t                   i;
    ngx_http_twanon_dial_t       dial;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ngx_memzero(&dial, sizeof(ngx_http_twanon_dial_t));

    dial.identities = identities;
    dial.params = params;
    dial.action = tlcf->dial_action;
    dial.time_limit = tlcf->dial_time_limit;
    dial.timeout = tlcf->dial_timeout;
    dial.answer_on_bridge = tlcf->answer_on_bridge;

    switch (tlcf->caller_id_mode) {

    case NGX_HTTP_TWANON_CALLER_ID_TO:
        dial.caller_id = ctx->to;
        break;

    case NGX_HTTP_TWANON_CALLER_ID_VALUE:
        if (ngx_http_complex_value(r, tlcf->caller_id, &dial.caller_id)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        /*
         * Without callerId the browser would be shown the caller's own
         * number: an empty value falls back to the called number.
         */

        if (dial.caller_id.len == 0) {
            dial.caller_id = ctx->to;
        }

        break;

    default: /* NGX_HTTP_TWANON_CALLER_ID_OFF */
        break;
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

    /* $twanon_client_identity */

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

    return ngx_http_twanon_twiml_dial(r->pool, &dial, twiml);
}


static ngx_int_t
ngx_http_twanon_incoming_refuse(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_twanon_send(r, status, &ngx_http_twanon_text_type, text);
}


/*
 * A field of the webhook; missing or repeated reads as empty.  A CallSid
 * is only kept when it looks like one, so that it can be logged.
 */

static void
ngx_http_twanon_incoming_field(ngx_array_t *pairs, const char *name,
    ngx_str_t *value)
{
    size_t     i;
    ngx_str_t  key;

    key.data = (u_char *) name;
    key.len = ngx_strlen(name);

    if (ngx_http_twanon_form_get(pairs, &key, value) != NGX_OK) {
        ngx_str_null(value);
        return;
    }

    if (ngx_strcmp(name, "CallSid") != 0) {
        return;
    }

    if (value->len > 64) {
        ngx_str_null(value);
        return;
    }

    for (i = 0; i < value->len; i++) {
        if (!((value->data[i] >= '0' && value->data[i] <= '9')
              || (value->data[i] >= 'a' && value->data[i] <= 'z')
              || (value->data[i] >= 'A' && value->data[i] <= 'Z')))
        {
            ngx_str_null(value);
            return;
        }
    }
}


/* $twanon_caller_hash: hex HMAC-SHA256 of the caller under the hash key */

ngx_int_t
ngx_http_twanon_caller_hash(ngx_http_request_t *r, ngx_http_twanon_ctx_t *ctx)
{
    ngx_str_t                    key;
    ngx_http_twanon_loc_conf_t  *tlcf;

    if (ctx->caller_hash.len) {
        return NGX_OK;
    }

    tlcf = ngx_http_get_module_loc_conf(r->main, ngx_http_twanon_module);

    if (tlcf->hash_key == NULL || ctx->from.data == NULL) {
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

    if (ngx_http_twanon_hmac_hex(r->pool, &tlcf->hash_mac, &key, &ctx->from,
                                 &ctx->caller_hash)
        != NGX_OK)
    {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twanon: HMAC-SHA256 failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}
