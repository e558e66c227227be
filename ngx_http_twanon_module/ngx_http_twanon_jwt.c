
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>


#include "ngx_http_twanon_lib.h"


/* "SK" + 32 hex digits */
#define NGX_HTTP_TWANON_SID_LEN  34


static u_char *ngx_http_twanon_jwt_member(u_char *p, const char *name,
    ngx_str_t *value, ngx_uint_t comma);
static size_t ngx_http_twanon_jwt_member_len(ngx_str_t *value);


/*
 * Twilio's Access Token header.  Member order follows what the
 * jsonwebtoken library writes for Twilio's helper: alg, typ, cty, twr.
 */

ngx_int_t
ngx_http_twanon_jwt_header(ngx_pool_t *pool, ngx_str_t *region,
    ngx_str_t *header)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   json;

    static u_char  start[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\","
                             "\"cty\":\"twilio-fpa;v=1\"";

    len = sizeof(start) - 1 + sizeof("}") - 1;

    if (region->len) {
        len += sizeof(",\"twr\":") - 1
               + ngx_http_twanon_jwt_member_len(region);
    }

    json.data = ngx_pnalloc(pool, len);
    if (json.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(json.data, start, sizeof(start) - 1);

    if (region->len) {
        p = ngx_http_twanon_jwt_member(p, "twr", region, 1);
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
    u_char     *p, *last;
    size_t      len, md_len;
    ngx_str_t   json, part;
    u_char      md[EVP_MAX_MD_SIZE];

    len = sizeof("{\"jti\":\"-\",\"grants\":{\"voice\":{}},"
                 "\"iat\":,\"exp\":}") - 1
          + 3 * NGX_TIME_T_LEN
          + 2 * ngx_http_twanon_jwt_member_len(&grant->api_key)
          + sizeof(",\"iss\":,\"sub\":") - 1
          + ngx_http_twanon_jwt_member_len(&grant->account_sid)
          + sizeof("\"identity\":,") - 1
          + ngx_http_twanon_jwt_member_len(&grant->identity);

    if (grant->incoming) {
        len += sizeof("\"incoming\":{\"allow\":true},") - 1;
    }

    if (grant->outgoing_application_sid.len) {
        len += sizeof("\"outgoing\":{\"application_sid\":},") - 1
               + ngx_http_twanon_jwt_member_len(
                                            &grant->outgoing_application_sid);
    }

    if (grant->push_credential_sid.len) {
        len += sizeof("\"push_credential_sid\":,") - 1
               + ngx_http_twanon_jwt_member_len(&grant->push_credential_sid);
    }

    json.data = ngx_pnalloc(pool, len);
    if (json.data == NULL) {
        return NGX_ERROR;
    }

    /* the caller has checked the SIDs: they need no JSON escaping */

    p = ngx_sprintf(json.data, "{\"jti\":\"%V-%T\",\"grants\":{",
                    &grant->api_key, grant->iat);

    p = ngx_http_twanon_jwt_member(p, "identity", &grant->identity, 0);
    p = ngx_cpymem(p, ",\"voice\":{", sizeof(",\"voice\":{") - 1);

    last = p;

    if (grant->incoming) {
        p = ngx_cpymem(p, "\"incoming\":{\"allow\":true}",
                       sizeof("\"incoming\":{\"allow\":true}") - 1);
    }

    if (grant->outgoing_application_sid.len) {
        if (p != last) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "\"outgoing\":{", sizeof("\"outgoing\":{") - 1);
        p = ngx_http_twanon_jwt_member(p, "application_sid",
                                       &grant->outgoing_application_sid, 0);
        *p++ = '}';
    }

    if (grant->push_credential_sid.len) {
        p = ngx_http_twanon_jwt_member(p, "push_credential_sid",
                                       &grant->push_credential_sid,
                                       p != last);
    }

    p = ngx_sprintf(p, "}},\"iat\":%T,\"exp\":%T",
                    grant->iat, grant->iat + grant->ttl);

    p = ngx_http_twanon_jwt_member(p, "iss", &grant->api_key, 1);
    p = ngx_http_twanon_jwt_member(p, "sub", &grant->account_sid, 1);
    *p++ = '}';

    json.len = p - json.data;

    len = header->len + 1 + ngx_base64_encoded_length(json.len)
          + 1 + ngx_base64_encoded_length(EVP_MAX_MD_SIZE);

    token->data = ngx_pnalloc(pool, len);
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(token->data, header->data, header->len);
    *p++ = '.';

    part.data = p;
    ngx_encode_base64url(&part, &json);
    p += part.len;

    if (ngx_http_twanon_hmac(grant->mac, &grant->api_secret, token->data,
                             p - token->data, md, &md_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *p++ = '.';

    json.data = md;
    json.len = md_len;

    part.data = p;
    ngx_encode_base64url(&part, &json);
    p += part.len;

    token->len = p - token->data;

    return NGX_OK;
}


/* "AC", "SK", "AP", "CR" and the like followed by 32 hex digits */

ngx_int_t
ngx_http_twanon_sid_valid(ngx_str_t *sid, const char *prefix)
{
    size_t  i;

    if (sid->len != NGX_HTTP_TWANON_SID_LEN
        || sid->data[0] != (u_char) prefix[0]
        || sid->data[1] != (u_char) prefix[1])
    {
        return NGX_DECLINED;
    }

    for (i = 2; i < sid->len; i++) {
        if (ngx_hextoi(&sid->data[i], 1) == NGX_ERROR) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static size_t
ngx_http_twanon_jwt_member_len(ngx_str_t *value)
{
    /* "name":"value" where the name is ours and never needs escaping */

    return sizeof(",\"\":\"\"") - 1 + sizeof("push_credential_sid") - 1
           + value->len + ngx_escape_json(NULL, value->data, value->len);
}


static u_char *
ngx_http_twanon_jwt_member(u_char *p, const char *name, ngx_str_t *value,
    ngx_uint_t comma)
{
    if (comma) {
        *p++ = ',';
    }

    *p++ = '"';
    p = ngx_cpymem(p, name, ngx_strlen(name));
    *p++ = '"';
    *p++ = ':';
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, value->data, value->len);
    *p++ = '"';

    return p;
}
