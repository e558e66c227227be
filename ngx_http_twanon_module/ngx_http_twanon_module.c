
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_module.h"


static void *ngx_http_twanon_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_twanon_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_twanon_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_twanon_check_token(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);

static char *ngx_http_twanon_token(ngx_conf_t *cf, ngx_command_t *cmd,
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
static char *ngx_http_twanon_ttl_bounds(ngx_conf_t *cf, void *post,
    void *data);

static char *ngx_http_twanon_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value);
static ngx_regex_t *ngx_http_twanon_compile(ngx_conf_t *cf,
    ngx_str_t *pattern);


static ngx_conf_post_handler_pt  ngx_http_twanon_ttl_post =
    ngx_http_twanon_ttl_bounds;


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
      ngx_http_twanon_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

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

      ngx_null_command
};


static ngx_http_module_t  ngx_http_twanon_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

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
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


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
     *     conf->token_file = { 0, NULL };
     *     conf->token_line = 0;
     *     conf->token = 0;
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

    if (conf->token) {
        return ngx_http_twanon_check_token(cf, conf);
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
    char                         *missing;
    ngx_str_t                     pattern;
    ngx_http_twanon_main_conf_t  *mcf;

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
                      &conf->token_file, conf->token_line, missing);
        return NGX_CONF_ERROR;
    }

    if (conf->identity_regex == NULL) {
        mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

        if (mcf->default_identity_regex == NULL) {
            ngx_str_set(&pattern, NGX_HTTP_TWANON_IDENTITY_DEFAULT);

            mcf->default_identity_regex = ngx_http_twanon_compile(cf,
                                                                  &pattern);
            if (mcf->default_identity_regex == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        conf->identity_regex = mcf->default_identity_regex;
    }

    if (ngx_http_twanon_jwt_header(cf->pool, &conf->region, &conf->jwt_header)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_twanon_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (tlcf->token) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_twanon_token_handler;

    tlcf->token = 1;
    tlcf->token_file = cf->conf_file->file.name;
    tlcf->token_line = cf->conf_file->line;

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

    ngx_str_t                          *value;
    ngx_http_complex_value_t          **cv;
    ngx_http_compile_complex_value_t    ccv;

    cv = (ngx_http_complex_value_t **) (p + cmd->offset);

    if (*cv != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty value in \"%V\" directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    *cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (*cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = *cv;

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

    rv = ngx_http_twanon_read_file(cf, &value[1], &(*cv)->value);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_twanon_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *value)
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

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

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

    if (ngx_file_access(&fi) & 0077) {
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

    while (last > value->data
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

    tlcf->identity_regex = ngx_http_twanon_compile(cf, &value[1]);
    if (tlcf->identity_regex == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_regex_t *
ngx_http_twanon_compile(ngx_conf_t *cf, ngx_str_t *pattern)
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


static char *
ngx_http_twanon_ttl_bounds(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *ttl = data;

    if (*ttl < 1 || *ttl > 86400) {
        return "must be between 1s and 24h";
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
