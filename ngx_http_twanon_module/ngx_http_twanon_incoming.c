
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
static ngx_http_request_body_t *ngx_http_twanon_resolver_body(
    ngx_http_request_t *r, ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_resolver_request(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_request_body_t *rb);
static ngx_int_t ngx_http_twanon_resolver_arm(ngx_http_request_t *r,
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
static ngx_int_t ngx_http_twanon_incoming_fields(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs);
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
 * The module is an HTTP_FILTER module (see "config"), so that its body
 * filter has the same place in a static build as in a dynamic one: above
 * the postpone filter, which keeps an in-memory subrequest's reply.  It
 * only looks at the resolver subrequest of a webhook:
 *
 *   - the reply is complete when its last buffer passes (last_in_chain,
 *     from ngx_http_send_special()); an upstream that breaks off after
 *     the header only flushes, so a chunked reply cut at a chunk
 *     boundary is told from a whole one;
 *
 *   - a reply larger than the location's subrequest_output_buffer_size
 *     is marked too big and dropped here.  Passed on, it would make the
 *     postpone filter return NGX_ERROR, and ngx_http_output_filter() set
 *     the error flag of the client's connection, which belongs to the
 *     client alone.
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
    off_t                      size;
    ngx_chain_t               *cl;
    ngx_http_twanon_ctx_t     *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    if (r == r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL || ctx->resolver != r) {
        return ngx_http_next_body_filter(r, in);
    }

    size = 0;

    for (cl = in; cl; cl = cl->next) {
        if (cl->buf->last_in_chain || cl->buf->last_buf) {
            ctx->complete = 1;
        }

        size += ngx_buf_size(cl->buf);
    }

    if (!ctx->too_big) {
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        ctx->received += size;

        if (ctx->received > (off_t) clcf->subrequest_output_buffer_size
            || r->headers_out.content_length_n
               > (off_t) clcf->subrequest_output_buffer_size)
        {
            ctx->too_big = 1;
        }
    }

    if (!ctx->too_big) {
        return ngx_http_next_body_filter(r, in);
    }

    /* dropped: marked as sent, so that the upstream reads on to its end */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
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

    /*
     * A body over NGX_HTTP_TWANON_WEBHOOK_BODY_MAX never gets here: the
     * location's client_max_body_size is capped at that size when the
     * configuration loads, so nginx itself answers 413 for a declared
     * length before reading anything (and before "100 Continue"), and
     * stops reading a chunked or HTTP/2 body at the limit.
     */

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
    static ngx_str_t  empty = ngx_string("empty webhook body\n");
    static ngx_str_t  invalid = ngx_string("invalid webhook fields\n");
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

    if (body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: empty webhook body");
        rc = ngx_http_twanon_incoming_refuse(r, NGX_HTTP_BAD_REQUEST, &empty);
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

    if (ngx_http_twanon_incoming_fields(r, ctx, &pairs) != NGX_OK) {
        rc = ngx_http_twanon_incoming_refuse(r, NGX_HTTP_BAD_REQUEST,
                                             &invalid);
        ngx_http_finalize_request(r, rc);
        return;
    }

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

        sid = ctx->account_sid;

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
 * Nothing of the webhook is passed on: not its headers, not its body, not
 * the values of its variables.
 */

static ngx_int_t
ngx_http_twanon_resolver_start(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_http_request_t          *sr;
    ngx_http_request_body_t     *rb;
    ngx_http_post_subrequest_t  *ps;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    rb = ngx_http_twanon_resolver_body(r, ctx);
    if (rb == NULL) {
        return NGX_ERROR;
    }

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

    if (ngx_http_twanon_resolver_request(r, sr, rb) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->resolver = sr;

    if (ngx_http_twanon_resolver_arm(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    r->write_event_handler = ngx_http_twanon_incoming_resume;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon resolver subrequest \"%V\"", &tlcf->resolver);

    return NGX_OK;
}


/* from_number= or from_hash=, and to_number=, escaped as form values */

static ngx_http_request_body_t *
ngx_http_twanon_resolver_body(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    u_char                      *p;
    size_t                       len;
    ngx_buf_t                   *b;
    ngx_str_t                   *from, from_name;
    ngx_chain_t                 *cl;
    ngx_http_request_body_t     *rb;
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

    len = from_name.len + from->len
          + 2 * ngx_escape_uri(NULL, from->data, from->len, NGX_ESCAPE_ARGS)
          + sizeof("&to_number=") - 1 + ctx->to.len
          + 2 * ngx_escape_uri(NULL, ctx->to.data, ctx->to.len,
                               NGX_ESCAPE_ARGS);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
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


/*
 * ngx_http_subrequest() copies the webhook's headers_in and shares its
 * cache of variable values.  The resolver gets headers of its own, with
 * only what describes its body, and an empty cache: $http_user_agent,
 * $cookie_*, $host, $proxy_add_x_forwarded_for and the like are then
 * the resolver request's own (empty, or the server's name for $host),
 * never the webhook's.
 */

static ngx_int_t
ngx_http_twanon_resolver_request(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_request_body_t *rb)
{
    ngx_table_elt_t            *h;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (nginx_version < 1023000)

    if (ngx_array_init(&sr->headers_in.cookies, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_X_FORWARDED_FOR)
    if (ngx_array_init(&sr->headers_in.x_forwarded_for, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

#endif

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
    sr->headers_in.content_length_n = rb->buf->last - rb->buf->pos;
    sr->headers_in.keep_alive_n = -1;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pcalloc(r->pool, cmcf->variables.nelts
                                         * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_resolver_arm(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_pool_cleanup_t          *cln;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

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

    return NGX_OK;
}


/*
 * twanon_resolver_timeout: one timer for the whole lookup, however the
 * resolver location is set up.  proxy_read_timeout and its kin bound the
 * gaps between reads only, and a reply that trickles in never trips
 * them.  When the timer fires the subrequest is ended the way nginx ends
 * one: an upstream still at work is stopped by its own cleanup handler
 * (which closes its connection, frees the peer and, as it does when a
 * request is terminated, drops the reference the subrequest holds on the
 * webhook request; that reference is taken again for the subrequest's
 * own end), and the subrequest is finalized with NGX_ERROR, which
 * ngx_http_twanon_resolver_done() records as a failed lookup.
 */

static void
ngx_http_twanon_resolver_deadline(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_request_t          *r, *sr;
    ngx_http_upstream_t         *u;
    ngx_http_twanon_ctx_t       *ctx;
    ngx_http_twanon_loc_conf_t  *tlcf;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    if (ctx->done) {
        return;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "twanon: resolver \"%V\" did not answer within %M ms, "
                  "call \"%V\"", &tlcf->resolver, tlcf->resolver_timeout,
                  &ctx->call_sid);

    ctx->timed_out = 1;
    ctx->failed = 1;

    sr = ctx->resolver;
    u = sr->upstream;

    if (u != NULL && u->cleanup != NULL) {
        r->main->count++;
        (*u->cleanup)(sr);
    }

    ngx_http_finalize_request(sr, NGX_ERROR);
    ngx_http_run_posted_requests(c);
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
 * nginx has made an error page), and only records what happened.
 *
 * An upstream that fails after its header ends the subrequest with
 * NGX_ERROR, which would terminate the webhook request without a reply:
 * the failure is the resolver's, recorded here, and the subrequest ends
 * as done (NGX_OK) so that the caller hears the fallback.  The client's
 * connection is never touched: when the client went away (c->error) the
 * request is terminated by nginx, and nothing is sent.
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
        || rc >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        ctx->failed = 1;
    }

    if ((r->connection->error || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST)
        && !ctx->done)
    {
        /* the client's doing: nginx ends the request, nothing is sent */

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: client closed the connection during the "
                      "lookup, call \"%V\"", &ctx->call_sid);
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
        || ctx->too_big
        || (r->headers_out.content_length_n >= 0
            && r->headers_out.content_length_n != len))
    {
        ctx->failed = 1;
    }

    ctx->done = 1;

    if (rc == NGX_ERROR && !r->connection->error) {
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
 * The fields the module reads.  Twilio sends each of them once at most,
 * and always a CallSid: a repeated one, or a CallSid that is missing or
 * does not look like one, is the client's error (NGX_DECLINED).  Kept
 * as they were, two readers of a doubled field could disagree, and an
 * appended exact copy keeps the signature valid.
 */

static ngx_int_t
ngx_http_twanon_incoming_fields(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs)
{
    size_t                   i;
    ngx_uint_t               n, k, seen[4];
    ngx_str_t               *value[4];
    ngx_http_twanon_pair_t  *pair;

    static ngx_str_t  names[] = {
        ngx_string("CallSid"),
        ngx_string("From"),
        ngx_string("To"),
        ngx_string("AccountSid")
    };

    value[0] = &ctx->call_sid;
    value[1] = &ctx->from;
    value[2] = &ctx->to;
    value[3] = &ctx->account_sid;

    ngx_memzero(seen, sizeof(seen));

    pair = pairs->elts;

    for (n = 0; n < pairs->nelts; n++) {
        for (k = 0; k < 4; k++) {
            if (pair[n].key.len != names[k].len
                || ngx_memcmp(pair[n].key.data, names[k].data,
                              names[k].len) != 0)
            {
                continue;
            }

            if (seen[k]++) {
                ngx_str_null(&ctx->call_sid);
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "twanon: webhook repeats \"%V\"", &names[k]);
                return NGX_DECLINED;
            }

            *value[k] = pair[n].value;
            break;
        }
    }

    if (!seen[0]) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook without \"CallSid\"");
        return NGX_DECLINED;
    }

    for (i = 0; i < ctx->call_sid.len; i++) {
        if (!((ctx->call_sid.data[i] >= '0' && ctx->call_sid.data[i] <= '9')
              || (ctx->call_sid.data[i] >= 'a'
                  && ctx->call_sid.data[i] <= 'z')
              || (ctx->call_sid.data[i] >= 'A'
                  && ctx->call_sid.data[i] <= 'Z')))
        {
            break;
        }
    }

    if (ctx->call_sid.len == 0 || ctx->call_sid.len > 64
        || i != ctx->call_sid.len)
    {
        ngx_str_null(&ctx->call_sid);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook with a malformed \"CallSid\"");
        return NGX_DECLINED;
    }

    return NGX_OK;
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
