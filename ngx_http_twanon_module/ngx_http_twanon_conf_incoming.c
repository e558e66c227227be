
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* what a webhook answers: client parameters, caller ID, fallbacks */


/*
 * The names alone always fit Twilio's parameter budget: 7 configured
 * names of at most 32 bytes, and "twanonRinging" with at most "10", 239
 * bytes of 800.  Limits raised past it need a check in "nginx -t".
 */

#if ((NGX_HTTP_TWANON_PARAMS_MAX - 1) * NGX_HTTP_TWANON_PARAM_NAME_MAX        \
     + 13 + 2 > NGX_HTTP_TWANON_PARAMS_BYTES)
#error "the parameter names may not fit NGX_HTTP_TWANON_PARAMS_BYTES"
#endif


static char *ngx_http_twanon_fallback_duplicate(
    ngx_http_twanon_loc_conf_t *tlcf);


/* twanon_client_parameter name [field]; */

char *
ngx_http_twanon_client_parameter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

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

    /* one of Twilio's parameters is the module's own (twanonRinging) */

    if (tlcf->client_params->nelts == NGX_HTTP_TWANON_PARAMS_MAX - 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"%V\" directives, Twilio allows "
                           "at most %d parameters, and the module uses one",
                           &cmd->name, NGX_HTTP_TWANON_PARAMS_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_param_name_valid(&value[1]) != NGX_OK) {
        goto invalid;
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


char *
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

char *
ngx_http_twanon_fallback_say(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char        *rv;
    ngx_str_t   *value, language, voice;
    ngx_uint_t   i;

    rv = ngx_http_twanon_fallback_duplicate(tlcf);
    if (rv != NULL) {
        return rv;
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

    tlcf->fallback_kind = NGX_HTTP_TWANON_FALLBACK_KIND_SAY;

    return NGX_CONF_OK;
}


char *
ngx_http_twanon_fallback_twiml(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char        *rv;
    ngx_str_t   *value, text;
    const char  *reason;

    rv = ngx_http_twanon_fallback_duplicate(tlcf);
    if (rv != NULL) {
        return rv;
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
    tlcf->fallback_kind = NGX_HTTP_TWANON_FALLBACK_KIND_TWIML;

    return NGX_CONF_OK;
}


char *
ngx_http_twanon_fallback_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char        *rv;
    ngx_str_t   *value, *id;
    ngx_uint_t   i;

    rv = ngx_http_twanon_fallback_duplicate(tlcf);
    if (rv != NULL) {
        return rv;
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


/* one fallback, of one kind, may be set at one level */

static char *
ngx_http_twanon_fallback_duplicate(ngx_http_twanon_loc_conf_t *tlcf)
{
    if (tlcf->fallback.data == NULL
        && tlcf->fallback_clients == NGX_CONF_UNSET_PTR)
    {
        return NULL;
    }

    return "is duplicate: one of \"twanon_fallback_say\", "
           "\"twanon_fallback_twiml\" and \"twanon_fallback_client\" "
           "is allowed at one level";
}


/*
 * twanon_outgoing_param name;: the field of an outgoing call that names
 * the customer, 1 to 32 letters, digits, "_", "-" or "."
 */

char *
ngx_http_twanon_outgoing_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t  *value;

    if (tlcf->outgoing_param.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_twanon_param_name_valid(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid field name \"%V\" in \"%V\" directive, "
                           "it must be 1 to %d letters, digits, \"_\", "
                           "\"-\" or \".\"", &value[1], &cmd->name,
                           NGX_HTTP_TWANON_PARAM_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    tlcf->outgoing_param = value[1];

    return NGX_CONF_OK;
}
