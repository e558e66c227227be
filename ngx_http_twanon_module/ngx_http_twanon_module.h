
/*
 * Copyright (C) twanon authors
 */


#ifndef _NGX_HTTP_TWANON_MODULE_H_INCLUDED_
#define _NGX_HTTP_TWANON_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_lib.h"


#define NGX_HTTP_TWANON_VERSION           "0.1.0"

#define NGX_HTTP_TWANON_TOKEN_BODY_MAX    4096
#define NGX_HTTP_TWANON_WEBHOOK_BODY_MAX  65536
#define NGX_HTTP_TWANON_WEBHOOK_ARGS_MAX  256
#define NGX_HTTP_TWANON_IDENTITY_DEFAULT  "^[A-Za-z0-9_]{1,121}$"


/* request plumbing */

typedef struct {
    ngx_regex_t                *default_identity_regex;
    ngx_array_t                 contents;    /* locations with a handler */
} ngx_http_twanon_main_conf_t;


typedef struct {
    ngx_str_t                   file;
    ngx_uint_t                  line;
} ngx_http_twanon_where_t;


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

    ngx_array_t                *auth_tokens;     /* complex values */
    ngx_flag_t                  verify_signature;
    ngx_http_complex_value_t   *webhook_url;
    ngx_str_t                   resolver;
    ngx_uint_t                  resolver_send;
    ngx_msec_t                  resolver_timeout;
    ngx_str_t                   identity_field;  /* NUL-terminated */
    ngx_array_t                *client_params;   /* name, field */
    ngx_uint_t                  caller_id_mode;
    ngx_http_complex_value_t   *caller_id;
    ngx_flag_t                  answer_on_bridge;
    time_t                      dial_time_limit;
    time_t                      dial_timeout;
    ngx_str_t                   dial_action;
    ngx_str_t                   fallback;        /* rendered TwiML */
    ngx_array_t                *fallback_clients;
    ngx_http_complex_value_t   *hash_key;

    ngx_http_twanon_hmac_t      secret_mac;
    ngx_http_twanon_hmac_t      auth_macs[2];    /* for auth_tokens */
    ngx_http_twanon_hmac_t      hash_mac;

    /* where the handlers were set; file.data is NULL where they were not */
    ngx_http_twanon_where_t     token;
    ngx_http_twanon_where_t     incoming;
} ngx_http_twanon_loc_conf_t;


#define NGX_HTTP_TWANON_SEND_NUMBER     1
#define NGX_HTTP_TWANON_SEND_HASH       2

#define NGX_HTTP_TWANON_CALLER_ID_TO    1
#define NGX_HTTP_TWANON_CALLER_ID_OFF   2
#define NGX_HTTP_TWANON_CALLER_ID_VALUE 3

#define NGX_HTTP_TWANON_ROUTE_NONE      0
#define NGX_HTTP_TWANON_ROUTE_CLIENT    1
#define NGX_HTTP_TWANON_ROUTE_UNKNOWN   2
#define NGX_HTTP_TWANON_ROUTE_ERROR     3
#define NGX_HTTP_TWANON_ROUTE_REJECTED  4


typedef struct {
    ngx_http_request_t         *resolver;    /* the subrequest */
    ngx_event_t                 deadline;
    ngx_str_t                   from;        /* never logged */
    ngx_str_t                   to;
    ngx_str_t                   call_sid;
    ngx_str_t                   account_sid;
    ngx_str_t                   caller_hash;
    ngx_str_t                   identities;  /* comma-separated */
    ngx_buf_t                  *reply;
    off_t                       received;    /* bytes of the reply */
    ngx_uint_t                  status;
    ngx_uint_t                  route;
    unsigned                    done:1;
    unsigned                    complete:1;
    unsigned                    failed:1;
    unsigned                    timed_out:1;
    unsigned                    too_big:1;
    unsigned                    replied:1;
} ngx_http_twanon_ctx_t;


ngx_int_t ngx_http_twanon_token_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_twanon_incoming_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_twanon_incoming_init(ngx_conf_t *cf);
ngx_int_t ngx_http_twanon_caller_hash(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);

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
