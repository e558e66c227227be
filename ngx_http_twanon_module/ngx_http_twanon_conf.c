
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


static char *ngx_http_twanon_sid_check(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *sid);
static char *ngx_http_twanon_read_fd(ngx_conf_t *cf, ngx_file_t *file,
    ngx_str_t *value, ngx_uint_t secret);
static char *ngx_http_twanon_secret_check(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *value);


/*
 * A handler's directive: cmd->post is its descriptor.  Where it was
 * written is kept for the messages of the checks that run once the
 * location is merged, and the location for ngx_http_twanon_check_init().
 */

char *
ngx_http_twanon_set_handler(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    ngx_http_twanon_handler_t    *h;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_twanon_content_t    *content;
    ngx_http_twanon_main_conf_t  *mcf;

    h = cmd->post;

    if (tlcf->handler == h) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_twanon_module);

    if (tlcf->handler && clcf->handler == tlcf->handler->handler) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be mixed with \"%V\"",
                           &cmd->name, &tlcf->handler->name);
        return NGX_CONF_ERROR;
    }

    if (clcf->handler != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" cannot be mixed with another content "
                           "handler (\"proxy_pass\", \"fastcgi_pass\", "
                           "\"stub_status\" and the like)", &cmd->name);
        return NGX_CONF_ERROR;
    }

    clcf->handler = h->handler;

    tlcf->handler = h;
    tlcf->where.file = cf->conf_file->file.name;
    tlcf->where.line = cf->conf_file->line;
    tlcf->where.name = (char *) cmd->name.data;

    content = ngx_array_push(&mcf->contents);
    if (content == NULL) {
        return NGX_CONF_ERROR;
    }

    content->clcf = clcf;
    content->handler = h;
    content->conf = tlcf;

    return NGX_CONF_OK;
}


/*
 * A value that may hold variables; a literal is checked here, a value
 * with variables when a request evaluates it.
 */

char *
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


char *
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
 * The grant SIDs are literals, the Account SID and the API key may hold
 * variables.  Either way a literal must have Twilio's shape: the two
 * letters in cmd->post followed by 32 hex digits.
 */

char *
ngx_http_twanon_sid(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *value, *sid;

    sid = (ngx_str_t *) (p + cmd->offset);

    if (sid->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    *sid = value[1];

    return ngx_http_twanon_sid_check(cf, cmd, sid);
}


char *
ngx_http_twanon_sid_value(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char                       *rv;
    ngx_http_complex_value_t  **cv;

    rv = ngx_http_twanon_complex_value(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    cv = (ngx_http_complex_value_t **) (p + cmd->offset);

    if ((*cv)->lengths != NULL) {
        return NGX_CONF_OK;
    }

    return ngx_http_twanon_sid_check(cf, cmd, &(*cv)->value);
}


static char *
ngx_http_twanon_sid_check(ngx_conf_t *cf, ngx_command_t *cmd, ngx_str_t *sid)
{
    ngx_str_t  *value;

    if (ngx_http_twanon_sid_valid(sid, cmd->post) == NGX_OK) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, "
                       "it must be \"%s\" followed by 32 hex digits",
                       &value[1], &cmd->name, cmd->post);
    return NGX_CONF_ERROR;
}


/*
 * The secret is read once, by the master process as it loads the
 * configuration, so that it never has to sit in nginx.conf.
 */

char *
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
 * Opened without blocking, so that a FIFO is refused; a secret loses its
 * trailing white space and is refused with leading white space or a BOM.
 */

char *
ngx_http_twanon_read_file(ngx_conf_t *cf, ngx_str_t *name, ngx_str_t *value,
    ngx_uint_t secret)
{
    char        *rv;
    ngx_str_t    path, *directive;
    ngx_file_t   file;

    directive = cf->args->elts;
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
                           "\"%V\" cannot open \"%s\"", directive,
                           path.data);
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_twanon_read_fd(cf, &file, value, secret);

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (value->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" is empty", directive,
                           path.data);
        return NGX_CONF_ERROR;
    }

    if (!secret) {
        return NGX_CONF_OK;
    }

    return ngx_http_twanon_secret_check(cf, &path, value);
}


/* the open file's content; a secret loses its trailing white space */

static char *
ngx_http_twanon_read_fd(ngx_conf_t *cf, ngx_file_t *file, ngx_str_t *value,
    ngx_uint_t secret)
{
    u_char           *last;
    size_t            size;
    ssize_t           n;
    ngx_str_t        *directive;
    ngx_file_info_t   fi;

    directive = cf->args->elts;
    value->data = NULL;

    if (ngx_fd_info(file->fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", file->name.data);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" is not a regular file",
                           directive, file->name.data);
        return NGX_CONF_ERROR;
    }

    if (secret && (ngx_file_access(&fi) & 0077)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" file \"%s\" is readable by other users",
                           directive, file->name.data);
    }

    size = (size_t) ngx_file_size(&fi);

    value->data = ngx_pnalloc(cf->pool, size ? size : 1);
    if (value->data == NULL) {
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(file, value->data, size, 0);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
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

    return NGX_CONF_OK;
}


/* a secret that would make every signature wrong is refused */

static char *
ngx_http_twanon_secret_check(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *value)
{
    ngx_str_t  *directive;

    directive = cf->args->elts;

    if (value->len >= 3 && ngx_strncmp(value->data, "\xef\xbb\xbf", 3) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" starts with a UTF-8 byte "
                           "order mark", directive, path->data);
        return NGX_CONF_ERROR;
    }

    if (value->data[0] == ' ' || value->data[0] == '\t'
        || value->data[0] == CR || value->data[0] == LF)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" file \"%s\" starts with white space",
                           directive, path->data);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
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


ngx_regex_t *
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


char *
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


/* a time between two bounds, named in the message as written */

char *
ngx_http_twanon_msec_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_twanon_msec_bounds_t  *bounds = post;
    ngx_msec_t                     *msec = data;

    if (*msec < bounds->low || *msec > bounds->high) {
        return bounds->message;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_twanon_sec_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_http_twanon_sec_bounds_t  *bounds = post;
    time_t                        *sec = data;

    if (*sec < bounds->low || *sec > bounds->high) {
        return bounds->message;
    }

    return NGX_CONF_OK;
}


/* a count, with the bounds of ngx_conf_num_bounds_t, named in the message */

char *
ngx_http_twanon_num_bounds(ngx_conf_t *cf, void *post, void *data)
{
    ngx_conf_num_bounds_t  *bounds = post;
    ngx_int_t              *n = data;

    if (*n < bounds->low || *n > bounds->high) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must be between %i and %i",
                           &((ngx_str_t *) cf->args->elts)[0], bounds->low,
                           bounds->high);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The kept HMAC contexts are made here, as the configuration loads, so
 * that an OpenSSL that cannot do HMAC (a FIPS policy, a broken provider
 * configuration) fails "nginx -t" with its reason, not each request.
 */

ngx_int_t
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


/* the default identity pattern, compiled once for every location */

ngx_int_t
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
