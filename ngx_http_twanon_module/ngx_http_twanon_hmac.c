
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "ngx_http_twanon_lib.h"


static ngx_int_t ngx_http_twanon_hmac_start(ngx_http_twanon_hmac_t *h,
    ngx_str_t *key);
static void ngx_http_twanon_hmac_cleanup(void *data);


/*
 * A kept HMAC context for "digest", made when the configuration loads and
 * freed with "pool".  NGX_ERROR leaves OpenSSL's error queue for the
 * caller to log with ngx_ssl_error().
 */

ngx_int_t
ngx_http_twanon_hmac_init(ngx_http_twanon_hmac_t *h, ngx_pool_t *pool,
    const char *digest)
{
    EVP_MAC             *mac;
    OSSL_PARAM           params[2];
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(h, sizeof(ngx_http_twanon_hmac_t));

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac == NULL) {
        return NGX_ERROR;
    }

    h->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (h->ctx == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_twanon_hmac_cleanup;
    cln->data = h;

    h->digest = digest;

    /* an unknown or forbidden digest (FIPS) fails here, not per request */

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (!EVP_MAC_CTX_set_params(h->ctx, params)) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the kept context is reset, not rebuilt as HMAC() would on every call */

ngx_int_t
ngx_http_twanon_hmac(ngx_http_twanon_hmac_t *h, ngx_str_t *key, u_char *data,
    size_t len, u_char *md, size_t *md_len)
{
    ngx_str_t  part;

    part.len = len;
    part.data = data;

    return ngx_http_twanon_hmac_parts(h, key, &part, 1, md, md_len);
}


/*
 * HMAC of the "n" parts one after the other, as if joined, without
 * joining them first; "md" has room for EVP_MAX_MD_SIZE bytes.
 */

ngx_int_t
ngx_http_twanon_hmac_parts(ngx_http_twanon_hmac_t *h, ngx_str_t *key,
    ngx_str_t *parts, ngx_uint_t n, u_char *md, size_t *md_len)
{
    ngx_uint_t  i;

    if (ngx_http_twanon_hmac_start(h, key) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (!EVP_MAC_update(h->ctx, parts[i].data, parts[i].len)) {
            return NGX_ERROR;
        }
    }

    if (!EVP_MAC_final(h->ctx, md, md_len, EVP_MAX_MD_SIZE)) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* hex HMAC-SHA256: stable for a key, not reversible without it */

ngx_int_t
ngx_http_twanon_hmac_hex(ngx_pool_t *pool, ngx_http_twanon_hmac_t *h,
    ngx_str_t *key, ngx_str_t *data, ngx_str_t *out)
{
    size_t  md_len;
    u_char  md[EVP_MAX_MD_SIZE];

    if (ngx_http_twanon_hmac(h, key, data->data, data->len, md, &md_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, 2 * md_len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_hex_dump(out->data, md, md_len) - out->data;

    return NGX_OK;
}


/*
 * The kept context, ready for EVP_MAC_update() under "key": reset when
 * the key is the one it holds, rekeyed when a variable's value changed.
 */

static ngx_int_t
ngx_http_twanon_hmac_start(ngx_http_twanon_hmac_t *h, ngx_str_t *key)
{
    if (h->ctx == NULL) {
        /* ngx_http_twanon_hmac_init() was not called: a bug of ours */
        return NGX_ERROR;
    }

    if (h->key.data != NULL
        && h->key.len == key->len
        && ngx_memcmp(h->key.data, key->data, key->len) == 0)
    {
        if (!EVP_MAC_init(h->ctx, NULL, 0, NULL)) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    OPENSSL_clear_free(h->key.data, h->key.len);
    ngx_str_null(&h->key);

    /* a NULL key would mean "the key you hold" to EVP_MAC_init() */

    if (!EVP_MAC_init(h->ctx, key->data ? key->data : (u_char *) "",
                      key->len, NULL))
    {
        return NGX_ERROR;
    }

    h->key.data = OPENSSL_malloc(key->len ? key->len : 1);
    if (h->key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(h->key.data, key->data, key->len);
    h->key.len = key->len;

    return NGX_OK;
}


static void
ngx_http_twanon_hmac_cleanup(void *data)
{
    ngx_http_twanon_hmac_t  *h = data;

    EVP_MAC_CTX_free(h->ctx);
    OPENSSL_clear_free(h->key.data, h->key.len);

    h->ctx = NULL;
    ngx_str_null(&h->key);
}
