
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libxml/parser.h>

#include "ngx_http_twanon_module.h"


/* a location that "twanon_token" or "twanon_incoming" made ours */

typedef struct {
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_handler_pt            handler;
    ngx_str_t                     *name;
    ngx_http_twanon_where_t       *where;
} ngx_http_twanon_content_t;


typedef struct {
    ngx_conf_post_handler_pt       post_handler;
    time_t                         low;
    time_t                         high;
    char                          *message;
} ngx_http_twanon_sec_bounds_t;


typedef struct {
    ngx_conf_post_handler_pt       post_handler;
    ngx_msec_t                     low;
    ngx_msec_t                     high;
    char                          *message;
} ngx_http_twanon_msec_bounds_t;


static ngx_int_t ngx_http_twanon_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_twanon_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_twanon_init_process(ngx_cycle_t *cycle);
static void ngx_http_twanon_exit(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_twanon_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_twanon_check_contents(ngx_conf_t *cf);
static void *ngx_http_twanon_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_twanon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_twanon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_twanon_check_token(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static char *ngx_http_twanon_check_incoming(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_default_regex(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static ngx_int_t ngx_http_twanon_hmac_ready(ngx_conf_t *cf,
    ngx_http_twanon_hmac_t *h, const char *digest, const char *name,
    ngx_http_twanon_where_t *where);

static char *ngx_http_twanon_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_sid(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_complex_value(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twanon_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_identity_pattern(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twanon_region(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_cors_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_msec_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_twanon_sec_bounds(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_twanon_auth_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_resolver(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_client_parameter(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twanon_caller_id(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_fallback_say(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_twanon_fallback_twiml(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_twanon_fallback_client(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static char *ngx_http_twanon_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value, ngx_uint_t secret);
static ngx_regex_t *ngx_http_twanon_regex(ngx_conf_t *cf,
    ngx_str_t *pattern);
static char *ngx_http_twanon_compile(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value, ngx_http_complex_value_t *cv);


static ngx_http_handler_pt  ngx_http_twanon_token_handler_pt =
    ngx_http_twanon_token_handler;
static ngx_http_handler_pt  ngx_http_twanon_incoming_handler_pt =
    ngx_http_twanon_incoming_handler;


static ngx_http_twanon_msec_bounds_t  ngx_http_twanon_resolver_timeout_post
    = {
    ngx_http_twanon_msec_bounds, 1, 600000, "must be between 1ms and 600s"
};

static ngx_http_twanon_sec_bounds_t  ngx_http_twanon_ttl_post = {
    ngx_http_twanon_sec_bounds, 1, 86400, "must be between 1s and 24h"
};

static ngx_http_twanon_sec_bounds_t  ngx_http_twanon_time_limit_post = {
    ngx_http_twanon_sec_bounds, 1, 14400, "must be between 1s and 4h"
};

static ngx_http_twanon_sec_bounds_t  ngx_http_twanon_timeout_post = {
    ngx_http_twanon_sec_bounds, 5, 600, "must be between 5s and 600s"
};


static ngx_conf_enum_t  ngx_http_twanon_resolver_send[] = {
    { ngx_string("number"), NGX_HTTP_TWANON_SEND_NUMBER },
    { ngx_string("hash"), NGX_HTTP_TWANON_SEND_HASH },
    { ngx_null_string, 0 }
};


#define NGX_HTTP_TWANON_FALLBACK_SAY                                          \
    "We are sorry, no one is available to take your call right now. "         \
    "Please try again later."


static ngx_command_t  ngx_http_twanon_commands[] = {

    { ngx_string("twanon_account_sid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_sid,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, account_sid),
      "AC" },

    { ngx_string("twanon_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_sid,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, api_key),
      "SK" },

    { ngx_string("twanon_api_secret"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_complex_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, api_secret),
      NULL },

    { ngx_string("twanon_api_secret_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, api_secret),
      NULL },

    { ngx_string("twanon_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twanon_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, token),
      &ngx_http_twanon_token_handler_pt },

    { ngx_string("twanon_token_identity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_complex_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, identity),
      NULL },

    { ngx_string("twanon_token_identity_pattern"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_identity_pattern,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, token_ttl),
      &ngx_http_twanon_ttl_post },

    { ngx_string("twanon_token_incoming"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, token_incoming),
      NULL },

    { ngx_string("twanon_token_outgoing_application_sid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_sid,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, outgoing_application_sid),
      "AP" },

    { ngx_string("twanon_token_push_credential_sid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_sid,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, push_credential_sid),
      "CR" },

    { ngx_string("twanon_token_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_region,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, region),
      NULL },

    { ngx_string("twanon_cors_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_twanon_cors_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_incoming"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twanon_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, incoming),
      &ngx_http_twanon_incoming_handler_pt },

    { ngx_string("twanon_auth_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_auth_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_auth_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_auth_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      1,
      NULL },

    { ngx_string("twanon_verify_signature"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, verify_signature),
      NULL },

    { ngx_string("twanon_webhook_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_complex_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, webhook_url),
      NULL },

    { ngx_string("twanon_resolver"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_resolver,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, resolver),
      NULL },

    { ngx_string("twanon_resolver_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, resolver_timeout),
      &ngx_http_twanon_resolver_timeout_post },

    { ngx_string("twanon_resolver_send"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, resolver_send),
      &ngx_http_twanon_resolver_send },

    { ngx_string("twanon_identity_field"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, identity_field),
      NULL },

    { ngx_string("twanon_client_parameter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_twanon_client_parameter,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_dial_caller_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_caller_id,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_dial_answer_on_bridge"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, answer_on_bridge),
      NULL },

    { ngx_string("twanon_dial_time_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, dial_time_limit),
      &ngx_http_twanon_time_limit_post },

    { ngx_string("twanon_dial_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, dial_timeout),
      &ngx_http_twanon_timeout_post },

    { ngx_string("twanon_dial_action"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, dial_action),
      NULL },

    { ngx_string("twanon_fallback_say"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_twanon_fallback_say,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_fallback_twiml"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_fallback_twiml,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_fallback_client"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_twanon_fallback_client,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_hash_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_complex_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, hash_key),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_twanon_module_ctx = {
    ngx_http_twanon_add_variables,         /* preconfiguration */
    ngx_http_twanon_init,                  /* postconfiguration */

    ngx_http_twanon_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_twanon_create_loc_conf,       /* create location configuration */
    ngx_http_twanon_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_twanon_module = {
    NGX_MODULE_V1,
    &ngx_http_twanon_module_ctx,           /* module context */
    ngx_http_twanon_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_twanon_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_twanon_exit,                  /* exit process */
    ngx_http_twanon_exit,                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_twanon_vars[] = {

    { ngx_string("twanon_caller_hash"), NULL, ngx_http_twanon_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_call_sid"), NULL, ngx_http_twanon_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_route"), NULL, ngx_http_twanon_variable,
      2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_client_identity"), NULL, ngx_http_twanon_variable,
      3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_twanon_routes[] = {
    ngx_null_string,
    ngx_string("client"),
    ngx_string("unknown"),
    ngx_string("error"),
    ngx_string("rejected")
};


static ngx_int_t
ngx_http_twanon_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    xmlInitParser();

    for (v = ngx_http_twanon_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/*
 * The variables read the main request's context, so that the resolver
 * location can use them too (for example $twanon_caller_hash in a
 * header).  None of them ever holds the caller's number.
 */

static ngx_int_t
ngx_http_twanon_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_int_t               rc;
    ngx_str_t              *value;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {

    case 0:
        rc = ngx_http_twanon_caller_hash(r, ctx);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        value = &ctx->caller_hash;
        break;

    case 1:
        value = &ctx->call_sid;
        break;

    case 2:
        value = &ngx_http_twanon_routes[ctx->route];
        break;

    default: /* 3 */
        value = &ctx->identities;
        break;
    }

    if (value->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_init(ngx_conf_t *cf)
{
    if (ngx_http_twanon_check_contents(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_twanon_incoming_init(cf);
}


/*
 * A location has one content handler, and the directive that sets it last
 * wins: "twanon_incoming; proxy_pass ...;" would make the webhook an
 * unauthenticated proxy.  A handler set before ours is refused by our
 * directive; one set after it is found here, once every location is
 * parsed, as a handler that is no longer ours.
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

        if (content[i].clcf->handler == content[i].handler) {
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%V\" in %V:%ui is overridden by another content "
                      "handler (\"proxy_pass\", \"fastcgi_pass\", "
                      "\"stub_status\" and the like) set after it in the "
                      "same location",
                      content[i].name, &content[i].where->file,
                      content[i].where->line);

        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_init_process(ngx_cycle_t *cycle)
{
    xmlInitParser();

    return NGX_OK;
}


static void
ngx_http_twanon_exit(ngx_cycle_t *cycle)
{
    xmlCleanupParser();
}


static void *
ngx_http_twanon_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_twanon_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twanon_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->default_identity_regex = NULL;
     */

    if (ngx_array_init(&mcf->contents, cf->pool, 4,
                       sizeof(ngx_http_twanon_content_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static void *
ngx_http_twanon_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_twanon_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_twanon_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->outgoing_application_sid = { 0, NULL };
     *     conf->push_credential_sid = { 0, NULL };
     *     conf->region = { 0, NULL };
     *     conf->jwt_header = { 0, NULL };
     *     conf->resolver = { 0, NULL };
     *     conf->identity_field = { 0, NULL };
     *     conf->dial_action = { 0, NULL };
     *     conf->fallback = { 0, NULL };
     *     conf->token = { { 0, NULL }, 0 };
     *     conf->incoming = { { 0, NULL }, 0 };
     *     conf->secret_mac, conf->auth_macs, conf->hash_mac: all
     *         NULL, made where a handler needs them, in merge
     */

    conf->account_sid = NGX_CONF_UNSET_PTR;
    conf->api_key = NGX_CONF_UNSET_PTR;
    conf->api_secret = NGX_CONF_UNSET_PTR;
    conf->identity = NGX_CONF_UNSET_PTR;
    conf->identity_regex = NGX_CONF_UNSET_PTR;
    conf->token_ttl = NGX_CONF_UNSET;
    conf->token_incoming = NGX_CONF_UNSET;
    conf->cors_origins = NGX_CONF_UNSET_PTR;
    conf->cors_any = NGX_CONF_UNSET;
    conf->auth_tokens = NGX_CONF_UNSET_PTR;
    conf->verify_signature = NGX_CONF_UNSET;
    conf->webhook_url = NGX_CONF_UNSET_PTR;
    conf->resolver_send = NGX_CONF_UNSET_UINT;
    conf->resolver_timeout = NGX_CONF_UNSET_MSEC;
    conf->client_params = NGX_CONF_UNSET_PTR;
    conf->caller_id_mode = NGX_CONF_UNSET_UINT;
    conf->caller_id = NGX_CONF_UNSET_PTR;
    conf->answer_on_bridge = NGX_CONF_UNSET;
    conf->dial_time_limit = NGX_CONF_UNSET;
    conf->dial_timeout = NGX_CONF_UNSET;
    conf->fallback_clients = NGX_CONF_UNSET_PTR;
    conf->hash_key = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_twanon_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_twanon_loc_conf_t *prev = parent;
    ngx_http_twanon_loc_conf_t *conf = child;

    ngx_conf_merge_ptr_value(conf->account_sid, prev->account_sid, NULL);
    ngx_conf_merge_ptr_value(conf->api_key, prev->api_key, NULL);
    ngx_conf_merge_ptr_value(conf->api_secret, prev->api_secret, NULL);
    ngx_conf_merge_ptr_value(conf->identity, prev->identity, NULL);
    ngx_conf_merge_ptr_value(conf->identity_regex, prev->identity_regex,
                             NULL);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 3600);
    ngx_conf_merge_value(conf->token_incoming, prev->token_incoming, 1);
    ngx_conf_merge_str_value(conf->outgoing_application_sid,
                             prev->outgoing_application_sid, "");
    ngx_conf_merge_str_value(conf->push_credential_sid,
                             prev->push_credential_sid, "");
    ngx_conf_merge_str_value(conf->region, prev->region, "");
    ngx_conf_merge_ptr_value(conf->cors_origins, prev->cors_origins, NULL);
    ngx_conf_merge_value(conf->cors_any, prev->cors_any, 0);

    ngx_conf_merge_ptr_value(conf->auth_tokens, prev->auth_tokens, NULL);
    ngx_conf_merge_value(conf->verify_signature, prev->verify_signature, 1);
    ngx_conf_merge_ptr_value(conf->webhook_url, prev->webhook_url, NULL);
    ngx_conf_merge_str_value(conf->resolver, prev->resolver, "");
    ngx_conf_merge_uint_value(conf->resolver_send, prev->resolver_send,
                              NGX_HTTP_TWANON_SEND_NUMBER);
    ngx_conf_merge_msec_value(conf->resolver_timeout, prev->resolver_timeout,
                              5000);
    ngx_conf_merge_str_value(conf->identity_field, prev->identity_field,
                             "appId");
    ngx_conf_merge_ptr_value(conf->client_params, prev->client_params, NULL);

    if (conf->caller_id_mode == NGX_CONF_UNSET_UINT) {
        conf->caller_id_mode = prev->caller_id_mode;
        conf->caller_id = prev->caller_id;
    }

    ngx_conf_merge_uint_value(conf->caller_id_mode, prev->caller_id_mode,
                              NGX_HTTP_TWANON_CALLER_ID_TO);
    ngx_conf_merge_ptr_value(conf->caller_id, prev->caller_id, NULL);

    ngx_conf_merge_value(conf->answer_on_bridge, prev->answer_on_bridge, 1);
    ngx_conf_merge_sec_value(conf->dial_time_limit, prev->dial_time_limit,
                             3600);
    ngx_conf_merge_sec_value(conf->dial_timeout, prev->dial_timeout, 30);
    ngx_conf_merge_str_value(conf->dial_action, prev->dial_action, "");
    ngx_conf_merge_ptr_value(conf->hash_key, prev->hash_key, NULL);

    /* a fallback set at this level replaces any kind inherited */

    if (conf->fallback.data == NULL
        && conf->fallback_clients == NGX_CONF_UNSET_PTR)
    {
        conf->fallback = prev->fallback;
        conf->fallback_clients = prev->fallback_clients;
    }

    if (conf->fallback_clients == NGX_CONF_UNSET_PTR) {
        conf->fallback_clients = NULL;
    }

    if (conf->token.file.data) {
        if (ngx_http_twanon_check_token(cf, conf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->incoming.file.data) {
        return ngx_http_twanon_check_incoming(cf, conf);
    }

    return NGX_CONF_OK;
}


/*
 * Runs where "twanon_token" is set, after inheritance: the credentials
 * must be there, and what never changes is prepared once.
 */

static char *
ngx_http_twanon_check_token(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    char  *missing;

    missing = NULL;

    if (conf->account_sid == NULL) {
        missing = "\"twanon_account_sid\"";

    } else if (conf->api_key == NULL) {
        missing = "\"twanon_api_key\"";

    } else if (conf->api_secret == NULL) {
        missing = "\"twanon_api_secret\" or \"twanon_api_secret_file\"";
    }

    if (missing) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_token\" in %V:%ui requires %s",
                      &conf->token.file, conf->token.line, missing);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_default_regex(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_jwt_header(cf->pool, &conf->region, &conf->jwt_header)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_hmac_ready(cf, &conf->secret_mac, "SHA256",
                                   "twanon_token", &conf->token)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the identity of the default is whatever the client asks for */

    if (conf->identity == NULL && conf->cors_any) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_token\" in %V:%ui mints a token for any "
                      "identity the client names, and with "
                      "\"twanon_cors_origin *\" any web site can ask for "
                      "one; set \"twanon_token_identity\" to an "
                      "authenticated user",
                      &conf->token.file, conf->token.line);

    } else if (conf->identity == NULL) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_token\" in %V:%ui mints a token for any "
                      "identity the client names; set "
                      "\"twanon_token_identity\" to an authenticated user",
                      &conf->token.file, conf->token.line);
    }

    return NGX_CONF_OK;
}


/*
 * Runs where "twanon_incoming" is set, after inheritance: what the
 * webhook needs must be there, and the fallback is rendered once.
 */

static char *
ngx_http_twanon_check_incoming(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf)
{
    char                      *missing;
    ngx_str_t                 *id, empty, text;
    ngx_uint_t                 i, n;
    ngx_http_twanon_pair_t    *param;
    ngx_http_core_loc_conf_t  *clcf;

    missing = NULL;

    if (conf->verify_signature && conf->auth_tokens == NULL) {
        missing = "\"twanon_auth_token\" or \"twanon_auth_token_file\" "
                  "(or \"twanon_verify_signature off\")";

    } else if (conf->resolver.len == 0) {
        missing = "\"twanon_resolver\"";

    } else if (conf->resolver_send == NGX_HTTP_TWANON_SEND_HASH
               && conf->hash_key == NULL)
    {
        missing = "\"twanon_hash_key\" (for \"twanon_resolver_send hash\")";
    }

    if (missing) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_incoming\" in %V:%ui requires %s",
                      &conf->incoming.file, conf->incoming.line, missing);
        return NGX_CONF_ERROR;
    }

    /*
     * No webhook is larger than NGX_HTTP_TWANON_WEBHOOK_BODY_MAX: the
     * location's client_max_body_size (merged already, as the core module
     * comes first) is capped at it, so that nginx refuses a larger
     * declared length before reading the body or sending "100 Continue",
     * and stops reading a chunked or HTTP/2 body at the limit.
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_max_body_size == 0
        || clcf->client_max_body_size > NGX_HTTP_TWANON_WEBHOOK_BODY_MAX)
    {
        clcf->client_max_body_size = NGX_HTTP_TWANON_WEBHOOK_BODY_MAX;
    }

    if (ngx_http_twanon_default_regex(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->client_params == NULL) {
        conf->client_params = ngx_array_create(cf->pool, 2,
                                              sizeof(ngx_http_twanon_pair_t));
        if (conf->client_params == NULL) {
            return NGX_CONF_ERROR;
        }

        param = ngx_array_push_n(conf->client_params, 2);
        if (param == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&param[0].key, "customerName");
        param[0].value = param[0].key;
        ngx_str_set(&param[1].key, "customerId");
        param[1].value = param[1].key;
    }

    if (conf->fallback_clients) {
        id = conf->fallback_clients->elts;

        for (i = 0; i < conf->fallback_clients->nelts; i++) {
            if (ngx_http_twanon_identity_valid(conf->identity_regex, &id[i])
                != NGX_OK)
            {
                ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                              "\"twanon_fallback_client\" identity \"%V\" "
                              "does not match the identity pattern, "
                              "for \"twanon_incoming\" in %V:%ui",
                              &id[i], &conf->incoming.file,
                              conf->incoming.line);
                return NGX_CONF_ERROR;
            }
        }
    }

    if (conf->fallback.data == NULL) {
        ngx_str_null(&empty);
        ngx_str_set(&text, NGX_HTTP_TWANON_FALLBACK_SAY);

        if (ngx_http_twanon_twiml_say(cf->pool, &empty, &empty, &text,
                                      &conf->fallback)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    n = (conf->verify_signature && conf->auth_tokens)
        ? conf->auth_tokens->nelts : 0;

    for (i = 0; i < n; i++) {
        if (ngx_http_twanon_hmac_ready(cf, &conf->auth_macs[i], "SHA1",
                                       "twanon_incoming", &conf->incoming)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->hash_key
        && ngx_http_twanon_hmac_ready(cf, &conf->hash_mac, "SHA256",
                                      "twanon_incoming", &conf->incoming)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (!conf->verify_signature) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_incoming\" in %V:%ui does not check "
                      "signatures (\"twanon_verify_signature off\"): "
                      "anyone who can reach it can post any caller",
                      &conf->incoming.file, conf->incoming.line);

    } else if (conf->webhook_url == NULL
               || conf->webhook_url->lengths != NULL)
    {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_incoming\" in %V:%ui has no literal "
                      "\"twanon_webhook_url\": a webhook that Twilio "
                      "signed for another URL under the same Auth Token "
                      "is accepted here",
                      &conf->incoming.file, conf->incoming.line);
    }

    return NGX_CONF_OK;
}


/*
 * The kept HMAC contexts are made here, as the configuration loads, so
 * that an OpenSSL that cannot do HMAC (a FIPS policy, a broken provider
 * configuration) fails "nginx -t" with its reason, not each request.
 */

static ngx_int_t
ngx_http_twanon_hmac_ready(ngx_conf_t *cf, ngx_http_twanon_hmac_t *h,
    const char *digest, const char *name, ngx_http_twanon_where_t *where)
{
    if (ngx_http_twanon_hmac_init(h, cf->pool, digest) != NGX_OK) {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"%s\" in %V:%ui cannot create an HMAC-%s context",
                      name, &where->file, where->line, digest);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_default_regex(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    ngx_str_t                     pattern;
    ngx_http_twanon_main_conf_t  *mcf;

    if (conf->identity_regex) {
        return NGX_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    if (mcf->default_identity_regex == NULL) {
        ngx_str_set(&pattern, NGX_HTTP_TWANON_IDENTITY_DEFAULT);

        mcf->default_identity_regex = ngx_http_twanon_regex(cf, &pattern);
        if (mcf->default_identity_regex == NULL) {
            return NGX_ERROR;
        }
    }

    conf->identity_regex = mcf->default_identity_regex;

    return NGX_OK;
}


/*
 * "twanon_token" and "twanon_incoming": install the content handler in
 * cmd->post and remember where the directive was written, for the
 * messages of the checks that run once the location is merged, and the
 * location, for ngx_http_twanon_check_contents().
 */

static char *
ngx_http_twanon_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char                         *other;
    ngx_http_handler_pt          *handler;
    ngx_http_twanon_where_t      *where;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_twanon_content_t    *content;
    ngx_http_twanon_main_conf_t  *mcf;

    where = (ngx_http_twanon_where_t *) (p + cmd->offset);

    if (where->file.data) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_twanon_token_handler) {
        other = "twanon_token";

    } else if (clcf->handler == ngx_http_twanon_incoming_handler) {
        other = "twanon_incoming";

    } else {
        other = NULL;
    }

    if (other) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be mixed with \"%s\"",
                           &cmd->name, other);
        return NGX_CONF_ERROR;
    }

    if (clcf->handler != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be mixed with another content "
                           "handler (\"proxy_pass\", \"fastcgi_pass\", "
                           "\"stub_status\" and the like)", &cmd->name);
        return NGX_CONF_ERROR;
    }

    handler = cmd->post;
    clcf->handler = *handler;

    where->file = cf->conf_file->file.name;
    where->line = cf->conf_file->line;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    content = ngx_array_push(&mcf->contents);
    if (content == NULL) {
        return NGX_CONF_ERROR;
    }

    content->clcf = clcf;
    content->handler = *handler;
    content->name = &cmd->name;
    content->where = where;

    return NGX_CONF_OK;
}


/*
 * A value that may hold variables; a literal is checked here, a value
 * with variables when a request evaluates it.
 */

static char *
ngx_http_twanon_complex_value(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                  *value;
    ngx_http_complex_value_t  **cv;

    cv = (ngx_http_complex_value_t **) (p + cmd->offset);

    if (*cv != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cv == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    return ngx_http_twanon_compile(cf, &cmd->name, &value[1], *cv);
}


static char *
ngx_http_twanon_compile(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *value,
    ngx_http_complex_value_t *cv)
{
    ngx_http_compile_complex_value_t  ccv;

    if (value->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty value in \"%V\" directive", name);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = value;
    ccv.complex_value = cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The Account SID and API key may hold variables; the grant SIDs are
 * literals.  Either way a literal must have Twilio's shape: the two
 * letters in cmd->post followed by 32 hex digits.
 */

static char *
ngx_http_twanon_sid(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char                       *rv;
    ngx_str_t                  *value, *sid;
    ngx_http_complex_value_t  **cv;

    value = cf->args->elts;

    if (cmd->offset == offsetof(ngx_http_twanon_loc_conf_t, account_sid)
        || cmd->offset == offsetof(ngx_http_twanon_loc_conf_t, api_key))
    {
        rv = ngx_http_twanon_complex_value(cf, cmd, conf);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        cv = (ngx_http_complex_value_t **) (p + cmd->offset);

        if ((*cv)->lengths != NULL) {
            return NGX_CONF_OK;
        }

        sid = &(*cv)->value;

    } else {
        sid = (ngx_str_t *) (p + cmd->offset);

        if (sid->data) {
            return "is duplicate";
        }

        *sid = value[1];
    }

    if (ngx_http_twanon_sid_valid(sid, cmd->post) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"%s\" followed by 32 hex digits",
                           &value[1], &cmd->name, cmd->post);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The secret is read once, by the master process as it loads the
 * configuration, so that it never has to sit in nginx.conf.
 */

static char *
ngx_http_twanon_secret_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char                       *rv;
    ngx_str_t                  *value;
    ngx_http_complex_value_t  **cv;

    cv = (ngx_http_complex_value_t **) (p + cmd->offset);

    if (*cv != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    *cv = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cv == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    rv = ngx_http_twanon_read_file(cf, &value[1], &(*cv)->value, 1);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return NGX_CONF_OK;
}


/*
 * Reads a file named in the configuration.  It is opened without
 * blocking, so that a FIFO is refused rather than waited on.  A secret
 * loses its trailing white space (files written with echo end in a
 * newline), must not start with a byte order mark or white space (an
 * editor's or a copy's, which would make every signature wrong), and a
 * secret that other users can read is warned about.
 */

static char *
ngx_http_twanon_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *value,
    ngx_uint_t secret)
{
    u_char           *last;
    size_t            size;
    ssize_t           n;
    ngx_str_t         path;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = path;
    file.log = cf->log;

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                            NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%V\" cannot open \"%s\"",
                           &((ngx_str_t *) cf->args->elts)[0], path.data);
        return NGX_CONF_ERROR;
    }

    value->data = NULL;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", path.data);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" is not a regular file",
                           &((ngx_str_t *) cf->args->elts)[0], path.data);
        goto failed;
    }

    if (secret && (ngx_file_access(&fi) & 0077)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" file \"%s\" is readable by other users",
                           &((ngx_str_t *) cf->args->elts)[0], path.data);
    }

    size = (size_t) ngx_file_size(&fi);

    value->data = ngx_pnalloc(cf->pool, size ? size : 1);
    if (value->data == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, value->data, size, 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    last = value->data + n;

    while (secret
           && last > value->data
           && (last[-1] == CR || last[-1] == LF
               || last[-1] == ' ' || last[-1] == '\t'))
    {
        last--;
    }

    value->len = last - value->data;

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    if (value->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" is empty",
                           &((ngx_str_t *) cf->args->elts)[0], path.data);
        return NGX_CONF_ERROR;
    }

    if (!secret) {
        return NGX_CONF_OK;
    }

    if (value->len >= 3 && ngx_strncmp(value->data, "\xef\xbb\xbf", 3) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" starts with a UTF-8 byte "
                           "order mark", &((ngx_str_t *) cf->args->elts)[0],
                           path.data);
        return NGX_CONF_ERROR;
    }

    if (value->data[0] == ' ' || value->data[0] == '\t'
        || value->data[0] == CR || value->data[0] == LF)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" starts with white space",
                           &((ngx_str_t *) cf->args->elts)[0], path.data);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

failed:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    return NGX_CONF_ERROR;
}


static char *
ngx_http_twanon_identity_pattern(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->identity_regex != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->identity_regex = ngx_http_twanon_regex(cf, &value[1]);
    if (tlcf->identity_regex == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_regex_t *
ngx_http_twanon_regex(ngx_conf_t *cf, ngx_str_t *pattern)
{
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t  rc;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"twanon_token_identity_pattern\" %V", &rc.err);
        return NULL;
    }

    return rc.regex;
}


static char *
ngx_http_twanon_region(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    u_char     *p, *last;
    ngx_str_t  *value;

    if (tlcf->region.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = value[1].data;
    last = p + value[1].len;

    if (value[1].len == 0 || value[1].len > 32) {
        goto invalid;
    }

    for ( /* void */ ; p < last; p++) {
        if ((*p < 'a' || *p > 'z') && (*p < '0' || *p > '9') && *p != '-') {
            goto invalid;
        }
    }

    tlcf->region = value[1];

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be a region name such as \"us1\" or \"ie1\"",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}


/* "off", "*", or origins such as "https://console.example.com:8443" */

static char *
ngx_http_twanon_cors_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    u_char      *host, *last;
    ngx_str_t   *value, *origin;
    ngx_uint_t   i;

    if (tlcf->cors_origins != NGX_CONF_UNSET_PTR
        || tlcf->cors_any != NGX_CONF_UNSET)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->cors_any = 0;
    tlcf->cors_origins = NULL;

    if (cf->args->nelts == 2) {

        if (ngx_strcmp(value[1].data, "off") == 0) {
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(value[1].data, "*") == 0) {
            tlcf->cors_any = 1;
            return NGX_CONF_OK;
        }
    }

    tlcf->cors_origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (tlcf->cors_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len > 7
            && ngx_strncmp(value[i].data, "http://", 7) == 0)
        {
            host = value[i].data + 7;

        } else if (value[i].len > 8
                   && ngx_strncmp(value[i].data, "https://", 8) == 0)
        {
            host = value[i].data + 8;

        } else {
            goto invalid;
        }

        last = value[i].data + value[i].len;

        for ( /* void */ ; host < last; host++) {
            if (*host == '/' || *host == '?' || *host == '#' || *host == '@'
                || *host <= ' ' || *host >= 0x7f)
            {
                goto invalid;
            }
        }

        origin = ngx_array_push(tlcf->cors_origins);
        if (origin == NULL) {
            return NGX_CONF_ERROR;
        }

        *origin = value[i];
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be an origin such as "
                       "\"https://example.com\", \"*\" or \"off\"",
                       &value[i], &cmd->name);
    return NGX_CONF_ERROR;
}


/*
 * "twanon_auth_token" and "twanon_auth_token_file" add to one list of at
 * most two tokens, so that a token can be rotated: a signature valid
 * under either is accepted.
 */

static char *
ngx_http_twanon_auth_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_http_complex_value_t  *cv;

    if (tlcf->auth_tokens == NGX_CONF_UNSET_PTR) {
        tlcf->auth_tokens = ngx_array_create(cf->pool, 2,
                                             sizeof(ngx_http_complex_value_t));
        if (tlcf->auth_tokens == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (tlcf->auth_tokens->nelts == 2) {
        return "is given more than twice: at most two auth tokens, "
               "the current and the next, are allowed";
    }

    cv = ngx_array_push(tlcf->auth_tokens);
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(cv, sizeof(ngx_http_complex_value_t));

    value = cf->args->elts;

    if (cmd->offset == 1) {
        rv = ngx_http_twanon_read_file(cf, &value[1], &cv->value, 1);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        return NGX_CONF_OK;
    }

    return ngx_http_twanon_compile(cf, &cmd->name, &value[1], cv);
}


static char *
ngx_http_twanon_resolver(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (tlcf->resolver.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] == '?' || value[1].data[i] <= ' ') {
            break;
        }
    }

    if (value[1].len == 0 || value[1].data[0] != '/' || i != value[1].len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be the URI of a location, such as "
                           "\"/resolver\", with no arguments",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    tlcf->resolver = value[1];

    return NGX_CONF_OK;
}


/* twanon_client_parameter name [field]; */

static char *
ngx_http_twanon_client_parameter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    u_char                  *p, *last;
    ngx_str_t               *value;
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *param;

    if (tlcf->client_params == NGX_CONF_UNSET_PTR) {
        tlcf->client_params = ngx_array_create(cf->pool, 2,
                                              sizeof(ngx_http_twanon_pair_t));
        if (tlcf->client_params == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    if (tlcf->client_params->nelts == NGX_HTTP_TWANON_PARAMS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"%V\" directives, Twilio allows "
                           "at most %d parameters", &cmd->name,
                           NGX_HTTP_TWANON_PARAMS_MAX);
        return NGX_CONF_ERROR;
    }

    p = value[1].data;
    last = p + value[1].len;

    if (value[1].len == 0 || value[1].len > NGX_HTTP_TWANON_PARAM_NAME_MAX) {
        goto invalid;
    }

    for ( /* void */ ; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'
              || *p == '.'))
        {
            goto invalid;
        }
    }

    param = tlcf->client_params->elts;

    for (i = 0; i < tlcf->client_params->nelts; i++) {
        if (param[i].key.len == value[1].len
            && ngx_strncmp(param[i].key.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "parameter \"%V\" is duplicate", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    param = ngx_array_push(tlcf->client_params);
    if (param == NULL) {
        return NGX_CONF_ERROR;
    }

    param->key = value[1];
    param->value = (cf->args->nelts == 3) ? value[2] : value[1];

    if (param->value.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty field in \"%V\" directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter name \"%V\" in \"%V\" directive, "
                       "it must be 1 to %d letters, digits, \"_\", \"-\" "
                       "or \".\"", &value[1], &cmd->name,
                       NGX_HTTP_TWANON_PARAM_NAME_MAX);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_twanon_caller_id(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->caller_id_mode != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        tlcf->caller_id_mode = NGX_HTTP_TWANON_CALLER_ID_OFF;
        tlcf->caller_id = NULL;
        return NGX_CONF_OK;
    }

    tlcf->caller_id_mode = NGX_HTTP_TWANON_CALLER_ID_VALUE;

    tlcf->caller_id = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (tlcf->caller_id == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_twanon_compile(cf, &cmd->name, &value[1],
                                   tlcf->caller_id);
}


/* twanon_fallback_say [language=xx-XX] [voice=name] text; */

static char *
ngx_http_twanon_fallback_say(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t   *value, language, voice;
    ngx_uint_t   i;

    if (tlcf->fallback.data || tlcf->fallback_clients != NGX_CONF_UNSET_PTR) {
        return "is duplicate: one of \"twanon_fallback_say\", "
               "\"twanon_fallback_twiml\" and \"twanon_fallback_client\" "
               "is allowed at one level";
    }

    value = cf->args->elts;

    ngx_str_null(&language);
    ngx_str_null(&voice);

    for (i = 1; i < cf->args->nelts - 1; i++) {

        if (ngx_strncmp(value[i].data, "language=", 9) == 0
            && value[i].len > 9)
        {
            language.data = value[i].data + 9;
            language.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "voice=", 6) == 0 && value[i].len > 6)
        {
            voice.data = value[i].data + 6;
            voice.len = value[i].len - 6;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" in \"%V\" directive, "
                           "expected \"language=\", \"voice=\" or the text "
                           "as the last parameter", &value[i], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (value[i].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty text in \"%V\" directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_twiml_say(cf->pool, &language, &voice, &value[i],
                                  &tlcf->fallback)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_twanon_fallback_twiml(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char        *rv;
    ngx_str_t   *value, text;
    const char  *reason;

    if (tlcf->fallback.data || tlcf->fallback_clients != NGX_CONF_UNSET_PTR) {
        return "is duplicate: one of \"twanon_fallback_say\", "
               "\"twanon_fallback_twiml\" and \"twanon_fallback_client\" "
               "is allowed at one level";
    }

    value = cf->args->elts;

    rv = ngx_http_twanon_read_file(cf, &value[1], &text, 0);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    switch (ngx_http_twanon_twiml_check(cf->temp_pool, &text, &reason)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%V\" %s", &cmd->name, &value[1],
                           reason);
        return NGX_CONF_ERROR;

    default:
        return NGX_CONF_ERROR;
    }

    tlcf->fallback = text;

    return NGX_CONF_OK;
}


static char *
ngx_http_twanon_fallback_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t   *value, *id;
    ngx_uint_t   i;

    if (tlcf->fallback.data || tlcf->fallback_clients != NGX_CONF_UNSET_PTR) {
        return "is duplicate: one of \"twanon_fallback_say\", "
               "\"twanon_fallback_twiml\" and \"twanon_fallback_client\" "
               "is allowed at one level";
    }

    if (cf->args->nelts - 1 > NGX_HTTP_TWANON_IDENTITIES_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many identities in \"%V\" directive, "
                           "at most %d ring at once", &cmd->name,
                           NGX_HTTP_TWANON_IDENTITIES_MAX);
        return NGX_CONF_ERROR;
    }

    tlcf->fallback_clients = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                              sizeof(ngx_str_t));
    if (tlcf->fallback_clients == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        id = ngx_array_push(tlcf->fallback_clients);
        if (id == NULL) {
            return NGX_CONF_ERROR;
        }

        *id = value[i];
    }

    return NGX_CONF_OK;
}


/* a time between two bounds, named in the message as written */

static char *
ngx_http_twanon_msec_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_twanon_msec_bounds_t  *bounds = post;
    ngx_msec_t                     *msec = data;

    if (*msec < bounds->low || *msec > bounds->high) {
        return bounds->message;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_twanon_sec_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_twanon_sec_bounds_t  *bounds = post;
    time_t                        *sec = data;

    if (*sec < bounds->low || *sec > bounds->high) {
        return bounds->message;
    }

    return NGX_CONF_OK;
}


/*
 * The request body as one contiguous string, also when nginx kept part
 * of it in a temporary file.  NGX_DECLINED when it is larger than "max".
 */

ngx_int_t
ngx_http_twanon_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body)
{
    u_char       *p;
    size_t        len, size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > max) {
        return NGX_DECLINED;
    }

    if (len == 0) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for ( /* void */ ; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_size(b);

        if (size == 0) {
            continue;
        }

        if (b->in_file) {
            n = ngx_read_file(b->file, p, size, b->file_pos);

            if (n == NGX_ERROR) {
                return NGX_ERROR;
            }

            if ((size_t) n != size) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                              ngx_read_file_n " read only %z of %uz bytes "
                              "of the request body", n, size);
                return NGX_ERROR;
            }

            p += size;

        } else {
            p = ngx_cpymem(p, b->pos, size);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


/*
 * The request header with this name; one given more than once is treated
 * as absent, so that two readers of the request cannot disagree.
 */

ngx_table_elt_t *
ngx_http_twanon_header_in(ngx_http_request_t *r, const char *lowcase_name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    len = ngx_strlen(lowcase_name);
    found = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != len
            || ngx_strncmp(h[i].lowcase_key, lowcase_name, len) != 0)
        {
            continue;
        }

        if (found) {
            return NULL;
        }

        found = &h[i];
    }

    return found;
}


ngx_table_elt_t *
ngx_http_twanon_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


ngx_int_t
ngx_http_twanon_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_length_n = body->len;

    if (body->len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_twanon_send_json_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message)
{
    ngx_str_t  body;

    static ngx_str_t  type = ngx_string("application/json");

    body.len = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
               + ngx_strlen(error) + ngx_strlen(message);

    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    /* both strings are ours and need no JSON escaping */

    ngx_sprintf(body.data, "{\"error\":\"%s\",\"message\":\"%s\"}",
                error, message);

    return ngx_http_twanon_send(r, status, &type, &body);
}
