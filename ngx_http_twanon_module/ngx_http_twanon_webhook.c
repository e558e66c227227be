
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


/*
 * What every Twilio webhook handler shares, up to the lookup: the method
 * and content type, the body read and parsed, the strict fields, the
 * AccountSid and signature checks.  The lookup itself, and the resume
 * that hands its outcome to the handler's own reply function, are in
 * ngx_http_twanon_resolver.c.
 */


/* the secrets a webhook's signature is checked under */

typedef struct {
    ngx_str_t                  *secrets;
    ngx_http_twanon_hmac_t     *macs;           /* one per secret */
    ngx_uint_t                  n;
    const char                 *digest;         /* "SHA1", "SHA256" */
    ngx_str_t                   key_id;         /* empty: the Auth Token */
} ngx_http_twanon_signer_t;


static ngx_int_t ngx_http_twanon_webhook_type(ngx_http_request_t *r);
static void ngx_http_twanon_webhook_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_webhook_accept(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t **text);
static ngx_int_t ngx_http_twanon_webhook_refuse(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *text);
static ngx_int_t ngx_http_twanon_webhook_fields(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs);
static ngx_int_t ngx_http_twanon_webhook_word(ngx_str_t *s,
    ngx_uint_t dash);
static ngx_int_t ngx_http_twanon_webhook_account(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
static ngx_int_t ngx_http_twanon_webhook_signature(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs);
static ngx_int_t ngx_http_twanon_webhook_shared_key(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *header,
    ngx_http_twanon_signer_t *signer);
static ngx_int_t ngx_http_twanon_webhook_auth_token(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_http_twanon_signer_t *signer);
static ngx_int_t ngx_http_twanon_webhook_invalid(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *url,
    ngx_http_twanon_signer_t *signer);
static ngx_int_t ngx_http_twanon_webhook_shown_url(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *shown);
static ngx_int_t ngx_http_twanon_webhook_url(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t ngx_http_twanon_webhook_url_query(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *url);


static ngx_int_t ngx_http_twanon_variable_route(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_twanon_text_type =
    ngx_string("text/plain; charset=utf-8");
static ngx_str_t  ngx_http_twanon_invalid =
    ngx_string("invalid webhook fields\n");
static ngx_str_t  ngx_http_twanon_forbidden = ngx_string("forbidden\n");


/*
 * The content handler of a webhook location, called by the handler
 * itself with the function that decides, once the request is verified,
 * whether to ask the resolver (NULL: always), and the one that answers
 * once the resolver is done.
 */

/*
 * $twanon_route, indexed by ngx_http_twanon_route_e.  One refused before
 * it was verified is "rejected"; a verified one is "error" until the
 * resolver routes it, and ctx->route holds the rest; the after-dial step
 * adds "answered", "canceled" and "exhausted" (no attempt left).
 */

static ngx_str_t  ngx_http_twanon_routes[] = {
    ngx_string("error"),
    ngx_string("unknown"),
    ngx_string("client"),
    ngx_string("rejected"),
    ngx_string("answered"),
    ngx_string("canceled"),
    ngx_string("exhausted"),
    ngx_string("dialled"),
    ngx_string("refused")
};


ngx_http_variable_t  ngx_http_twanon_webhook_variables[] = {

    { ngx_string("twanon_call_sid"), NULL, ngx_http_twanon_variable_str,
      offsetof(ngx_http_twanon_ctx_t, call_sid),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("twanon_route"), NULL, ngx_http_twanon_variable_route,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_twanon_webhook_handler(ngx_http_request_t *r,
    ngx_http_twanon_verified_pt verified, ngx_http_twanon_reply_pt reply)
{
    ngx_int_t               rc;
    ngx_http_twanon_ctx_t  *ctx;

    static ngx_str_t  allow = ngx_string("POST");
    static ngx_str_t  not_allowed = ngx_string("method not allowed\n");
    static ngx_str_t  unsupported =
        ngx_string("expected application/x-www-form-urlencoded\n");

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_twanon_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->verified_handler = verified;
    ctx->reply_handler = reply;

    ngx_http_set_ctx(r, ctx, ngx_http_twanon_module);

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_twanon_add_header(r, "Allow", &allow) == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_twanon_webhook_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                              &not_allowed);
    }

    if (ngx_http_twanon_webhook_type(r) != NGX_OK) {
        return ngx_http_twanon_webhook_refuse(r,
                                           NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                           &unsupported);
    }

    /*
     * A body over NGX_HTTP_TWANON_WEBHOOK_BODY_MAX never gets here: the
     * location's client_max_body_size is capped at that size when the
     * configuration loads, so nginx itself answers 413 for a declared
     * length before reading anything (and before "100 Continue"), and
     * stops reading a chunked or HTTP/2 body at the limit.
     */

    rc = ngx_http_read_client_request_body(r,
                                         ngx_http_twanon_webhook_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* application/x-www-form-urlencoded, with or without parameters */

static ngx_int_t
ngx_http_twanon_webhook_type(ngx_http_request_t *r)
{
    size_t      len;
    ngx_str_t  *type;

    len = sizeof("application/x-www-form-urlencoded") - 1;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    type = &r->headers_in.content_type->value;

    /* Twilio writes it in lowercase: a case-blind compare only if not */

    if (type->len < len
        || (ngx_memcmp(type->data, "application/x-www-form-urlencoded", len)
            != 0
            && ngx_strncasecmp(type->data,
                               (u_char *) "application/x-www-form-urlencoded",
                               len)
               != 0)
        || (type->len > len && type->data[len] != ';'
            && type->data[len] != ' '))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_twanon_webhook_body_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_str_t              *text;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    rc = ngx_http_twanon_webhook_accept(r, ctx, &text);

    if (rc == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (rc != NGX_OK) {
        rc = ngx_http_twanon_webhook_refuse(r, rc, text);
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ctx->verified_handler ? ctx->verified_handler(r, ctx) : NGX_OK;

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twanon_webhook_refuse(r, NGX_HTTP_BAD_REQUEST,
                                            &ngx_http_twanon_invalid);
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (rc == NGX_HTTP_FORBIDDEN) {
        rc = ngx_http_twanon_webhook_refuse(r, NGX_HTTP_FORBIDDEN,
                                            &ngx_http_twanon_forbidden);
        ngx_http_finalize_request(r, rc);
        return;
    }

    ctx->verified = 1;

    if (rc == NGX_DONE) {
        ctx->done = 1;
        ngx_http_finalize_request(r, ctx->reply_handler(r, ctx));
        return;
    }

    if (ngx_http_twanon_resolver_start(r, ctx) != NGX_OK) {
        ctx->done = 1;
        ctx->failed = 1;
        ngx_http_finalize_request(r, ctx->reply_handler(r, ctx));
        return;
    }

    /*
     * The reply is sent from ngx_http_twanon_resolver_resume() once the
     * subrequest is done; the request stays referenced by it until then.
     */
}


/*
 * The body read, parsed and verified: NGX_OK, or the status to refuse
 * the request with and its text (NGX_HTTP_INTERNAL_SERVER_ERROR has
 * none: nginx answers it).
 */

static ngx_int_t
ngx_http_twanon_webhook_accept(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t **text)
{
    ngx_int_t    rc;
    ngx_str_t    body;
    ngx_array_t  pairs;

    static ngx_str_t  too_large = ngx_string("request body too large\n");
    static ngx_str_t  malformed = ngx_string("malformed form body\n");
    static ngx_str_t  empty = ngx_string("empty webhook body\n");

    rc = ngx_http_twanon_read_body(r, NGX_HTTP_TWANON_WEBHOOK_BODY_MAX,
                                   &body);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon incoming body len:%uz rc:%i", body.len, rc);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *text = &too_large;
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: empty webhook body");
        *text = &empty;
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_array_init(&pairs, r->pool, 32, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_twanon_form_parse(r->pool, &body, &pairs,
                                    NGX_HTTP_TWANON_WEBHOOK_ARGS_MAX);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: malformed webhook body");
        *text = &malformed;
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_twanon_webhook_fields(r, ctx, &pairs) != NGX_OK) {
        *text = &ngx_http_twanon_invalid;
        return NGX_HTTP_BAD_REQUEST;
    }

    rc = ngx_http_twanon_webhook_account(r, ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_twanon_webhook_signature(r, ctx, &pairs);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        *text = &ngx_http_twanon_forbidden;
        return NGX_HTTP_FORBIDDEN;
    }

    /* the fields, for a handler that reads more of them */

    ctx->pairs = pairs;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_webhook_refuse(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *text)
{
    ngx_int_t               rc;
    ngx_http_twanon_ctx_t  *ctx;

    /* what the client sent of these is not shown in variables */

    ctx = ngx_http_get_module_ctx(r, ngx_http_twanon_module);

    ngx_str_null(&ctx->dial_status);
    ngx_str_null(&ctx->stir_verstat);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_twanon_send(r, status, &ngx_http_twanon_text_type, text);
}


/*
 * The fields the module reads.  Twilio sends each of them once at most,
 * and always a CallSid: a repeated one, or a CallSid that is missing or
 * does not look like one, is the client's error (NGX_DECLINED).  Kept
 * as they were, two readers of a doubled field could disagree, and an
 * appended exact copy keeps the signature valid.  The handler that reads
 * StirVerstat, DialCallStatus or CallStatus checks it: until then it is
 * in no variable.
 */

static ngx_int_t
ngx_http_twanon_webhook_fields(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs)
{
    size_t                   len;
    ngx_uint_t               k, n, seen[7];
    ngx_str_t               *value[7];
    ngx_http_twanon_pair_t  *pair;

    /* sorted by length: "CallStatus" is as long as "AccountSid" */

    static ngx_str_t  names[] = {
        ngx_string("To"),
        ngx_string("From"),
        ngx_string("CallSid"),
        ngx_string("AccountSid"),
        ngx_string("CallStatus"),
        ngx_string("StirVerstat"),
        ngx_string("DialCallStatus")
    };

    /* the first of the names of each length; 7: none */

    static u_char  by_len[16] = {
        7, 7, 0, 7, 1, 7, 7, 2, 7, 7, 3, 5, 7, 7, 6, 7
    };

    value[0] = &ctx->to;
    value[1] = &ctx->from;
    value[2] = &ctx->call_sid;
    value[3] = &ctx->account_sid;
    value[4] = &ctx->call_status;
    value[5] = &ctx->stir_field;
    value[6] = &ctx->dial_field;

    ngx_memzero(seen, sizeof(seen));

    pair = pairs->elts;

    for (n = 0; n < pairs->nelts; n++) {
        len = pair[n].key.len;

        for (k = (len < 16) ? by_len[len] : 7;
             k < 7 && names[k].len == len;
             k++)
        {
            if (pair[n].key.data[0] == names[k].data[0]
                && ngx_memcmp(pair[n].key.data, names[k].data, len) == 0)
            {
                break;
            }
        }

        if (k == 7 || names[k].len != len) {
            continue;
        }

        if (seen[k]++) {
            ngx_str_null(&ctx->call_sid);
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "twanon: webhook repeats \"%V\"", &names[k]);
            return NGX_DECLINED;
        }

        *value[k] = pair[n].value;
    }

    if (!seen[2]) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook without \"CallSid\"");
        return NGX_DECLINED;
    }

    if (ngx_http_twanon_webhook_word(&ctx->call_sid, 0) != NGX_OK) {
        ngx_str_null(&ctx->call_sid);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook with a malformed \"CallSid\"");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * StirVerstat, for the handlers that send it to the resolver and show it
 * in $twanon_stir_verstat: one of Twilio's names, such as
 * "TN-Validation-Passed-A", or nothing; NGX_DECLINED (400) if not.
 */

ngx_int_t
ngx_http_twanon_webhook_stir(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx)
{
    if (ctx->stir_field.len
        && ngx_http_twanon_webhook_word(&ctx->stir_field, 1) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "twanon: webhook with a malformed \"StirVerstat\", "
                      "call \"%V\"", &ctx->call_sid);
        return NGX_DECLINED;
    }

    ctx->stir_verstat = ctx->stir_field;

    return NGX_OK;
}


/* 1 to 64 letters and digits, and "-" and "_" with "dash" */

static ngx_int_t
ngx_http_twanon_webhook_word(ngx_str_t *s, ngx_uint_t dash)
{
    u_char  c;
    size_t  i;

    if (s->len == 0 || s->len > 64) {
        return NGX_DECLINED;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            || (dash && (c == '-' || c == '_')))
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The AccountSid check, and the X-Twilio-Signature check below.
 * Failures are logged with the CallSid only: never the signature, the
 * URL's parameters or the caller.
 */

static ngx_int_t
ngx_http_twanon_webhook_account(ngx_http_request_t *r,
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
        ngx_http_twanon_status_signature(r, NGX_HTTP_TWANON_SIG_ACCOUNT);
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
ngx_http_twanon_webhook_signature(ngx_http_request_t *r,
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
        ngx_http_twanon_status_signature(r, NGX_HTTP_TWANON_SIG_MISSING);
        return NGX_DECLINED;
    }

    settings = ngx_http_twanon_header_in(r,
                                    "x-twilio-webhooks-signature-settings",
                                    &n);

    if (n == 2) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "twanon: repeated X-Twilio-Webhooks-Signature-Settings "
                      "header, call \"%V\"", &ctx->call_sid);
        ngx_http_twanon_status_signature(r, NGX_HTTP_TWANON_SIG_MISMATCH);
        return NGX_DECLINED;
    }

    /* an empty header is no header, as Twilio's helper libraries take it */

    if (settings && settings->value.len) {
        rc = ngx_http_twanon_webhook_shared_key(r, ctx, &settings->value,
                                                &signer);

    } else {
        rc = ngx_http_twanon_webhook_auth_token(r, ctx, &signer);
    }

    if (rc != NGX_OK) {
        if (rc == NGX_DECLINED) {
            ngx_http_twanon_status_signature(r,
                                             NGX_HTTP_TWANON_SIG_MISMATCH);
        }

        return rc;
    }

    if (ngx_http_twanon_webhook_url(r, &url) != NGX_OK) {
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

    return ngx_http_twanon_webhook_invalid(r, ctx, &url, &signer);
}


/*
 * The shared key and digest that X-Twilio-Webhooks-Signature-Settings
 * names, or NGX_DECLINED: no key id, an unknown one, no key configured,
 * an algorithm other than HMAC_SHA1 and HMAC_SHA256.
 */

static ngx_int_t
ngx_http_twanon_webhook_shared_key(ngx_http_request_t *r,
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
ngx_http_twanon_webhook_auth_token(ngx_http_request_t *r,
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
ngx_http_twanon_webhook_invalid(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_str_t *url,
    ngx_http_twanon_signer_t *signer)
{
    ngx_str_t  shown;

    ngx_http_twanon_status_signature(r, NGX_HTTP_TWANON_SIG_MISMATCH);

    if (ngx_http_twanon_webhook_shown_url(r->pool, url, &shown) != NGX_OK) {
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
ngx_http_twanon_webhook_shown_url(ngx_pool_t *pool, ngx_str_t *url,
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
ngx_http_twanon_webhook_url(ngx_http_request_t *r, ngx_str_t *url)
{
    u_char                      *p;
    ngx_str_t                    scheme, host;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->webhook_url) {
        return ngx_http_twanon_webhook_url_query(r, tlcf->webhook_url, url);
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
ngx_http_twanon_webhook_url_query(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, ngx_str_t *url)
{
    u_char                      *p, *last, *end;
    ngx_str_t                    value, attempt;
    ngx_http_twanon_loc_conf_t  *tlcf;

    if (ngx_http_complex_value(r, cv, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ngx_str_null(&attempt);

    p = r->args.data;
    last = r->args.data + r->args.len;

    while (tlcf->after_dial.file.data && p < last) {
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


static ngx_int_t
ngx_http_twanon_variable_route(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t              route;
    ngx_http_twanon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_twanon_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    route = ctx->verified ? ctx->route : NGX_HTTP_TWANON_ROUTE_REJECTED;

    ngx_http_twanon_variable_set(v, &ngx_http_twanon_routes[route]);

    return NGX_OK;
}
