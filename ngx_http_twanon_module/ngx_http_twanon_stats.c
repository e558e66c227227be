
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * The counters of "twanon_status_zone", shared by every worker: a
 * request is counted once, in the log phase, with atomics, never a lock.
 * Labels come from small fixed sets (docs/status.md).
 */


static ngx_int_t ngx_http_twanon_status_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_twanon_stats_log(ngx_http_request_t *r);
static void ngx_http_twanon_stats_webhook(ngx_http_request_t *r,
    ngx_http_twanon_stats_t *st, ngx_uint_t handler);
static void ngx_http_twanon_stats_resolver(ngx_http_twanon_ctx_t *ctx,
    ngx_http_twanon_stats_t *st);


/* upper bounds in ms: status.c shows them as Prometheus reads them */

static ngx_msec_t  ngx_http_twanon_bucket_ms[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};


/* counting, in the log phase, only where there is a zone to count in */

ngx_int_t
ngx_http_twanon_stats_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_twanon_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    if (tmcf->status_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_twanon_stats_log;

    return NGX_OK;
}


/* twanon_status_zone size; */

char *
ngx_http_twanon_status_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_main_conf_t *tmcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (tmcf->status_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\" directive, "
                           "it must be at least %uzk", &value[1],
                           &cmd->name, 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "twanon_status");

    tmcf->status_zone = ngx_shared_memory_add(cf, &name, size,
                                              &ngx_http_twanon_module);
    if (tmcf->status_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    tmcf->status_zone->init = ngx_http_twanon_status_init_zone;

    return NGX_CONF_OK;
}


/*
 * The counters are kept across a reload that keeps the zone's size; a
 * new size is a new zone, as for nginx's own zones, counted from zero.
 */

static ngx_int_t
ngx_http_twanon_status_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_twanon_stats_t  *st;

    if (data) {
        st = data;
        zone->data = st;
        (void) ngx_atomic_fetch_add(&st->reloads, 1);
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    st = ngx_slab_calloc(shpool, sizeof(ngx_http_twanon_stats_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    shpool->data = st;
    zone->data = st;

    return NGX_OK;
}


ngx_http_twanon_stats_t *
ngx_http_twanon_stats(ngx_http_request_t *r)
{
    ngx_http_twanon_main_conf_t  *tmcf;

    tmcf = ngx_http_get_module_main_conf(r, ngx_http_twanon_module);

    if (tmcf->status_zone == NULL) {
        return NULL;
    }

    return tmcf->status_zone->data;
}


/* a signature check that failed: NGX_HTTP_TWANON_SIG_* */

void
ngx_http_twanon_stats_signature(ngx_http_request_t *r, ngx_uint_t reason)
{
    ngx_http_twanon_stats_t  *st;

    st = ngx_http_twanon_stats(r);

    if (st) {
        (void) ngx_atomic_fetch_add(&st->signatures[reason], 1);
    }
}


/* the log phase: a request to a location of ours, counted once */

static ngx_int_t
ngx_http_twanon_stats_log(ngx_http_request_t *r)
{
    ngx_http_twanon_stats_t     *st;
    ngx_http_twanon_handler_t   *h;
    ngx_http_twanon_loc_conf_t  *tlcf;

    st = ngx_http_twanon_stats(r);

    if (st == NULL || r != r->main) {
        return NGX_OK;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);
    h = tlcf->handler;

    if (h == NULL) {
        return NGX_OK;
    }

    if (h->log) {
        h->log(r);

    } else if (h->flags & NGX_HTTP_TWANON_WEBHOOK) {
        ngx_http_twanon_stats_webhook(r, st, h->index);
    }

    return NGX_OK;
}


/* a token request, by its status: issued, refused, error */

void
ngx_http_twanon_stats_token(ngx_http_request_t *r)
{
    ngx_uint_t                status;
    ngx_http_twanon_stats_t  *st;

    st = ngx_http_twanon_stats(r);

    if (st == NULL) {
        return;
    }

    status = r->headers_out.status;

    if (status == NGX_HTTP_OK) {
        (void) ngx_atomic_fetch_add(&st->tokens[0], 1);

    } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        (void) ngx_atomic_fetch_add(&st->tokens[2], 1);

    } else if (status >= NGX_HTTP_BAD_REQUEST) {
        (void) ngx_atomic_fetch_add(&st->tokens[1], 1);
    }
}


static void
ngx_http_twanon_stats_webhook(ngx_http_request_t *r,
    ngx_http_twanon_stats_t *st, ngx_uint_t handler)
{
    ngx_uint_t                    outcome, status;
    ngx_http_twanon_ctx_t        *ctx;
    ngx_http_twanon_main_conf_t  *mcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_twanon_module);

    status = r->headers_out.status;

    /* a route's outcome: the routes less "rejected", then by status */

    if (ctx && ctx->verified) {
        outcome = ctx->route - (ctx->route > NGX_HTTP_TWANON_ROUTE_REJECTED);

    } else if (status == NGX_HTTP_FORBIDDEN) {
        outcome = mcf->nroutes - 1;

    } else if (status == NGX_HTTP_BAD_REQUEST
               || status == NGX_HTTP_UNSUPPORTED_MEDIA_TYPE)
    {
        outcome = mcf->nroutes;

    } else if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        outcome = mcf->nroutes + 1;

    } else if (status == NGX_HTTP_NOT_ALLOWED) {
        outcome = mcf->nroutes + 2;

    } else {
        outcome = 0;
    }

    (void) ngx_atomic_fetch_add(&st->webhooks[handler][outcome], 1);

    if (ctx == NULL) {
        return;
    }

    if (ctx->fallback) {
        (void) ngx_atomic_fetch_add(&st->fallbacks[ctx->fallback - 1], 1);
    }

    if (ctx->lookup) {
        ngx_http_twanon_stats_resolver(ctx, st);
    }
}


/* one lookup: its result, and its time from start to done */

static void
ngx_http_twanon_stats_resolver(ngx_http_twanon_ctx_t *ctx,
    ngx_http_twanon_stats_t *st)
{
    ngx_uint_t  result, i;

    if (ctx->timed_out) {
        result = 3;

    } else if (ctx->too_big) {
        result = 5;

    } else if (ctx->failed || !ctx->done) {
        result = 6;

    } else if (ctx->status == NGX_HTTP_NOT_FOUND) {
        result = 1;

    } else if (ctx->status != NGX_HTTP_OK) {
        result = 2;

    } else if (ctx->invalid) {
        result = 4;

    } else {
        result = 0;
    }

    (void) ngx_atomic_fetch_add(&st->resolver[result], 1);

    if (!ctx->done) {
        return;
    }

    for (i = 0; i < NGX_HTTP_TWANON_STAT_BUCKETS; i++) {
        if (ctx->resolver_ms <= ngx_http_twanon_bucket_ms[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&st->buckets[i], 1);
    (void) ngx_atomic_fetch_add(&st->duration_ms, ctx->resolver_ms);
}
