
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


#if !(NGX_PCRE)
#error "ngx_http_twanon_module requires nginx built with PCRE"
#endif


typedef struct {
    ngx_str_t                   key;
    ngx_str_t                   value;
} ngx_http_twanon_pair_t;


typedef struct {
    ngx_str_t                   account_sid;
    ngx_str_t                   api_key;
    ngx_str_t                   api_secret;
    ngx_str_t                   identity;
    ngx_str_t                   outgoing_application_sid;
    ngx_str_t                   push_credential_sid;
    time_t                      iat;
    time_t                      ttl;
    unsigned                    incoming:1;
} ngx_http_twanon_grant_t;


ngx_int_t ngx_http_twanon_form_parse(ngx_pool_t *pool, ngx_str_t *in,
    ngx_array_t *pairs, ngx_uint_t max);
ngx_int_t ngx_http_twanon_form_get(ngx_array_t *pairs, ngx_str_t *key,
    ngx_str_t *value);

ngx_int_t ngx_http_twanon_jwt_header(ngx_pool_t *pool, ngx_str_t *region,
    ngx_str_t *header);
ngx_int_t ngx_http_twanon_jwt_sign(ngx_pool_t *pool, ngx_str_t *header,
    ngx_http_twanon_grant_t *grant, ngx_str_t *token);

ngx_int_t ngx_http_twanon_sid_valid(ngx_str_t *sid, const char *prefix);
ngx_int_t ngx_http_twanon_identity_valid(ngx_regex_t *re,
    ngx_str_t *identity);


#endif /* _NGX_HTTP_TWANON_LIB_H_INCLUDED_ */
