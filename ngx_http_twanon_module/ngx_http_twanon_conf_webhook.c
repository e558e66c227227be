
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* the Auth Tokens and shared keys (docs/webhook.md, "Shared keys") */


#define NGX_HTTP_TWANON_WEBHOOK_KEYS    8
#define NGX_HTTP_TWANON_KEY_ID_MAX      128


static char *ngx_http_twanon_auth_token_add(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *tlcf, ngx_http_complex_value_t **cv);
static ngx_http_twanon_webhook_key_t *ngx_http_twanon_webhook_key_add(
    ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *tlcf, ngx_str_t *id);
static char *ngx_http_twanon_webhook_key_ready(ngx_conf_t *cf,
    ngx_http_twanon_webhook_key_t *key);


/* one list of at most two tokens, for a rotation */

char *
ngx_http_twanon_auth_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_http_complex_value_t  *cv;

    rv = ngx_http_twanon_auth_token_add(cf, tlcf, &cv);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    return ngx_http_twanon_compile(cf, &cmd->name, &value[1], cv);
}


char *
ngx_http_twanon_auth_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_twanon_loc_conf_t *tlcf = conf;

    char                      *rv;
    ngx_str_t                 *value;
    ngx_http_complex_value_t  *cv;

    rv = ngx_http_twanon_auth_token_add(cf, tlcf, &cv);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;

    return ngx_http_twanon_read_file(cf, &value[1], &cv->value, 1);
}


static char *
ngx_http_twanon_auth_token_add(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *tlcf, ngx_http_complex_value_t **cv)
{
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

    *cv = ngx_array_push(tlcf->auth_tokens);
    if (*cv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(*cv, sizeof(ngx_http_complex_value_t));

    return NGX_CONF_OK;
}


/* twanon_webhook_key id secret; twanon_webhook_key_file id path; */

char *
ngx_http_twanon_webhook_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t                      *value;
    ngx_http_twanon_webhook_key_t  *key;

    value = cf->args->elts;

    key = ngx_http_twanon_webhook_key_add(cf, conf, &value[1]);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0) {
        return "has an empty secret";
    }

    /* the key id picks the key per request; see docs/directives.md */

    if (ngx_strlchr(value[2].data, value[2].data + value[2].len, '$')
        != NULL)
    {
        return "takes no variables: a secret with \"$\" belongs in "
               "\"twanon_webhook_key_file\"";
    }

    key->secret = value[2];

    return ngx_http_twanon_webhook_key_ready(cf, key);
}


char *
ngx_http_twanon_webhook_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char                           *rv;
    ngx_str_t                      *value;
    ngx_http_twanon_webhook_key_t  *key;

    value = cf->args->elts;

    key = ngx_http_twanon_webhook_key_add(cf, conf, &value[1]);
    if (key == NULL) {
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_twanon_read_file(cf, &value[2], &key->secret, 1);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    return ngx_http_twanon_webhook_key_ready(cf, key);
}


/* a key id: letters, digits, "_", "-", ".", ":", once per level */

static ngx_http_twanon_webhook_key_t *
ngx_http_twanon_webhook_key_add(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *tlcf, ngx_str_t *id)
{
    u_char                         *p, *last;
    ngx_uint_t                      i;
    ngx_http_twanon_webhook_key_t  *key;

    p = id->data;
    last = id->data + id->len;

    for ( /* void */ ; p < last; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z')
              || (*p >= 'a' && *p <= 'z')
              || *p == '_' || *p == '-' || *p == '.' || *p == ':'))
        {
            break;
        }
    }

    if (id->len == 0 || id->len > NGX_HTTP_TWANON_KEY_ID_MAX || p != last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key id \"%V\": 1 to %d letters, digits, "
                           "\"_\", \"-\", \".\" or \":\"", id,
                           NGX_HTTP_TWANON_KEY_ID_MAX);
        return NULL;
    }

    /*
     * room for every key at once: the elements never move, as the
     * cleanups of their HMAC contexts point into them
     */

    if (tlcf->webhook_keys == NGX_CONF_UNSET_PTR) {
        tlcf->webhook_keys = ngx_array_create(cf->pool,
                                         NGX_HTTP_TWANON_WEBHOOK_KEYS,
                                         sizeof(ngx_http_twanon_webhook_key_t));
        if (tlcf->webhook_keys == NULL) {
            return NULL;
        }
    }

    key = tlcf->webhook_keys->elts;

    for (i = 0; i < tlcf->webhook_keys->nelts; i++) {
        if (key[i].id.len == id->len
            && ngx_strncmp(key[i].id.data, id->data, id->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "key id \"%V\" is duplicate", id);
            return NULL;
        }
    }

    if (tlcf->webhook_keys->nelts == NGX_HTTP_TWANON_WEBHOOK_KEYS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "too many webhook keys, at most %d are allowed",
                           NGX_HTTP_TWANON_WEBHOOK_KEYS);
        return NULL;
    }

    key = ngx_array_push(tlcf->webhook_keys);
    if (key == NULL) {
        return NULL;
    }

    ngx_memzero(key, sizeof(ngx_http_twanon_webhook_key_t));

    key->id = *id;

    return key;
}


/*
 * A kept context per algorithm the header may name; made now, so that
 * an OpenSSL that cannot do HMAC fails "nginx -t" (see hmac_ready()).
 */

static char *
ngx_http_twanon_webhook_key_ready(ngx_conf_t *cf,
    ngx_http_twanon_webhook_key_t *key)
{
    ngx_uint_t          i;
    static const char  *digests[] = { "SHA1", "SHA256" };

    for (i = 0; i < 2; i++) {
        if (ngx_http_twanon_hmac_init(&key->macs[i], cf->pool, digests[i])
            != NGX_OK)
        {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "cannot create an HMAC-%s context", digests[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
