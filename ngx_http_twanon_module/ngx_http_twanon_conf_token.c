
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* what a "twanon_token" location has of its own */


char *
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


/*
 * twanon_token_outgoing_param name value; repeatable: the params Twilio
 * sends to the TwiML App with every outgoing call, which the browser
 * cannot change.  The value may hold variables.
 */

char *
ngx_http_twanon_token_outgoing_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_str_t                      *value;
    ngx_uint_t                      i;
    ngx_http_twanon_token_param_t  *param;

    if (tlcf->outgoing_params == NGX_CONF_UNSET_PTR) {
        tlcf->outgoing_params = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_twanon_token_param_t));
        if (tlcf->outgoing_params == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    if (tlcf->outgoing_params->nelts == NGX_HTTP_TWANON_TOKEN_PARAMS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many \"%V\" directives, at most %d",
                           &cmd->name, NGX_HTTP_TWANON_TOKEN_PARAMS_MAX);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_param_name_valid(&value[1]) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter name \"%V\" in \"%V\" "
                           "directive, it must be 1 to %d letters, digits, "
                           "\"_\", \"-\" or \".\"", &value[1], &cmd->name,
                           NGX_HTTP_TWANON_PARAM_NAME_MAX);
        return NGX_CONF_ERROR;
    }

    param = tlcf->outgoing_params->elts;

    for (i = 0; i < tlcf->outgoing_params->nelts; i++) {
        if (param[i].name.len == value[1].len
            && ngx_strncmp(param[i].name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "parameter \"%V\" is duplicate in \"%V\" "
                               "directive", &value[1], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    param = ngx_array_push(tlcf->outgoing_params);
    if (param == NULL) {
        return NGX_CONF_ERROR;
    }

    param->name = value[1];

    return ngx_http_twanon_compile(cf, &cmd->name, &value[2], &param->value);
}


/* "off", "*", or origins such as "https://console.example.com:8443" */

char *
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
