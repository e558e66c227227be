
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/* the AccountSid and signature of a webhook: docs/webhook.md, "Signatures" */


/* the secrets a webhook's signature is checked under */

typedef struct {
    ngx_str_t                  *secrets;
    ngx_http_twanon_hmac_t     *macs;           /* one per secret */
    ngx_uint_t                  n;
    const char                 *digest;         /* "SHA1", "SHA256" */
    ngx_str_t                   key_id;         /* empty: the Auth Token */
} ngx_http_twanon_signer_t;


static ngx_int_t ngx_http_twanon_verify_account(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_verify_signature(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs);
static ngx_int_t ngx_http_twanon_verify_shared_key(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *header,
    ngx_http_twanon_signer_t *signer);
static ngx_int_t ngx_http_twanon_verify_auth_token(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_http_twanon_signer_t *signer);
static ngx_int_t ngx_http_twanon_verify_invalid(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *url,
    ngx_http_twanon_signer_t *signer);
static ngx_int_t ngx_http_twanon_verify_shown_url(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *shown);
static ngx_int_t ngx_http_twanon_verify_url(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t ngx_http_twanon_verify_url_query(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *url);


/* NGX_OK, NGX_DECLINED (403) or NGX_ERROR */

ngx_int_t
ngx_http_twanon_verify(ngx_http_request_t *r, ngx_http_twanon_ctx_t *ctx,
    ngx_array_t *pairs)
{
    ngx_int_t  rc;

    rc = ngx_http_twanon_verify_account(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_twanon_verify_signature(r, ctx, pairs);
    }

    return rc;
}


/*
 * The AccountSid check, and the X-Twilio-Signature check below.
 * Failures are logged with the CallSid only: never the signature, the
 * URL's parameters or the caller.
 */

static ngx_int_t
ngx_http_twanon_verify_account(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    ngx_str_t                    account, sid;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->account_sid == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, tlcf->account_sid, &account) != NGX_OK) {
        return NGX_ERROR;
    }

    sid = ctx->account_sid;

    if (account.len
        && (sid.len != account.len
            || ngx_strncmp(sid.data, account.data, sid.len) != 0))
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: webhook for another account, "
                      "call \"%V\"", &ctx->call_sid);
        ngx_http_twanon_stats_signature(r, NGX_HTTP_TWANON_SIG_ACCOUNT);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The signature: X-Twilio-Signature over the webhook's URL and
 * parameters, under the shared key that X-Twilio-Webhooks-Signature-
 * Settings names, or, without that header, under the Auth Token.  Each
 * refusal is one "warn" line with the CallSid and the reason; the line
 * never holds a secret, a parameter or the URL's query.
 */

static ngx_int_t
ngx_http_twanon_verify_signature(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs)
{
    ngx_int_t                    rc;
    ngx_str_t                    url, params;
    ngx_uint_t                   n;
    ngx_table_elt_t             *h, *settings;
    ngx_http_twanon_signer_t     signer;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (!tlcf->verify_signature) {
        return NGX_OK;
    }

    h = ngx_http_twanon_header_in(r, "x-twilio-signature", NULL);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: missing or repeated signature header, "
                      "call \"%V\"", &ctx->call_sid);
        ngx_http_twanon_stats_signature(r, NGX_HTTP_TWANON_SIG_MISSING);
        return NGX_DECLINED;
    }

    settings = ngx_http_twanon_header_in(r,
                                    "x-twilio-webhooks-signature-settings",
                                    &n);

    if (n == 2) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: repeated X-Twilio-Webhooks-Signature-Settings "
                      "header, call \"%V\"", &ctx->call_sid);
        ngx_http_twanon_stats_signature(r, NGX_HTTP_TWANON_SIG_MISMATCH);
        return NGX_DECLINED;
    }

    /* an empty header is no header, as Twilio's helper libraries take it */

    if (settings && settings->value.len) {
        rc = ngx_http_twanon_verify_shared_key(r, ctx, &settings->value,
                                                &signer);

    } else {
        rc = ngx_http_twanon_verify_auth_token(r, ctx, &signer);
    }

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_http_twanon_stats_signature(r,
                                             NGX_HTTP_TWANON_SIG_MISMATCH);
        }

        return rc;
    }

    if (ngx_http_twanon_verify_url(r, &url) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_twanon_signature_params(r->pool, pairs, &params) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_twanon_signature_check(r->pool, &url, &params,
                                         signer.secrets, signer.macs,
                                         signer.n, &h->value);

    if (rc == NGX_ERROR) {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twanon: HMAC-%s failed", signer.digest);
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_http_twanon_verify_invalid(r, ctx, &url, &signer);
}


/*
 * The shared key and digest that X-Twilio-Webhooks-Signature-Settings
 * names, or NGX_DECLINED: no key id, an unknown one, no key configured,
 * an algorithm other than HMAC_SHA1 and HMAC_SHA256.
 */

static ngx_int_t
ngx_http_twanon_verify_shared_key(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *header,
    ngx_http_twanon_signer_t *signer)
{
    ngx_str_t                       id, algorithm;
    ngx_uint_t                      i;
    const char                     *reason;
    ngx_http_twanon_loc_conf_t     *tlcf;
    ngx_http_twanon_webhook_key_t  *key;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    reason = NULL;
    key = NULL;

    if (ngx_http_twanon_signature_settings(header, &id, &algorithm)
        != NGX_OK)
    {
        reason = "no key id, or a part given twice";

    } else if (tlcf->webhook_keys == NULL) {
        reason = "no \"twanon_webhook_key\" here";

    } else {
        key = tlcf->webhook_keys->elts;

        for (i = 0; i < tlcf->webhook_keys->nelts; i++) {
            if (key[i].id.len == id.len
                && ngx_strncmp(key[i].id.data, id.data, id.len) == 0)
            {
                break;
            }
        }

        if (i == tlcf->webhook_keys->nelts) {
            reason = "unknown key id";

        } else {
            key = &key[i];
            signer->digest = ngx_http_twanon_signature_digest(&algorithm);

            if (signer->digest == NULL) {
                reason = "unsupported algorithm";
            }
        }
    }

    if (reason) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: X-Twilio-Webhooks-Signature-Settings refused "
                      "(%s), call \"%V\"", reason, &ctx->call_sid);
        return NGX_DECLINED;
    }

    signer->secrets = &key->secret;
    signer->macs = &key->macs[signer->digest[3] == '2'];
    signer->n = 1;
    signer->key_id = key->id;

    return NGX_OK;
}


/* the Auth Tokens, current and next, under HMAC-SHA1 */

static ngx_int_t
ngx_http_twanon_verify_auth_token(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_http_twanon_signer_t *signer)
{
    ngx_str_t                   *tokens;
    ngx_uint_t                   i, n;
    ngx_http_complex_value_t    *cv;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->auth_tokens == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: no X-Twilio-Webhooks-Signature-Settings "
                      "header, and no \"twanon_auth_token\" to check the "
                      "signature with, call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    n = tlcf->auth_tokens->nelts;

    tokens = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (tokens == NULL) {
        return NGX_ERROR;
    }

    cv = tlcf->auth_tokens->elts;

    for (i = 0; i < n; i++) {
        if (ngx_http_complex_value(r, &cv[i], &tokens[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        if (tokens[i].len == 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "twanon: \"twanon_auth_token\" evaluated to "
                          "an empty value");
            return NGX_DECLINED;
        }
    }

    signer->secrets = tokens;
    signer->macs = tlcf->auth_macs;
    signer->n = n;
    signer->digest = "SHA1";
    ngx_str_null(&signer->key_id);

    return NGX_OK;
}


/* a signature that matches none: counted, and one line with the URL */

static ngx_int_t
ngx_http_twanon_verify_invalid(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *url,
    ngx_http_twanon_signer_t *signer)
{
    ngx_str_t  shown;

    ngx_http_twanon_stats_signature(r, NGX_HTTP_TWANON_SIG_MISMATCH);

    if (ngx_http_twanon_verify_shown_url(r->pool, url, &shown) != NGX_OK) {
        return NGX_ERROR;
    }

    if (signer->key_id.len) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: invalid signature for \"%V\" under shared "
                      "key \"%V\" (HMAC-%s), call \"%V\"", &shown,
                      &signer->key_id, signer->digest, &ctx->call_sid);

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: invalid signature for \"%V\" under the "
                      "Auth Token (HMAC-SHA1), call \"%V\"", &shown,
                      &ctx->call_sid);
    }

    return NGX_DECLINED;
}


/*
 * The URL as a log line shows it: without its query, which is only said
 * to exist, and escaped (a Host header is the client's).
 */

static ngx_int_t
ngx_http_twanon_verify_shown_url(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *shown)
{
    u_char  *p, *q;
    size_t   len;

    q = ngx_strlchr(url->data, url->data + url->len, '?');
    len = (q ? q : url->data + url->len) - url->data;

    shown->data = ngx_pnalloc(pool, len + 2 * ngx_escape_uri(NULL, url->data,
                                                 len, NGX_ESCAPE_REFRESH)
                                    + sizeof("?...") - 1);
    if (shown->data == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) ngx_escape_uri(shown->data, url->data, len,
                                  NGX_ESCAPE_REFRESH);

    if (q) {
        p = ngx_cpymem(p, "?...", sizeof("?...") - 1);
    }

    shown->len = p - shown->data;

    return NGX_OK;
}


/* the URL that Twilio signed: configured, or scheme://Host/request-URI */

static ngx_int_t
ngx_http_twanon_verify_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char                      *p;
    ngx_str_t                    scheme, host;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->webhook_url) {
        return ngx_http_twanon_verify_url_query(r, tlcf->webhook_url, url);
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https://");

    } else
#endif
    {
        ngx_str_set(&scheme, "http://");
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        host = r->headers_in.server;
    }

    url->len = scheme.len + host.len + r->unparsed_uri.len;
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, scheme.data, scheme.len);

    if (host.len) {
        p = ngx_cpymem(p, host.data, host.len);
    }

    ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);

    return NGX_OK;
}


/*
 * A configured URL as signed.  In an after-dial location Twilio signs the
 * action URL, which is the configured one with the request's "attempt"
 * appended (docs/webhook.md, "The after-dial step"): that parameter, as
 * sent, is appended here, and nothing else of the request's query.
 */

static ngx_int_t
ngx_http_twanon_verify_url_query(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *url)
{
    u_char                 *p, *last, *end;
    ngx_str_t               value, attempt;
    ngx_http_twanon_ctx_t  *ctx;

    if (ngx_http_complex_value(r, cv, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    ngx_str_null(&attempt);

    p = r->args.data;
    last = r->args.data + r->args.len;

    while ((ctx->handler->flags & NGX_HTTP_TWANON_ATTEMPT) && p < last) {
        end = ngx_strlchr(p, last, '&');
        if (end == NULL) {
            end = last;
        }

        if (end - p >= 7 && ngx_strncmp(p, "attempt", 7) == 0
            && (end - p == 7 || p[7] == '='))
        {
            attempt.data = p;
            attempt.len = end - p;
            break;
        }

        p = end + 1;
    }

    if (attempt.len == 0) {
        *url = value;
        return NGX_OK;
    }

    url->len = value.len + 1 + attempt.len;
    url->data = ngx_pnalloc(r->pool, url->len);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, value.data, value.len);
    *p++ = ngx_strlchr(value.data, value.data + value.len, '?') ? '&' : '?';
    ngx_memcpy(p, attempt.data, attempt.len);

    return NGX_OK;
}
