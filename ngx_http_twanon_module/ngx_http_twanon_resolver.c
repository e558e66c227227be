
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* the resolver lookup: docs/development.md, "The resolver subrequest" */


static ngx_int_t ngx_http_twanon_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
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


static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


/* watches the resolver subrequest's reply only ("The body filter") */

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


/* a POST with a form body of its own; nothing of the webhook is passed on */

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


/* headers of its own and an empty cache of variables ("The request") */

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


/* one timer for the whole lookup ("The deadline") */

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


/* the lookup goes on as a background subrequest, as mirror's do */

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


/* may run more than once, and only records what happened ("The end") */

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

    ngx_http_finalize_request(r, ctx->handler->reply(r, ctx));
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
