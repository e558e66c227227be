
/*
 * Copyright (C) twanon authors
 */


#ifndef _NGX_HTTP_TWANON_MODULE_H_INCLUDED_
#define _NGX_HTTP_TWANON_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_lib.h"


#define NGX_HTTP_TWANON_TOKEN_BODY_MAX    4096
#define NGX_HTTP_TWANON_IDENTITY_DEFAULT  "^[A-Za-z0-9_]{1,121}$"


/* request plumbing */

typedef struct {
    ngx_regex_t                *default_identity_regex;
} ngx_http_twanon_main_conf_t;


typedef struct {
    ngx_http_complex_value_t   *account_sid;
    ngx_http_complex_value_t   *api_key;
    ngx_http_complex_value_t   *api_secret;
    ngx_http_complex_value_t   *identity;

    ngx_regex_t                *identity_regex;
    time_t                      token_ttl;
    ngx_flag_t                  token_incoming;
    ngx_str_t                   outgoing_application_sid;
    ngx_str_t                   push_credential_sid;
    ngx_str_t                   region;

    /* the JWT header, base64url-encoded once at configuration time */
    ngx_str_t                   jwt_header;

    ngx_array_t                *cors_origins;    /* of ngx_str_t */
    ngx_flag_t                  cors_any;

    /* where "twanon_token" was written, for nginx -t messages */
    ngx_str_t                   token_file;
    ngx_uint_t                  token_line;
    unsigned                    token:1;
} ngx_http_twanon_loc_conf_t;


ngx_int_t ngx_http_twanon_token_handler(ngx_http_request_t *r);

ngx_int_t ngx_http_twanon_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body);
ngx_int_t ngx_http_twanon_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_int_t ngx_http_twanon_send_json_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *message);
ngx_table_elt_t *ngx_http_twanon_header_in(ngx_http_request_t *r,
    const char *lowcase_name);
ngx_table_elt_t *ngx_http_twanon_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);


extern ngx_module_t  ngx_http_twanon_module;


#endif /* _NGX_HTTP_TWANON_MODULE_H_INCLUDED_ */
