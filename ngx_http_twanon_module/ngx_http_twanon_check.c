
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * The nginx -t checks shared by the handlers; a handler's own are its
 * descriptor's "check".
 */


static ngx_int_t ngx_http_twanon_check_contents(ngx_conf_t *cf);
static ngx_int_t ngx_http_twanon_check_webhooks(ngx_conf_t *cf);
static ngx_int_t ngx_http_twanon_check_forward(ngx_conf_t *cf,
    ngx_http_twanon_content_t *content, ngx_module_t *mirror);
static ngx_int_t ngx_http_twanon_check_required(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_fallback_ready(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_client_params_default(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_check_macs(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static void ngx_http_twanon_check_warn(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);


ngx_int_t
ngx_http_twanon_check_init(ngx_conf_t *cf)
{
    if (ngx_http_twanon_check_contents(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_twanon_check_webhooks(cf);
}


/*
 * A content handler set after ours in the same location would win: the
 * webhook would become an unauthenticated proxy.
 */

static ngx_int_t
ngx_http_twanon_check_contents(ngx_conf_t *cf)
{
    ngx_uint_t                    i;
    ngx_http_twanon_content_t    *content;
    ngx_http_twanon_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    content = mcf->contents.elts;

    for (i = 0; i < mcf->contents.nelts; i++) {

        if (content[i].clcf->handler == content[i].handler->handler) {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %V:%ui is overridden by another content "
                      "handler (\"proxy_pass\", \"fastcgi_pass\", "
                      "\"stub_status\" and the like) set after it in the "
                      "same location",
                      &content[i].handler->name,
                      &content[i].conf->where.file,
                      content[i].conf->where.line);

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What a webhook location must not have: checked once every location is
 * merged, so that what it inherits counts too.
 */

static ngx_int_t
ngx_http_twanon_check_webhooks(ngx_conf_t *cf)
{
    ngx_uint_t                    i;
    ngx_module_t                 *mirror;
    ngx_http_twanon_content_t    *content;
    ngx_http_twanon_main_conf_t  *mcf;

    /* by name: a reference would keep this module from loading without it */

    mirror = NULL;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (ngx_strcmp(cf->cycle->modules[i]->name, "ngx_http_mirror_module")
            == 0)
        {
            mirror = cf->cycle->modules[i];
            break;
        }
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    content = mcf->contents.elts;

    for (i = 0; i < mcf->contents.nelts; i++) {

        if (!(content[i].handler->flags & NGX_HTTP_TWANON_WEBHOOK)) {
            continue;
        }

        if (ngx_http_twanon_check_forward(cf, &content[i], mirror)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * "mirror" and "post_action" send the request, its body included, to
 * another location: a webhook's body holds the caller's number.
 */

static ngx_int_t
ngx_http_twanon_check_forward(ngx_conf_t *cf,
    ngx_http_twanon_content_t *content, ngx_module_t *mirror)
{
    char         *name;
    ngx_array_t  **mirrors;

    name = NULL;

    if (content->clcf->post_action.data) {
        name = "post_action";
    }

    if (mirror) {
        /* its loc conf starts with "ngx_array_t *mirror;" since 1.13.4 */

        mirrors = content->clcf->loc_conf[mirror->ctx_index];

        if (*mirrors != NULL && *mirrors != NGX_CONF_UNSET_PTR) {
            name = "mirror";
        }
    }

    if (name == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"%V\" in %V:%ui cannot be used with \"%s\", here or "
                  "inherited: it would forward the webhook's body, and the "
                  "caller's number with it, to another location",
                  &content->handler->name, &content->conf->where.file,
                  content->conf->where.line, name);

    return NGX_ERROR;
}


/* the checks of the location's handler, once it is merged */

char *
ngx_http_twanon_check_merged(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    if (conf->handler == NULL || conf->handler->check == NULL) {
        return NGX_CONF_OK;
    }

    return conf->handler->check(cf, conf);
}


/*
 * Where a webhook handler is set, after inheritance: what it needs must
 * be there, and the fallback is rendered once.
 */

char *
ngx_http_twanon_check_webhook(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (ngx_http_twanon_check_required(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* nginx refuses a larger body itself, before "100 Continue" */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_max_body_size == 0
        || clcf->client_max_body_size > NGX_HTTP_TWANON_WEBHOOK_BODY_MAX)
    {
        clcf->client_max_body_size = NGX_HTTP_TWANON_WEBHOOK_BODY_MAX;
    }

    if (ngx_http_twanon_default_regex(cf, conf) != NGX_OK
        || ngx_http_twanon_client_params_default(cf, conf) != NGX_OK
        || ngx_http_twanon_fallback_ready(cf, conf) != NGX_OK
        || ngx_http_twanon_check_macs(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_http_twanon_check_warn(cf, conf);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_twanon_check_required(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    char  *missing;

    missing = NULL;

    if (conf->verify_signature && conf->auth_tokens == NULL
        && conf->webhook_keys == NULL)
    {
        missing = "\"twanon_auth_token\" or \"twanon_auth_token_file\", "
                  "or \"twanon_webhook_key\" "
                  "(or \"twanon_verify_signature off\")";

    } else if (conf->resolver.len == 0) {
        missing = "\"twanon_resolver\"";

    } else if (conf->resolver_send == NGX_HTTP_TWANON_SEND_HASH
               && conf->hash_key == NULL)
    {
        missing = "\"twanon_hash_key\" (for \"twanon_resolver_send hash\")";
    }

    if (missing == NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "\"%s\" in %V:%ui requires %s",
                  conf->where.name, &conf->where.file, conf->where.line,
                  missing);

    return NGX_ERROR;
}


/* the browsers it rings must match the pattern; the default is rendered */

static ngx_int_t
ngx_http_twanon_fallback_ready(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    ngx_str_t   *id, empty;
    ngx_uint_t   i;

    if (conf->fallback_clients) {
        id = conf->fallback_clients->elts;

        for (i = 0; i < conf->fallback_clients->nelts; i++) {
            if (ngx_http_twanon_identity_valid(conf->identity_regex, &id[i])
                != NGX_OK)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"twanon_fallback_client\" identity \"%V\" "
                              "does not match the identity pattern, "
                              "for \"%s\" in %V:%ui",
                              &id[i], conf->where.name, &conf->where.file,
                              conf->where.line);
                return NGX_ERROR;
            }
        }
    }

    if (conf->fallback.data) {
        return NGX_OK;
    }

    ngx_str_null(&empty);

    return ngx_http_twanon_twiml_say(cf->pool, &empty, &empty,
                                     &conf->handler->fallback,
                                     &conf->fallback);
}


/* without "twanon_client_parameter" the browser is given the console's */

static ngx_int_t
ngx_http_twanon_client_params_default(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    ngx_http_twanon_pair_t  *param;

    if (conf->client_params) {
        return NGX_OK;
    }

    conf->client_params = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_http_twanon_pair_t));
    if (conf->client_params == NULL) {
        return NGX_ERROR;
    }

    param = ngx_array_push_n(conf->client_params, 2);
    if (param == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&param[0].key, NGX_HTTP_TWANON_PARAM_NAME);
    param[0].value = param[0].key;
    ngx_str_set(&param[1].key, NGX_HTTP_TWANON_PARAM_ID);
    param[1].value = param[1].key;

    return NGX_OK;
}


/* one kept HMAC-SHA1 context per auth token, and the caller hash's */

static ngx_int_t
ngx_http_twanon_check_macs(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    ngx_uint_t  i, n;

    n = (conf->verify_signature && conf->auth_tokens)
        ? conf->auth_tokens->nelts : 0;

    for (i = 0; i < n; i++) {
        if (ngx_http_twanon_hmac_ready(cf, &conf->auth_macs[i], "SHA1",
                                       conf->where.name, &conf->where)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (conf->hash_key == NULL) {
        return NGX_OK;
    }

    return ngx_http_twanon_hmac_ready(cf, &conf->hash_mac, "SHA256",
                                      conf->where.name, &conf->where);
}


/* what "nginx -t" warns about: a webhook anyone could forge or replay */

static void
ngx_http_twanon_check_warn(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    if (!conf->verify_signature) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"%s\" in %V:%ui does not check "
                      "signatures (\"twanon_verify_signature off\"): "
                      "anyone who can reach it can post any caller",
                      conf->where.name, &conf->where.file,
                      conf->where.line);

    } else if (conf->webhook_url == NULL
               || conf->webhook_url->lengths != NULL)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"%s\" in %V:%ui has no literal "
                      "\"twanon_webhook_url\": a webhook that Twilio "
                      "signed for another URL under the same Auth Token "
                      "is accepted here",
                      conf->where.name, &conf->where.file,
                      conf->where.line);
    }
}


/* a <Dial> action: the after-dial step appends the attempt to its query */

char *
ngx_http_twanon_dial_action(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *value = data;

    char  *reason;

    reason = ngx_http_twanon_action_query(value);

    if (reason) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twanon_dial_action\" \"%V\" %s", value,
                           reason);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_twanon_action_query(ngx_str_t *url)
{
    u_char  *p, *last, *end;

    last = url->data + url->len;

    if (ngx_strlchr(url->data, last, '#')) {
        return "has a fragment (\"#\"), which Twilio drops with what "
               "follows";
    }

    p = ngx_strlchr(url->data, last, '?');

    while (p && p < last) {
        p++;

        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        if (end - p >= 7 && ngx_strncmp(p, "attempt", 7) == 0
            && (end - p == 7 || p[7] == '='))
        {
            return "has an \"attempt\" parameter: the after-dial step "
                   "appends its own";
        }

        p = end;
    }

    return NULL;
}
