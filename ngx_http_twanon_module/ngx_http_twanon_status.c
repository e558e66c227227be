
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include "ngx_http_twanon.h"
#include "ngx_http_twanon_module.h"


/* "twanon_status": the counters of stats.c in Prometheus's text format */


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


static ngx_int_t ngx_http_twanon_status_handler(ngx_http_request_t *r);
static char *ngx_http_twanon_status_check(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_uint_t ngx_http_twanon_status_outcomes(
    ngx_http_twanon_main_conf_t *mcf, ngx_str_t *outcomes);
static size_t ngx_http_twanon_status_len(ngx_http_twanon_main_conf_t *mcf,
    ngx_str_t *outcomes, ngx_uint_t n);
static size_t ngx_http_twanon_status_series_len(const char *name,
    const char *label, ngx_str_t *values, ngx_uint_t n);
static u_char *ngx_http_twanon_status_write(u_char *p,
    ngx_http_twanon_stats_t *st, ngx_http_twanon_main_conf_t *mcf,
    ngx_str_t *outcomes, ngx_uint_t n);
static u_char *ngx_http_twanon_status_series(u_char *p, const char *name,
    const char *label, ngx_str_t *values, ngx_atomic_t *counters,
    ngx_uint_t n);
static u_char *ngx_http_twanon_status_histogram(u_char *p,
    ngx_http_twanon_stats_t *st);


static ngx_str_t  ngx_http_twanon_token_results[] = {
    ngx_string("issued"), ngx_string("refused"), ngx_string("error")
};

/* the outcomes past the routes: webhooks refused before they were verified */

static ngx_str_t  ngx_http_twanon_refusals[] = {
    ngx_string("forbidden"), ngx_string("bad_request"),
    ngx_string("too_large"), ngx_string("method")
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

/* the upper bounds of stats.c's buckets, as Prometheus reads them */

static char  *ngx_http_twanon_bucket_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10"
};


ngx_http_twanon_handler_t  ngx_http_twanon_status = {
    ngx_string("twanon_status"),
    ngx_null_string,
    ngx_http_twanon_status_handler,
    0,
    ngx_http_twanon_status_check,
    NULL, NULL, NULL, NULL, NULL, NULL,
    ngx_null_string,
    0, 0
};


static char *
ngx_http_twanon_status_check(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    ngx_http_twanon_main_conf_t  *tmcf;

    tmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    if (tmcf->status_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_status\" in %V:%ui requires "
                      "\"twanon_status_zone\" in the http block",
                      &conf->where.file, conf->where.line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * twanon_status: the counters in Prometheus's text format 0.0.4 for GET
 * and HEAD; with "?check=ready", 200 once the zone is attached; any other
 * "check" is 400.
 */

static ngx_int_t
ngx_http_twanon_status_handler(ngx_http_request_t *r)
{
    u_char                       *p;
    size_t                        len;
    ngx_str_t                     body, value;
    ngx_uint_t                    n;
    ngx_http_twanon_stats_t      *st;
    ngx_http_twanon_main_conf_t  *mcf;
    ngx_str_t                     outcomes[NGX_HTTP_TWANON_STAT_OUTCOMES];

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

    mcf = ngx_http_get_module_main_conf(r, ngx_http_twanon_module);

    n = ngx_http_twanon_status_outcomes(mcf, outcomes);
    len = ngx_http_twanon_status_len(mcf, outcomes, n);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_http_twanon_status_write(body.data, st, mcf, outcomes, n);
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

/* the routes but "rejected", in the order of stats.c's counters */

static ngx_uint_t
ngx_http_twanon_status_outcomes(ngx_http_twanon_main_conf_t *mcf,
    ngx_str_t *outcomes)
{
    ngx_uint_t  i, n;

    n = 0;

    for (i = 0; i < mcf->nroutes; i++) {
        if (i != NGX_HTTP_TWANON_ROUTE_REJECTED) {
            outcomes[n++] = mcf->routes[i];
        }
    }

    for (i = 0; i < 4; i++) {
        outcomes[n++] = ngx_http_twanon_refusals[i];
    }

    return n;
}


static size_t
ngx_http_twanon_status_len(ngx_http_twanon_main_conf_t *mcf,
    ngx_str_t *outcomes, ngx_uint_t n)
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

    for (h = 0; h < mcf->nwebhooks; h++) {
        for (i = 0; i < n; i++) {
            len += ngx_http_twanon_status_fmt_len(
                       NGX_HTTP_TWANON_STATUS_WEBHOOK,
                       sizeof("%s%V%uA") - 1, 1)
                   + mcf->webhooks[h]->label.len + outcomes[i].len;
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
ngx_http_twanon_status_write(u_char *p, ngx_http_twanon_stats_t *st,
    ngx_http_twanon_main_conf_t *mcf, ngx_str_t *outcomes, ngx_uint_t n)
{
    char        *label;
    ngx_uint_t   h;

    p = ngx_sprintf(p, NGX_HTTP_TWANON_STATUS_HEAD, st->reloads);

    p = ngx_http_twanon_status_series(p, NGX_HTTP_TWANON_STATUS_TOKENS,
                                      "result", ngx_http_twanon_token_results,
                                      st->tokens, 3);

    p = ngx_cpymem(p, NGX_HTTP_TWANON_STATUS_WEBHOOKS,
                   sizeof(NGX_HTTP_TWANON_STATUS_WEBHOOKS) - 1);

    for (h = 0; h < mcf->nwebhooks; h++) {
        label = (char *) mcf->webhooks[h]->label.data;

        p = ngx_http_twanon_status_series(p, NULL, label, outcomes,
                                          st->webhooks[h], n);
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
