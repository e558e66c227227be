
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include "ngx_http_twanon.h"
#include "ngx_http_twanon_module.h"


/*
 * The counters an operations team watches, in a shared memory zone of
 * every worker ("twanon_status_zone"), and "twanon_status", which shows
 * them in Prometheus's text format.  A request is counted once, in the
 * log phase, from what its context recorded; the request path only adds
 * with atomics, never takes a lock.  Labels come from small fixed sets:
 * never an identity, a customer field, a number or a CallSid.
 */


#define NGX_HTTP_TWANON_STAT_HANDLERS   3
#define NGX_HTTP_TWANON_STAT_OUTCOMES   12
#define NGX_HTTP_TWANON_STAT_BUCKETS    11

/* a format's length less its "specs" bytes of conversions, with numbers */
#define ngx_http_twanon_status_fmt_len(fmt, specs, numbers)                   \
    (sizeof(fmt) - 1 - (specs) + (numbers) * NGX_ATOMIC_T_LEN)

#define NGX_HTTP_TWANON_STATUS_HEAD                                           \
    "# HELP twanon_build_info The twanon module's version, and nginx's.\n"    \
    "# TYPE twanon_build_info gauge\n"                                        \
    "twanon_build_info{version=\"" NGX_HTTP_TWANON_VERSION "\","              \
    "nginx=\"" NGINX_VERSION "\"} 1\n"                                        \
    "# HELP twanon_config_reloads_total Reloads that kept this zone.\n"       \
    "# TYPE twanon_config_reloads_total counter\n"                            \
    "twanon_config_reloads_total %uA\n"

#define NGX_HTTP_TWANON_STATUS_TOKENS                                         \
    "twanon_tokens_total Access Token requests, by result."

#define NGX_HTTP_TWANON_STATUS_SIGNATURES                                     \
    "twanon_signature_failures_total Webhooks refused by the signature or "   \
    "AccountSid check."

#define NGX_HTTP_TWANON_STATUS_RESOLVER                                       \
    "twanon_resolver_requests_total Resolver lookups, by result."

#define NGX_HTTP_TWANON_STATUS_FALLBACKS                                      \
    "twanon_fallbacks_total Fallbacks served, by kind."

#define NGX_HTTP_TWANON_STATUS_WEBHOOKS                                       \
    "# HELP twanon_webhooks_total Webhooks, by handler and outcome.\n"        \
    "# TYPE twanon_webhooks_total counter\n"

#define NGX_HTTP_TWANON_STATUS_WEBHOOK                                        \
    "twanon_webhooks_total{handler=\"%s\",outcome=\"%V\"} %uA\n"

#define NGX_HTTP_TWANON_STATUS_HISTOGRAM                                      \
    "# HELP twanon_resolver_duration_seconds Resolver lookups, from the "     \
    "subrequest's start to its end.\n"                                        \
    "# TYPE twanon_resolver_duration_seconds histogram\n"

#define NGX_HTTP_TWANON_STATUS_BUCKET                                         \
    "twanon_resolver_duration_seconds_bucket{le=\"%s\"} %uA\n"

#define NGX_HTTP_TWANON_STATUS_TOTALS                                         \
    "twanon_resolver_duration_seconds_bucket{le=\"+Inf\"} %uA\n"              \
    "twanon_resolver_duration_seconds_sum %uA.%03uA\n"                        \
    "twanon_resolver_duration_seconds_count %uA\n"


typedef struct {
    ngx_atomic_t                reloads;
    ngx_atomic_t                tokens[3];
    ngx_atomic_t                webhooks[NGX_HTTP_TWANON_STAT_HANDLERS]
                                        [NGX_HTTP_TWANON_STAT_OUTCOMES];
    ngx_atomic_t                signatures[3];
    ngx_atomic_t                resolver[7];
    ngx_atomic_t                fallbacks[3];
    ngx_atomic_t                buckets[NGX_HTTP_TWANON_STAT_BUCKETS + 1];
    ngx_atomic_t                duration_ms;
} ngx_http_twanon_stats_t;


static ngx_int_t ngx_http_twanon_status_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_http_twanon_stats_t *ngx_http_twanon_stats(ngx_http_request_t *r);
static void ngx_http_twanon_status_webhook(ngx_http_request_t *r,
    ngx_http_twanon_stats_t *st, ngx_uint_t handler);
static void ngx_http_twanon_status_resolver(ngx_http_twanon_ctx_t *ctx,
    ngx_http_twanon_stats_t *st);
static size_t ngx_http_twanon_status_len(void);
static size_t ngx_http_twanon_status_series_len(const char *name,
    const char *label, ngx_str_t *values, ngx_uint_t n);
static u_char *ngx_http_twanon_status_write(u_char *p,
    ngx_http_twanon_stats_t *st);
static u_char *ngx_http_twanon_status_series(u_char *p, const char *name,
    const char *label, ngx_str_t *values, ngx_atomic_t *counters,
    ngx_uint_t n);
static u_char *ngx_http_twanon_status_histogram(u_char *p,
    ngx_http_twanon_stats_t *st);


static ngx_str_t  ngx_http_twanon_token_results[] = {
    ngx_string("issued"), ngx_string("refused"), ngx_string("error")
};

static ngx_str_t  ngx_http_twanon_handlers[] = {
    ngx_string("incoming"), ngx_string("after_dial"), ngx_string("outgoing")
};

/* the routes of ngx_http_twanon_route_e but "rejected", split by status */

static ngx_str_t  ngx_http_twanon_outcomes[] = {
    ngx_string("error"), ngx_string("unknown"), ngx_string("client"),
    ngx_string("answered"), ngx_string("canceled"), ngx_string("exhausted"),
    ngx_string("dialled"), ngx_string("refused"), ngx_string("forbidden"),
    ngx_string("bad_request"), ngx_string("too_large"), ngx_string("method")
};

static ngx_uint_t  ngx_http_twanon_route_outcome[] = {
    0,  /* error */
    1,  /* unknown */
    2,  /* client */
    0,  /* rejected: by status instead */
    3,  /* answered */
    4,  /* canceled */
    5,  /* exhausted */
    6,  /* dialled */
    7   /* refused */
};

static ngx_str_t  ngx_http_twanon_signature_reasons[] = {
    ngx_string("missing"), ngx_string("mismatch"), ngx_string("account")
};

static ngx_str_t  ngx_http_twanon_resolver_results[] = {
    ngx_string("ok"), ngx_string("not_found"), ngx_string("status"),
    ngx_string("timeout"), ngx_string("invalid"), ngx_string("too_large"),
    ngx_string("cut_short")
};

static ngx_str_t  ngx_http_twanon_fallback_kinds[] = {
    ngx_string("say"), ngx_string("twiml"), ngx_string("client")
};

/* upper bounds in ms, and as Prometheus reads them */

static ngx_msec_t  ngx_http_twanon_bucket_ms[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static char  *ngx_http_twanon_bucket_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10"
};


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


static ngx_http_twanon_stats_t *
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
ngx_http_twanon_status_signature(ngx_http_request_t *r, ngx_uint_t reason)
{
    ngx_http_twanon_stats_t  *st;

    st = ngx_http_twanon_stats(r);

    if (st) {
        (void) ngx_atomic_fetch_add(&st->signatures[reason], 1);
    }
}


/*
 * The log phase: a request to a location of ours, counted once by what
 * became of it.
 */

ngx_int_t
ngx_http_twanon_status_log(ngx_http_request_t *r)
{
    ngx_uint_t                   status;
    ngx_http_twanon_stats_t     *st;
    ngx_http_twanon_loc_conf_t  *tlcf;

    st = ngx_http_twanon_stats(r);

    if (st == NULL || r != r->main) {
        return NGX_OK;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->incoming.file.data) {
        ngx_http_twanon_status_webhook(r, st, 0);

    } else if (tlcf->after_dial.file.data) {
        ngx_http_twanon_status_webhook(r, st, 1);

    } else if (tlcf->outgoing.file.data) {
        ngx_http_twanon_status_webhook(r, st, 2);

    } else if (tlcf->token.file.data) {
        status = r->headers_out.status;

        if (status == NGX_HTTP_OK) {
            (void) ngx_atomic_fetch_add(&st->tokens[0], 1);

        } else if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
            (void) ngx_atomic_fetch_add(&st->tokens[2], 1);

        } else if (status >= NGX_HTTP_BAD_REQUEST) {
            (void) ngx_atomic_fetch_add(&st->tokens[1], 1);
        }
    }

    return NGX_OK;
}


static void
ngx_http_twanon_status_webhook(ngx_http_request_t *r,
    ngx_http_twanon_stats_t *st, ngx_uint_t handler)
{
    ngx_uint_t              outcome, status;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    status = r->headers_out.status;

    if (ctx && ctx->verified) {
        outcome = ngx_http_twanon_route_outcome[ctx->route];

    } else if (status == NGX_HTTP_FORBIDDEN) {
        outcome = 8;

    } else if (status == NGX_HTTP_BAD_REQUEST
               || status == NGX_HTTP_UNSUPPORTED_MEDIA_TYPE)
    {
        outcome = 9;

    } else if (status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        outcome = 10;

    } else if (status == NGX_HTTP_NOT_ALLOWED) {
        outcome = 11;

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
        ngx_http_twanon_status_resolver(ctx, st);
    }
}


/* one lookup: its result, and its time from start to done */

static void
ngx_http_twanon_status_resolver(ngx_http_twanon_ctx_t *ctx,
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


/*
 * twanon_status: the counters in Prometheus's text format 0.0.4 for GET
 * and HEAD; with "?check=ready", 200 once the zone is attached; any other
 * "check" is 400.
 */

ngx_int_t
ngx_http_twanon_status_handler(ngx_http_request_t *r)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                 body, value;
    ngx_http_twanon_stats_t  *st;

    static ngx_str_t  allow = ngx_string("GET, HEAD");
    static ngx_str_t  text = ngx_string("text/plain; charset=utf-8");
    static ngx_str_t  exposition =
        ngx_string("text/plain; version=0.0.4; charset=utf-8");
    static ngx_str_t  ready = ngx_string("ready\n");
    static ngx_str_t  not_ready = ngx_string("not ready\n");
    static ngx_str_t  not_allowed = ngx_string("method not allowed\n");
    static ngx_str_t  bad_check =
        ngx_string("unknown check: only \"check=ready\" is known\n");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        if (ngx_http_discard_request_body(r) != NGX_OK
            || ngx_http_twanon_add_header(r, "Allow", &allow) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_twanon_send(r, NGX_HTTP_NOT_ALLOWED, &text,
                                    &not_allowed);
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_http_twanon_stats(r);

    if (ngx_http_arg(r, (u_char *) "check", 5, &value) == NGX_OK) {
        if (value.len != sizeof("ready") - 1
            || ngx_strncmp(value.data, "ready", sizeof("ready") - 1) != 0)
        {
            return ngx_http_twanon_send(r, NGX_HTTP_BAD_REQUEST, &text,
                                        &bad_check);
        }

        if (st == NULL) {
            return ngx_http_twanon_send(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        &text, &not_ready);
        }

        return ngx_http_twanon_send(r, NGX_HTTP_OK, &text, &ready);
    }

    if (st == NULL) {
        return ngx_http_twanon_send(r, NGX_HTTP_SERVICE_UNAVAILABLE, &text,
                                    &not_ready);
    }

    len = ngx_http_twanon_status_len();

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_twanon_status_write(body.data, st);
    body.len = p - body.data;

    if (body.len > len) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twanon status wrote %uz bytes into %uz", body.len, len);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_twanon_send(r, NGX_HTTP_OK, &exposition, &body);
}


/*
 * The most that ngx_http_twanon_status_write() writes, as stub_status
 * sizes its reply: the text, with NGX_ATOMIC_T_LEN for each number.
 */

static size_t
ngx_http_twanon_status_len(void)
{
    size_t      len;
    ngx_uint_t  h, i;

    len = ngx_http_twanon_status_fmt_len(NGX_HTTP_TWANON_STATUS_HEAD,
                                         sizeof("%uA") - 1, 1);

    len += ngx_http_twanon_status_series_len(NGX_HTTP_TWANON_STATUS_TOKENS,
                                             "result",
                                             ngx_http_twanon_token_results,
                                             3);

    len += sizeof(NGX_HTTP_TWANON_STATUS_WEBHOOKS) - 1;

    for (h = 0; h < NGX_HTTP_TWANON_STAT_HANDLERS; h++) {
        for (i = 0; i < NGX_HTTP_TWANON_STAT_OUTCOMES; i++) {
            len += ngx_http_twanon_status_fmt_len(
                       NGX_HTTP_TWANON_STATUS_WEBHOOK,
                       sizeof("%s%V%uA") - 1, 1)
                   + ngx_http_twanon_handlers[h].len
                   + ngx_http_twanon_outcomes[i].len;
        }
    }

    len += ngx_http_twanon_status_series_len(
               NGX_HTTP_TWANON_STATUS_SIGNATURES, "reason",
               ngx_http_twanon_signature_reasons, 3);

    len += ngx_http_twanon_status_series_len(
               NGX_HTTP_TWANON_STATUS_RESOLVER, "result",
               ngx_http_twanon_resolver_results, 7);

    len += sizeof(NGX_HTTP_TWANON_STATUS_HISTOGRAM) - 1;

    for (i = 0; i < NGX_HTTP_TWANON_STAT_BUCKETS; i++) {
        len += ngx_http_twanon_status_fmt_len(NGX_HTTP_TWANON_STATUS_BUCKET,
                                              sizeof("%s%uA") - 1, 1)
               + ngx_strlen(ngx_http_twanon_bucket_le[i]);
    }

    len += ngx_http_twanon_status_fmt_len(NGX_HTTP_TWANON_STATUS_TOTALS,
                                          sizeof("%uA%uA%03uA%uA") - 1, 4);

    return len + ngx_http_twanon_status_series_len(
                     NGX_HTTP_TWANON_STATUS_FALLBACKS, "kind",
                     ngx_http_twanon_fallback_kinds, 3);
}


/* what ngx_http_twanon_status_series() writes for a metric, at most */

static size_t
ngx_http_twanon_status_series_len(const char *name, const char *label,
    ngx_str_t *values, ngx_uint_t n)
{
    size_t      len, name_len;
    ngx_uint_t  i;

    name_len = ngx_strchr(name, ' ') - name;

    len = sizeof("# HELP \n# TYPE  counter\n") - 1 + ngx_strlen(name)
          + name_len;

    for (i = 0; i < n; i++) {
        len += name_len + sizeof("{=\"\"} \n") - 1 + ngx_strlen(label)
               + values[i].len + NGX_ATOMIC_T_LEN;
    }

    return len;
}


static u_char *
ngx_http_twanon_status_write(u_char *p, ngx_http_twanon_stats_t *st)
{
    ngx_uint_t  h;

    p = ngx_sprintf(p, NGX_HTTP_TWANON_STATUS_HEAD, st->reloads);

    p = ngx_http_twanon_status_series(p, NGX_HTTP_TWANON_STATUS_TOKENS,
                                      "result", ngx_http_twanon_token_results,
                                      st->tokens, 3);

    p = ngx_cpymem(p, NGX_HTTP_TWANON_STATUS_WEBHOOKS,
                   sizeof(NGX_HTTP_TWANON_STATUS_WEBHOOKS) - 1);

    for (h = 0; h < NGX_HTTP_TWANON_STAT_HANDLERS; h++) {
        p = ngx_http_twanon_status_series(p, NULL,
                                          (char *) ngx_http_twanon_handlers[h]
                                                   .data,
                                          ngx_http_twanon_outcomes,
                                          st->webhooks[h],
                                          NGX_HTTP_TWANON_STAT_OUTCOMES);
    }

    p = ngx_http_twanon_status_series(p, NGX_HTTP_TWANON_STATUS_SIGNATURES,
                                      "reason",
                                      ngx_http_twanon_signature_reasons,
                                      st->signatures, 3);

    p = ngx_http_twanon_status_series(p, NGX_HTTP_TWANON_STATUS_RESOLVER,
                                      "result",
                                      ngx_http_twanon_resolver_results,
                                      st->resolver, 7);

    p = ngx_http_twanon_status_histogram(p, st);

    return ngx_http_twanon_status_series(p, NGX_HTTP_TWANON_STATUS_FALLBACKS,
                                         "kind",
                                         ngx_http_twanon_fallback_kinds,
                                         st->fallbacks, 3);
}


/*
 * One metric with one label ("name help" first, for its HELP and TYPE),
 * or, with a NULL name, the webhooks' series of one handler ("label" is
 * the handler's name).
 */

static u_char *
ngx_http_twanon_status_series(u_char *p, const char *name,
    const char *label, ngx_str_t *values, ngx_atomic_t *counters,
    ngx_uint_t n)
{
    size_t      len;
    ngx_uint_t  i;

    if (name == NULL) {
        for (i = 0; i < n; i++) {
            p = ngx_sprintf(p, NGX_HTTP_TWANON_STATUS_WEBHOOK, label,
                            &values[i], counters[i]);
        }

        return p;
    }

    len = ngx_strchr(name, ' ') - name;

    p = ngx_sprintf(p, "# HELP %s\n# TYPE %*s counter\n", name, len, name);

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, "%*s{%s=\"%V\"} %uA\n", len, name, label,
                        &values[i], counters[i]);
    }

    return p;
}


static u_char *
ngx_http_twanon_status_histogram(u_char *p, ngx_http_twanon_stats_t *st)
{
    ngx_uint_t    i;
    ngx_atomic_t  n, count, ms;

    p = ngx_cpymem(p, NGX_HTTP_TWANON_STATUS_HISTOGRAM,
                   sizeof(NGX_HTTP_TWANON_STATUS_HISTOGRAM) - 1);

    count = 0;

    for (i = 0; i < NGX_HTTP_TWANON_STAT_BUCKETS; i++) {
        n = st->buckets[i];
        count += n;

        p = ngx_sprintf(p, NGX_HTTP_TWANON_STATUS_BUCKET,
                        ngx_http_twanon_bucket_le[i], count);
    }

    count += st->buckets[NGX_HTTP_TWANON_STAT_BUCKETS];
    ms = st->duration_ms;

    return ngx_sprintf(p, NGX_HTTP_TWANON_STATUS_TOTALS,
                       count, ms / 1000, ms % 1000, count);
}
