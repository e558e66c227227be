
/*
 * Copyright (C) twanon authors
 */


/*
 * The pure layer: functions from bytes to bytes over ngx_str_t and pools.
 * Nothing here may depend on src/http/, so that each function can be
 * unit-tested and fuzzed without a running nginx.
 */


#ifndef _NGX_HTTP_TWANON_LIB_H_INCLUDED_
#define _NGX_HTTP_TWANON_LIB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_TWANON_IDENTITIES_MAX   10
#define NGX_HTTP_TWANON_PARAMS_MAX       8
#define NGX_HTTP_TWANON_PARAM_NAME_MAX   32
#define NGX_HTTP_TWANON_CUSTOMER_ID_MAX  64
#define NGX_HTTP_TWANON_PARAM_VALUE_MAX  128
#define NGX_HTTP_TWANON_PARAMS_BYTES     800
#define NGX_HTTP_TWANON_TOKEN_PARAMS_MAX 8

#define NGX_HTTP_TWANON_UTF8_INVALID     0xffffffff


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   value;
} ngx_http_twanon_pair_t;


/*
 * A keyed HMAC: the OpenSSL context is made when the configuration loads
 * (ngx_http_twanon_hmac_init(), with a cleanup in the configuration's
 * pool) and kept, so that a request with the same key as the last one
 * only resets it; a new key (a variable's value changed) rekeys it.
 */

typedef struct {
    const char                 *digest;         /* "SHA1", "SHA256" */
    void                       *ctx;            /* EVP_MAC_CTX */
    ngx_str_t                   key;            /* a copy of ctx's key */
} ngx_http_twanon_hmac_t;


typedef struct {
    ngx_str_t                   account_sid;
    ngx_str_t                   api_key;
    ngx_str_t                   api_secret;
    ngx_http_twanon_hmac_t     *mac;            /* keyed with api_secret */
    ngx_str_t                   identity;
    ngx_str_t                   outgoing_application_sid;
    ngx_array_t                *outgoing_params;  /* name, value; or NULL */
    ngx_str_t                   push_credential_sid;
    time_t                      iat;
    time_t                      ttl;
    unsigned                    incoming:1;
} ngx_http_twanon_grant_t;


#define NGX_HTTP_TWANON_JSON_NONE        0   /* no such member */
#define NGX_HTTP_TWANON_JSON_STRING      1   /* text: the decoded bytes */
#define NGX_HTTP_TWANON_JSON_NUMBER      2   /* text: as the reply has it */
#define NGX_HTTP_TWANON_JSON_ARRAY       3   /* items: the first ones */
#define NGX_HTTP_TWANON_JSON_OTHER       4   /* object, literal */

#define NGX_HTTP_TWANON_JSON_ITEMS       NGX_HTTP_TWANON_IDENTITIES_MAX
#define NGX_HTTP_TWANON_JSON_MEMBERS     (sizeof(ngx_uint_t) * 8)


typedef struct {
    ngx_uint_t                  type;
    ngx_str_t                   text;
} ngx_http_twanon_json_value_t;


typedef struct {
    ngx_str_t                   name;           /* NUL-free */
    ngx_http_twanon_json_value_t  value;
    ngx_uint_t                  nitems;         /* all of an array's */
    ngx_http_twanon_json_value_t  items[NGX_HTTP_TWANON_JSON_ITEMS];
} ngx_http_twanon_json_member_t;


typedef struct {
    ngx_array_t                 identities;     /* of ngx_str_t */
    ngx_array_t                 params;         /* name, value */
} ngx_http_twanon_route_t;


typedef struct {
    ngx_array_t                *identities;     /* of ngx_str_t */
    ngx_array_t                *params;         /* name, value */
    ngx_str_t                   caller_id;      /* empty: omitted */
    ngx_str_t                   action;         /* empty: omitted */
    ngx_str_t                   number;         /* rather than browsers */
    ngx_uint_t                  time_limit;
    ngx_uint_t                  timeout;
    size_t                      params_max;     /* bytes; 0: no limit */
    ngx_uint_t                  params_kept;    /* leading ones, not cut */
    ngx_uint_t                  params_cut;     /* out: bit i, i-th cut */
    unsigned                    answer_on_bridge:1;
} ngx_http_twanon_dial_t;


/* ngx_http_twanon_form.c */
ngx_int_t ngx_http_twanon_form_parse(ngx_pool_t *pool, ngx_str_t *in,
    ngx_array_t *pairs, ngx_uint_t max);
ngx_int_t ngx_http_twanon_form_get(ngx_array_t *pairs, ngx_str_t *key,
    ngx_str_t *value);

/* ngx_http_twanon_json.c */
ngx_int_t ngx_http_twanon_json_members(ngx_pool_t *pool, ngx_str_t *text,
    ngx_http_twanon_json_member_t *members, ngx_uint_t n,
    const char **reason);

/* ngx_http_twanon_jwt.c */
ngx_int_t ngx_http_twanon_jwt_header(ngx_pool_t *pool, ngx_str_t *region,
    ngx_str_t *header);
ngx_int_t ngx_http_twanon_jwt_sign(ngx_pool_t *pool, ngx_str_t *header,
    ngx_http_twanon_grant_t *grant, ngx_str_t *token);

/* ngx_http_twanon_signature.c */
ngx_int_t ngx_http_twanon_signature_params(ngx_pool_t *pool,
    ngx_array_t *pairs, ngx_str_t *out);
ngx_int_t ngx_http_twanon_signature_check(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *params, ngx_str_t *tokens, ngx_http_twanon_hmac_t *macs,
    ngx_uint_t ntokens, ngx_str_t *signature);
ngx_int_t ngx_http_twanon_signature_settings(ngx_str_t *header,
    ngx_str_t *key, ngx_str_t *algorithm);
const char *ngx_http_twanon_signature_digest(ngx_str_t *algorithm);

/* ngx_http_twanon_route.c */
ngx_int_t ngx_http_twanon_route_parse(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *identity_field, ngx_array_t *wanted, ngx_regex_t *re,
    ngx_http_twanon_route_t *route, const char **reason);
ngx_int_t ngx_http_twanon_route_outgoing(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *number, ngx_str_t *caller_id, const char **reason);

/* ngx_http_twanon_twiml.c */
ngx_int_t ngx_http_twanon_twiml_dial(ngx_pool_t *pool,
    ngx_http_twanon_dial_t *dial, ngx_str_t *out);
ngx_int_t ngx_http_twanon_twiml_say(ngx_pool_t *pool, ngx_str_t *language,
    ngx_str_t *voice, ngx_str_t *text, ngx_str_t *out);
ngx_int_t ngx_http_twanon_twiml_check(ngx_pool_t *pool, ngx_str_t *text,
    const char **reason);

/* ngx_http_twanon_identity.c */
ngx_int_t ngx_http_twanon_identity_valid(ngx_regex_t *re,
    ngx_str_t *identity);
ngx_int_t ngx_http_twanon_sid_valid(ngx_str_t *sid, const char *prefix);
ngx_int_t ngx_http_twanon_e164_valid(ngx_str_t *number);
ngx_int_t ngx_http_twanon_param_name_valid(ngx_str_t *name);
ngx_int_t ngx_http_twanon_customer_id_valid(ngx_str_t *id);

/* ngx_http_twanon_hmac.c */
ngx_int_t ngx_http_twanon_hmac_init(ngx_http_twanon_hmac_t *h,
    ngx_pool_t *pool, const char *digest);
ngx_int_t ngx_http_twanon_hmac(ngx_http_twanon_hmac_t *h, ngx_str_t *key,
    u_char *data, size_t len, u_char *md, size_t *md_len);
ngx_int_t ngx_http_twanon_hmac_parts(ngx_http_twanon_hmac_t *h,
    ngx_str_t *key, ngx_str_t *parts, ngx_uint_t n, u_char *md,
    size_t *md_len);
ngx_int_t ngx_http_twanon_hmac_hex(ngx_pool_t *pool, ngx_http_twanon_hmac_t *h,
    ngx_str_t *key, ngx_str_t *data, ngx_str_t *out);

/* ngx_http_twanon_utf8.c */
uint32_t ngx_http_twanon_utf8_next(u_char **p, u_char *last);
ngx_int_t ngx_http_twanon_utf8_fix(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);
size_t ngx_http_twanon_utf8_cut(u_char *p, size_t max);
size_t ngx_http_twanon_utf8_unescape(u_char **pos, u_char *last,
    u_char *dst);
ngx_int_t ngx_http_twanon_utf16_cmp(ngx_str_t *a, ngx_str_t *b);


#endif /* _NGX_HTTP_TWANON_LIB_H_INCLUDED_ */
