
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libxml/parser.h>

#include "ngx_http_twanon.h"
#include "ngx_http_twanon_module.h"


static ngx_int_t ngx_http_twanon_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_twanon_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_twanon_init_process(ngx_cycle_t *cycle);
static void ngx_http_twanon_exit(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_twanon_init(ngx_conf_t *cf);
static void *ngx_http_twanon_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_twanon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_twanon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


/* each handler, described in its own file, as ngx_modules.c lists modules */

extern ngx_http_twanon_handler_t  ngx_http_twanon_token;
extern ngx_http_twanon_handler_t  ngx_http_twanon_incoming;
extern ngx_http_twanon_handler_t  ngx_http_twanon_after_dial;
extern ngx_http_twanon_handler_t  ngx_http_twanon_outgoing;
extern ngx_http_twanon_handler_t  ngx_http_twanon_status;

static ngx_http_twanon_handler_t  *ngx_http_twanon_handlers[] = {
    &ngx_http_twanon_token,
    &ngx_http_twanon_incoming,
    &ngx_http_twanon_after_dial,
    &ngx_http_twanon_outgoing,
    &ngx_http_twanon_status,
    NULL
};


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


static ngx_conf_num_bounds_t  ngx_http_twanon_attempts_bounds = {
    ngx_http_twanon_num_bounds, 1, 10
};


static ngx_conf_post_t  ngx_http_twanon_dial_action_post = {
    ngx_http_twanon_dial_action
};


static ngx_conf_enum_t  ngx_http_twanon_resolver_send[] = {
    { ngx_string("number"), NGX_HTTP_TWANON_SEND_NUMBER },
    { ngx_string("hash"), NGX_HTTP_TWANON_SEND_HASH },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_twanon_commands[] = {

    { ngx_string("twanon_account_sid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_sid_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, account_sid),
      "AC" },

    { ngx_string("twanon_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_sid_value,
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
      ngx_http_twanon_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_twanon_token },

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

    { ngx_string("twanon_token_outgoing_param"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_twanon_token_outgoing_param,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, outgoing_params),
      NULL },

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
      ngx_http_twanon_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_twanon_incoming },

    { ngx_string("twanon_after_dial"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twanon_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_twanon_after_dial },

    { ngx_string("twanon_status_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_status_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twanon_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_twanon_status },

    { ngx_string("twanon_outgoing"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_twanon_set_handler,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      &ngx_http_twanon_outgoing },

    { ngx_string("twanon_outgoing_param"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_outgoing_param,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, outgoing_param),
      NULL },

    { ngx_string("twanon_outgoing_caller_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_complex_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, outgoing_caller_id),
      NULL },

    { ngx_string("twanon_auth_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_auth_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_auth_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_twanon_auth_token_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_webhook_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_twanon_webhook_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("twanon_webhook_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_twanon_webhook_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
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
      &ngx_http_twanon_dial_action_post },

    { ngx_string("twanon_dial_attempts"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_twanon_loc_conf_t, dial_attempts),
      &ngx_http_twanon_attempts_bounds },

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
    ngx_http_twanon_preconfiguration,      /* preconfiguration */
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
    ngx_http_twanon_init_module,           /* init module */
    ngx_http_twanon_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_twanon_exit,                  /* exit process */
    ngx_http_twanon_exit,                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the plumbing's variables; each handler's come with its descriptor */

static ngx_http_variable_t  *ngx_http_twanon_variables[] = {
    ngx_http_twanon_webhook_variables,
    ngx_http_twanon_resolver_variables,
    ngx_http_twanon_dial_variables,
    NULL
};


/* libxml2 is set up before any "twanon_fallback_twiml" file is checked */

static ngx_int_t
ngx_http_twanon_preconfiguration(ngx_conf_t *cf)
{
    ngx_http_variable_t  **v;

    xmlInitParser();

    for (v = ngx_http_twanon_variables; *v; v++) {
        if (ngx_http_twanon_add_variables(cf, *v) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return ngx_http_twanon_register(cf, ngx_http_twanon_handlers);
}


static ngx_int_t
ngx_http_twanon_init(ngx_conf_t *cf)
{
    if (ngx_http_twanon_check_init(cf) != NGX_OK
        || ngx_http_twanon_stats_init(cf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_twanon_resolver_init(cf);
}


static ngx_int_t
ngx_http_twanon_init_module(ngx_cycle_t *cycle)
{
    /* the version, once per configuration loaded, not for "nginx -t" */

    if (!ngx_test_config) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "twanon/" NGX_HTTP_TWANON_VERSION);
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
     *     conf->handler = NULL;
     *     conf->where = { { 0, NULL }, 0, NULL };
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
    conf->outgoing_params = NGX_CONF_UNSET_PTR;
    conf->cors_origins = NGX_CONF_UNSET_PTR;
    conf->cors_any = NGX_CONF_UNSET;
    conf->auth_tokens = NGX_CONF_UNSET_PTR;
    conf->webhook_keys = NGX_CONF_UNSET_PTR;
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
    conf->dial_attempts = NGX_CONF_UNSET;
    conf->fallback_clients = NGX_CONF_UNSET_PTR;
    conf->hash_key = NGX_CONF_UNSET_PTR;
    conf->outgoing_caller_id = NGX_CONF_UNSET_PTR;

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
    ngx_conf_merge_ptr_value(conf->outgoing_params, prev->outgoing_params,
                             NULL);
    ngx_conf_merge_str_value(conf->push_credential_sid,
                             prev->push_credential_sid, "");
    ngx_conf_merge_str_value(conf->region, prev->region, "");
    ngx_conf_merge_ptr_value(conf->cors_origins, prev->cors_origins, NULL);
    ngx_conf_merge_value(conf->cors_any, prev->cors_any, 0);

    ngx_conf_merge_ptr_value(conf->auth_tokens, prev->auth_tokens, NULL);
    ngx_conf_merge_ptr_value(conf->webhook_keys, prev->webhook_keys, NULL);
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
    ngx_conf_merge_value(conf->dial_attempts, prev->dial_attempts, 2);
    ngx_conf_merge_str_value(conf->dial_action, prev->dial_action, "");
    ngx_conf_merge_ptr_value(conf->hash_key, prev->hash_key, NULL);
    ngx_conf_merge_ptr_value(conf->outgoing_caller_id,
                             prev->outgoing_caller_id, NULL);
    ngx_conf_merge_str_value(conf->outgoing_param, prev->outgoing_param,
                             "customerId");

    /* a fallback set at this level replaces any kind inherited */

    if (conf->fallback.data == NULL
        && conf->fallback_clients == NGX_CONF_UNSET_PTR)
    {
        conf->fallback = prev->fallback;
        conf->fallback_kind = prev->fallback_kind;
        conf->fallback_clients = prev->fallback_clients;
    }

    if (conf->fallback_kind == 0) {
        conf->fallback_kind = NGX_HTTP_TWANON_FALLBACK_KIND_SAY;
    }

    if (conf->fallback_clients == NGX_CONF_UNSET_PTR) {
        conf->fallback_clients = NULL;
    }

    return ngx_http_twanon_check_merged(cf, conf);
}
