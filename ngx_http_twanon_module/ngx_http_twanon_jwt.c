
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>


#include "ngx_http_twanon_lib.h"


static ngx_int_t ngx_http_twanon_jwt_payload(ngx_pool_t *pool,
    ngx_http_twanon_grant_t *grant, ngx_str_t *out);
static size_t ngx_http_twanon_jwt_voice_len(ngx_http_twanon_grant_t *grant);
static u_char *ngx_http_twanon_jwt_voice(u_char *p,
    ngx_http_twanon_grant_t *grant, ngx_str_t *params);
static ngx_int_t ngx_http_twanon_jwt_params(ngx_pool_t *pool,
    ngx_array_t *params, ngx_str_t *out);
static size_t ngx_http_twanon_jwt_string_len(ngx_str_t *value);
static u_char *ngx_http_twanon_jwt_string(u_char *p, ngx_str_t *value,
    size_t len);
static u_char *ngx_http_twanon_jwt_time(u_char *p, time_t t);
static u_char *ngx_http_twanon_jwt_base64url(u_char *d, u_char *s,
    size_t len);


/*
 * Twilio's Access Token header.  Member order follows what the
 * jsonwebtoken library writes for Twilio's helper: alg, typ, cty, twr.
 */

ngx_int_t
ngx_http_twanon_jwt_header(ngx_pool_t *pool, ngx_str_t *region,
    ngx_str_t *header)
{
    u_char     *p;
    size_t      len, region_len;
    ngx_str_t   json;

    static u_char  start[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\","
                             "\"cty\":\"twilio-fpa;v=1\"";

    region_len = ngx_http_twanon_jwt_string_len(region);

    len = sizeof(start) - 1 + sizeof(",\"twr\":\"\"}") - 1 + region_len;

    json.data = ngx_pnalloc(pool, len);
    if (json.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(json.data, start, sizeof(start) - 1);

    if (region->len) {
        p = ngx_cpymem(p, ",\"twr\":\"", sizeof(",\"twr\":\"") - 1);
        p = ngx_http_twanon_jwt_string(p, region, region_len);
        *p++ = '"';
    }

    *p++ = '}';
    json.len = p - json.data;

    header->data = ngx_pnalloc(pool, ngx_base64_encoded_length(json.len));
    if (header->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(header, &json);

    return NGX_OK;
}


/*
 * Builds "<header>.<payload>.<signature>": the payload carries the same
 * claims as Twilio's helper libraries write, the signature is HS256 over
 * the first two parts, keyed with the API secret.
 */

ngx_int_t
ngx_http_twanon_jwt_sign(ngx_pool_t *pool, ngx_str_t *header,
    ngx_http_twanon_grant_t *grant, ngx_str_t *token)
{
    u_char     *p;
    size_t      md_len;
    ngx_str_t   json;
    u_char      md[EVP_MAX_MD_SIZE];

    if (ngx_http_twanon_jwt_payload(pool, grant, &json) != NGX_OK) {
        return NGX_ERROR;
    }

    token->data = ngx_pnalloc(pool, header->len + 1
                                    + ngx_base64_encoded_length(json.len) + 1
                                    + ngx_base64_encoded_length(
                                                          EVP_MAX_MD_SIZE));
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(token->data, header->data, header->len);
    *p++ = '.';
    p = ngx_http_twanon_jwt_base64url(p, json.data, json.len);

    if (ngx_http_twanon_hmac(grant->mac, &grant->api_secret, token->data,
                             p - token->data, md, &md_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *p++ = '.';
    p = ngx_http_twanon_jwt_base64url(p, md, md_len);

    token->len = p - token->data;

    return NGX_OK;
}


/*
 * The claims, in the order Twilio's helper libraries write them, sized
 * exactly and written with copies, without ngx_sprintf(): this runs for
 * every token.
 */

static ngx_int_t
ngx_http_twanon_jwt_payload(ngx_pool_t *pool, ngx_http_twanon_grant_t *grant,
    ngx_str_t *out)
{
    u_char     *p, *json;
    size_t      len, id_len, iat_len, exp_len;
    ngx_str_t   params;
    u_char      iat[NGX_TIME_T_LEN], exp[NGX_TIME_T_LEN];

    /* the caller has checked the SIDs: they need no JSON escaping */

    iat_len = ngx_http_twanon_jwt_time(iat, grant->iat) - iat;
    exp_len = ngx_http_twanon_jwt_time(exp, grant->iat + grant->ttl) - exp;

    id_len = ngx_http_twanon_jwt_string_len(&grant->identity);

    ngx_str_null(&params);

    if (grant->outgoing_application_sid.len
        && grant->outgoing_params != NULL
        && grant->outgoing_params->nelts)
    {
        if (ngx_http_twanon_jwt_params(pool, grant->outgoing_params, &params)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    len = sizeof("{\"jti\":\"-\",\"grants\":{\"identity\":\"\","
                 "\"voice\":{}},\"iat\":,\"exp\":,\"iss\":\"\","
                 "\"sub\":\"\"}") - 1
          + 2 * grant->api_key.len + grant->account_sid.len
          + 2 * iat_len + exp_len + id_len
          + ngx_http_twanon_jwt_voice_len(grant) + params.len;

    json = ngx_pnalloc(pool, len);
    if (json == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(json, "{\"jti\":\"", sizeof("{\"jti\":\"") - 1);
    p = ngx_cpymem(p, grant->api_key.data, grant->api_key.len);
    *p++ = '-';
    p = ngx_cpymem(p, iat, iat_len);
    p = ngx_cpymem(p, "\",\"grants\":{\"identity\":\"",
                   sizeof("\",\"grants\":{\"identity\":\"") - 1);
    p = ngx_http_twanon_jwt_string(p, &grant->identity, id_len);
    p = ngx_cpymem(p, "\",\"voice\":{", sizeof("\",\"voice\":{") - 1);
    p = ngx_http_twanon_jwt_voice(p, grant, &params);
    p = ngx_cpymem(p, "}},\"iat\":", sizeof("}},\"iat\":") - 1);
    p = ngx_cpymem(p, iat, iat_len);
    p = ngx_cpymem(p, ",\"exp\":", sizeof(",\"exp\":") - 1);
    p = ngx_cpymem(p, exp, exp_len);
    p = ngx_cpymem(p, ",\"iss\":\"", sizeof(",\"iss\":\"") - 1);
    p = ngx_cpymem(p, grant->api_key.data, grant->api_key.len);
    p = ngx_cpymem(p, "\",\"sub\":\"", sizeof("\",\"sub\":\"") - 1);
    p = ngx_cpymem(p, grant->account_sid.data, grant->account_sid.len);
    *p++ = '"';
    *p++ = '}';

    out->data = json;
    out->len = p - json;

    return NGX_OK;
}


/* the length of the voice grant's members, commas included, params not */

static size_t
ngx_http_twanon_jwt_voice_len(ngx_http_twanon_grant_t *grant)
{
    size_t  len;

    len = 0;

    if (grant->incoming) {
        len += sizeof("\"incoming\":{\"allow\":true},") - 1;
    }

    if (grant->outgoing_application_sid.len) {
        len += sizeof("\"outgoing\":{\"application_sid\":\"\"},") - 1
               + grant->outgoing_application_sid.len;
    }

    if (grant->push_credential_sid.len) {
        len += sizeof("\"push_credential_sid\":\"\",") - 1
               + grant->push_credential_sid.len;
    }

    return len;
}


/* "params" is what ngx_http_twanon_jwt_params() wrote, or empty */

static u_char *
ngx_http_twanon_jwt_voice(u_char *p, ngx_http_twanon_grant_t *grant,
    ngx_str_t *params)
{
    u_char  *start;

    start = p;

    if (grant->incoming) {
        p = ngx_cpymem(p, "\"incoming\":{\"allow\":true}",
                       sizeof("\"incoming\":{\"allow\":true}") - 1);
    }

    if (grant->outgoing_application_sid.len) {
        if (p != start) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "\"outgoing\":{\"application_sid\":\"",
                       sizeof("\"outgoing\":{\"application_sid\":\"") - 1);
        p = ngx_cpymem(p, grant->outgoing_application_sid.data,
                       grant->outgoing_application_sid.len);
        *p++ = '"';

        if (params->len) {
            p = ngx_cpymem(p, params->data, params->len);
        }

        *p++ = '}';
    }

    if (grant->push_credential_sid.len) {
        if (p != start) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "\"push_credential_sid\":\"",
                       sizeof("\"push_credential_sid\":\"") - 1);
        p = ngx_cpymem(p, grant->push_credential_sid.data,
                       grant->push_credential_sid.len);
        *p++ = '"';
    }

    return p;
}


/*
 * ,"params":{"name":"value",...}, the outgoing grant's object of name to
 * string, as twilio-node's VoiceGrant writes outgoingApplicationParams.
 * The names were checked when the configuration loaded and need no
 * escaping.  A value is any bytes a variable gave: what is not UTF-8
 * becomes U+FFFD, so that the payload stays JSON, and the rest is
 * escaped.
 */

static ngx_int_t
ngx_http_twanon_jwt_params(ngx_pool_t *pool, ngx_array_t *params,
    ngx_str_t *out)
{
    u_char                  *p;
    size_t                   len, *lens;
    ngx_str_t               *values;
    ngx_uint_t               i, n;
    ngx_http_twanon_pair_t  *param;

    param = params->elts;
    n = params->nelts;

    values = ngx_palloc(pool, n * sizeof(ngx_str_t));
    lens = ngx_palloc(pool, n * sizeof(size_t));

    if (values == NULL || lens == NULL) {
        return NGX_ERROR;
    }

    len = sizeof(",\"params\":{}") - 1;

    for (i = 0; i < n; i++) {
        if (ngx_http_twanon_utf8_fix(pool, &param[i].value, &values[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        lens[i] = ngx_http_twanon_jwt_string_len(&values[i]);

        len += sizeof(",\"\":\"\"") - 1 + param[i].key.len + lens[i];
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, ",\"params\":{", sizeof(",\"params\":{") - 1);

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ',';
        }

        *p++ = '"';
        p = ngx_cpymem(p, param[i].key.data, param[i].key.len);
        p = ngx_cpymem(p, "\":\"", sizeof("\":\"") - 1);

        /* an empty value may have no data at all */

        if (lens[i]) {
            p = ngx_http_twanon_jwt_string(p, &values[i], lens[i]);
        }

        *p++ = '"';
    }

    *p++ = '}';

    out->len = p - out->data;

    return NGX_OK;
}


/* the length of a JSON string's contents: most need no escaping */

static size_t
ngx_http_twanon_jwt_string_len(ngx_str_t *value)
{
    u_char  *p, *last;

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (*p < 0x20 || *p == '"' || *p == '\\') {
            return value->len
                   + ngx_escape_json(NULL, value->data, value->len);
        }
    }

    return value->len;
}


/* "len" is what ngx_http_twanon_jwt_string_len() answered for "value" */

static u_char *
ngx_http_twanon_jwt_string(u_char *p, ngx_str_t *value, size_t len)
{
    if (len == value->len) {
        return ngx_cpymem(p, value->data, value->len);
    }

    return (u_char *) ngx_escape_json(p, value->data, value->len);
}


/* as ngx_sprintf("%T") writes it, into NGX_TIME_T_LEN bytes */

static u_char *
ngx_http_twanon_jwt_time(u_char *p, time_t t)
{
    u_char    *q;
    uint64_t   n;
    u_char     digits[NGX_TIME_T_LEN];

    if (t < 0) {
        *p++ = '-';
        n = - (uint64_t) t;

    } else {
        n = (uint64_t) t;
    }

    q = digits + NGX_TIME_T_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, digits + NGX_TIME_T_LEN - q);
}


/*
 * base64url without padding, as ngx_encode_base64url() writes it.  Each
 * three bytes are two 12-bit halves, and each half is two characters of
 * a table made by the preprocessor: half the lookups of one character at
 * a time, for what is most of a token's cost besides SHA-256.
 */

#define ngx_http_twanon_b64(x)                                                \
    ((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x) - 26                         \
     : (x) < 62 ? '0' + (x) - 52 : (x) == 62 ? '-' : '_')

#define ngx_http_twanon_b64_pair(h, l)                                        \
    { ngx_http_twanon_b64(h), ngx_http_twanon_b64(l) }

#define ngx_http_twanon_b64_4(h, l)                                           \
    ngx_http_twanon_b64_pair(h, l), ngx_http_twanon_b64_pair(h, (l) + 1),     \
    ngx_http_twanon_b64_pair(h, (l) + 2), ngx_http_twanon_b64_pair(h, (l) + 3)

#define ngx_http_twanon_b64_16(h, l)                                          \
    ngx_http_twanon_b64_4(h, l), ngx_http_twanon_b64_4(h, (l) + 4),           \
    ngx_http_twanon_b64_4(h, (l) + 8), ngx_http_twanon_b64_4(h, (l) + 12)

#define ngx_http_twanon_b64_64(h)                                             \
    ngx_http_twanon_b64_16(h, 0), ngx_http_twanon_b64_16(h, 16),              \
    ngx_http_twanon_b64_16(h, 32), ngx_http_twanon_b64_16(h, 48)

#define ngx_http_twanon_b64_256(h)                                            \
    ngx_http_twanon_b64_64(h), ngx_http_twanon_b64_64((h) + 1),               \
    ngx_http_twanon_b64_64((h) + 2), ngx_http_twanon_b64_64((h) + 3)

#define ngx_http_twanon_b64_1024(h)                                           \
    ngx_http_twanon_b64_256(h), ngx_http_twanon_b64_256((h) + 4),             \
    ngx_http_twanon_b64_256((h) + 8), ngx_http_twanon_b64_256((h) + 12)


static const u_char  ngx_http_twanon_b64_pairs[4096][2] = {
    ngx_http_twanon_b64_1024(0), ngx_http_twanon_b64_1024(16),
    ngx_http_twanon_b64_1024(32), ngx_http_twanon_b64_1024(48)
};


static u_char *
ngx_http_twanon_jwt_base64url(u_char *d, u_char *s, size_t len)
{
    uint32_t       v;
    const u_char  *pair;

    for ( /* void */ ; len > 2; len -= 3) {
        v = (uint32_t) s[0] << 16 | (uint32_t) s[1] << 8 | s[2];
        s += 3;

        ngx_memcpy(d, ngx_http_twanon_b64_pairs[v >> 12], 2);
        ngx_memcpy(d + 2, ngx_http_twanon_b64_pairs[v & 0xfff], 2);
        d += 4;
    }

    if (len == 0) {
        return d;
    }

    v = (uint32_t) s[0] << 16;

    if (len == 2) {
        v |= (uint32_t) s[1] << 8;
    }

    pair = ngx_http_twanon_b64_pairs[v >> 12];
    *d++ = pair[0];
    *d++ = pair[1];

    if (len == 2) {
        *d++ = ngx_http_twanon_b64_pairs[v & 0xfff][0];
    }

    return d;
}
