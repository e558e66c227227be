
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * The resolver lookup of a verified webhook: an in-memory subrequest to
 * the configured location, with a small form body of its own, one
 * deadline for the whole lookup, a body filter that watches its reply,
 * and the resume that hands the outcome to the handler's own reply
 * function (ctx->reply_handler), so that nothing here calls back up.
 */


static ngx_int_t ngx_http_twanon_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_buf_t *ngx_http_twanon_resolver_form(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_http_request_body_t *ngx_http_twanon_resolver_body(
    ngx_http_request_t *r, ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_resolver_request(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_request_body_t *rb);
static ngx_int_t ngx_http_twanon_resolver_arm(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static void ngx_http_twanon_resolver_deadline(ngx_event_t *ev);
static void ngx_http_twanon_resolver_leave(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static void ngx_http_twanon_resolver_wake(ngx_event_t *ev);
static void ngx_http_twanon_log_request(ngx_http_request_t *r);
static void ngx_http_twanon_deadline_cleanup(void *data);
static ngx_int_t ngx_http_twanon_resolver_done(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_twanon_resolver_resume(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_variable_caller_hash(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


ngx_http_variable_t  ngx_http_twanon_resolver_variables[] = {

    { ngx_string("twanon_caller_hash"), NULL,
      ngx_http_twanon_variable_caller_hash,
      offsetof(ngx_http_twanon_ctx_t, caller_hash),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


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
ngx_http_twanon_resolver_init(ngx_conf_t *cf)
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


/*
 * The resolver subrequest: a POST to the configured location whose small
 * form body carries the caller (or its keyed hash) and the called number.
 * Nothing of the webhook is passed on: not its headers, not its body, not
 * the values of its variables.
 */

ngx_int_t
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

    ctx->resolver_start = ngx_current_msec;

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
    ctx->lookup = 1;

    if (ngx_http_twanon_resolver_arm(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    r->write_event_handler = ngx_http_twanon_resolver_resume;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon resolver subrequest \"%V\"", &tlcf->resolver);

    return NGX_OK;
}


/*
 * from_number= or from_hash=, and to_number=, escaped as form values;
 * then stir_verstat= when Twilio sent StirVerstat, and, in the after-dial
 * step, attempt= (the one to ring) and dial_status=
 */

static ngx_http_request_body_t *
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
 * twanon_resolver_timeout: one timer for the whole lookup, whatever the
 * resolver location does (an upstream, a limit_req delay, a cache lock).
 * At the deadline the webhook gets the fallback at once, and the
 * subrequest is left to end on its own as a background one, the way
 * ngx_http_mirror_module's are: ngx_http_twanon_resolver_leave().  Its
 * late end is ignored, and the webhook request is freed (and logged)
 * after it.
 *
 * A lookup that runs subrequests of its own may hold the connection
 * (c->data) at the deadline: it cannot be left, and the fallback is
 * sent when it ends.
 */

static void
ngx_http_twanon_resolver_deadline(ngx_event_t *ev)
{
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_twanon_ctx_t       *ctx;
    ngx_http_twanon_loc_conf_t  *tlcf;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    if (ctx->done) {
        return;
    }

    ngx_http_set_log_request(c->log, r);

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "twanon: resolver \"%V\" did not answer within %M ms, "
                  "call \"%V\"", &tlcf->resolver, tlcf->resolver_timeout,
                  &ctx->call_sid);

    ctx->timed_out = 1;
    ctx->failed = 1;

    if (c->data != ctx->resolver) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "twanon resolver deadline: lookup not active");
        return;
    }

    ngx_http_twanon_resolver_leave(r, ctx);

    ctx->done = 1;
    ctx->resolver_ms = ngx_current_msec - ctx->resolver_start;

    ngx_http_twanon_resolver_resume(r);

    /*
     * Answered, and still held by the lookup: logged now rather than when
     * the lookup ends, as ngx_http_free_request() skips a logged request.
     */

    if (r->done && !r->logged) {
        ngx_http_twanon_log_request(r);
        r->logged = 1;
    }

    ngx_http_run_posted_requests(c);
}


/*
 * The subrequest leaves the webhook's postponed list and becomes a
 * background one: the connection (c->data) is the webhook's again, and
 * the subrequest's end decrements the request count without waking the
 * webhook (ngx_http_finalize_request()).  A timer it had set on the
 * connection's write event, as limit_req's delay does, moves to an event
 * of its own: the reply is not held back by it, nor is the timer lost
 * when the webhook is finalized.  The connection is not kept alive: it
 * stays open until the lookup ends.
 */

static void
ngx_http_twanon_resolver_leave(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_event_t                    *wev;
    ngx_msec_int_t                  delay;
    ngx_http_request_t             *sr;
    ngx_http_postponed_request_t  **pp;

    sr = ctx->resolver;

    for (pp = &r->postponed; *pp; pp = &(*pp)->next) {
        if ((*pp)->request == sr) {
            *pp = (*pp)->next;
            break;
        }
    }

    sr->background = 1;
    r->connection->data = r;
    r->keepalive = 0;

    ctx->left = 1;

    wev = r->connection->write;

    if (wev->timer_set) {
        delay = (ngx_msec_int_t) (wev->timer.key - ngx_current_msec);

        ngx_del_timer(wev);

        ctx->wake.handler = ngx_http_twanon_resolver_wake;
        ctx->wake.data = sr;
        ctx->wake.log = r->connection->log;

        ngx_add_timer(&ctx->wake, delay > 0 ? (ngx_msec_t) delay : 1);
    }

    wev->delayed = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon resolver left, wake:%ui",
                   (ngx_uint_t) ctx->wake.timer_set);
}


static void
ngx_http_twanon_resolver_wake(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *sr;

    sr = ev->data;
    c = sr->connection;

    if (sr->done) {
        return;
    }

    ngx_http_set_log_request(c->log, sr);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "twanon resolver wake");

    sr->write_event_handler(sr);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_twanon_deadline_cleanup(void *data)
{
    ngx_http_twanon_ctx_t  *ctx = data;

    if (ctx->deadline.timer_set) {
        ngx_del_timer(&ctx->deadline);
    }

    if (ctx->wake.timer_set) {
        ngx_del_timer(&ctx->wake);
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
 * request is terminated by nginx, and nothing is sent.  The end of a
 * lookup left at its deadline is nobody's: nothing is recorded, and a
 * failure ends it alone, not the webhook request.
 */

static ngx_int_t
ngx_http_twanon_resolver_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_twanon_ctx_t  *ctx = data;

    off_t  len;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon resolver done s:%ui rc:%i e:%ui l:%ui",
                   r->headers_out.status, rc,
                   (ngx_uint_t) r->connection->error,
                   (ngx_uint_t) ctx->left);

    if (ctx->left) {
        goto done;
    }

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
    ctx->resolver_ms = ngx_current_msec - ctx->resolver_start;

done:

    if (rc == NGX_ERROR && !r->connection->error) {
        return NGX_OK;
    }

    /*
     * A status the subrequest failed with before it sent a header (502,
     * 504, 404...): recorded above, and nobody reads the error page that
     * nginx would make of it.
     */

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE && !r->header_sent
        && !r->connection->error)
    {
        return NGX_OK;
    }

    return rc;
}


static void
ngx_http_twanon_resolver_resume(ngx_http_request_t *r)
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

    ngx_http_finalize_request(r, ctx->reply_handler(r, ctx));
}


/* the log phase, as ngx_http_log_request() runs it */

static void
ngx_http_twanon_log_request(ngx_http_request_t *r)
{
    ngx_uint_t                  i, n;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

    for (i = 0; i < n; i++) {
        h[i](r);
    }
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
