
/*
 * Copyright (C) twanon authors
 */


#ifndef _NGX_HTTP_TWANON_H_INCLUDED_
#define _NGX_HTTP_TWANON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon_lib.h"


#define NGX_HTTP_TWANON_TOKEN_BODY_MAX    4096
#define NGX_HTTP_TWANON_WEBHOOK_BODY_MAX  65536
#define NGX_HTTP_TWANON_WEBHOOK_ARGS_MAX  256
#define NGX_HTTP_TWANON_IDENTITY_DEFAULT  "^[A-Za-z0-9_]{1,121}$"

#define NGX_HTTP_TWANON_HANDLERS_MAX      16
#define NGX_HTTP_TWANON_ROUTES_MAX        32
#define NGX_HTTP_TWANON_FIELDS_MAX        32


/* what "twanon_status" counts of signature checks (stats.c) */
#define NGX_HTTP_TWANON_SIG_MISSING     0
#define NGX_HTTP_TWANON_SIG_MISMATCH    1
#define NGX_HTTP_TWANON_SIG_ACCOUNT     2

#define NGX_HTTP_TWANON_STAT_OUTCOMES                                         \
    (NGX_HTTP_TWANON_ROUTES_MAX + 3)
#define NGX_HTTP_TWANON_STAT_BUCKETS    11

typedef struct {
    ngx_atomic_t                reloads;
    ngx_atomic_t                tokens[3];
    ngx_atomic_t                webhooks[NGX_HTTP_TWANON_HANDLERS_MAX]
                                        [NGX_HTTP_TWANON_STAT_OUTCOMES];
    ngx_atomic_t                signatures[3];
    ngx_atomic_t                resolver[7];
    ngx_atomic_t                fallbacks[3];
    ngx_atomic_t                buckets[NGX_HTTP_TWANON_STAT_BUCKETS + 1];
    ngx_atomic_t                duration_ms;
} ngx_http_twanon_stats_t;

/* the fallback a webhook got, as counted: ctx->fallback */
#define NGX_HTTP_TWANON_FALLBACK_KIND_SAY     1
#define NGX_HTTP_TWANON_FALLBACK_KIND_TWIML   2
#define NGX_HTTP_TWANON_FALLBACK_KIND_CLIENT  3


typedef struct {
    ngx_str_t                   file;
    ngx_uint_t                  line;
    char                       *name;           /* the directive */
} ngx_http_twanon_where_t;


typedef struct ngx_http_twanon_handler_s  ngx_http_twanon_handler_t;


/* a shared key that Twilio may sign webhooks with (conf_webhook.c) */

typedef struct {
    ngx_str_t                   id;
    ngx_str_t                   secret;
    ngx_http_twanon_hmac_t      macs[2];         /* HMAC-SHA1, -SHA256 */
} ngx_http_twanon_webhook_key_t;


/* a "twanon_token_outgoing_param": its name and its value */

typedef struct {
    ngx_str_t                   name;
    ngx_http_complex_value_t    value;
} ngx_http_twanon_token_param_t;


typedef struct {
    ngx_http_complex_value_t   *account_sid;
    ngx_http_complex_value_t   *api_key;
    ngx_http_complex_value_t   *api_secret;
    ngx_http_complex_value_t   *identity;

    ngx_regex_t                *identity_regex;
    time_t                      token_ttl;
    ngx_flag_t                  token_incoming;
    ngx_str_t                   outgoing_application_sid;
    ngx_array_t                *outgoing_params;  /* token_param_t */
    ngx_str_t                   push_credential_sid;
    ngx_str_t                   region;

    /* the JWT header, base64url-encoded once at configuration time */
    ngx_str_t                   jwt_header;

    ngx_array_t                *cors_origins;    /* of ngx_str_t */
    ngx_flag_t                  cors_any;

    ngx_array_t                *auth_tokens;     /* complex values */
    ngx_array_t                *webhook_keys;
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
    ngx_int_t                   dial_attempts;
    ngx_str_t                   outgoing_param;
    ngx_http_complex_value_t   *outgoing_caller_id;
    ngx_str_t                   fallback;        /* rendered TwiML */
    ngx_uint_t                  fallback_kind;   /* say, twiml */
    ngx_array_t                *fallback_clients;
    ngx_http_complex_value_t   *hash_key;

    ngx_http_twanon_hmac_t      secret_mac;
    ngx_http_twanon_hmac_t      auth_macs[2];    /* for auth_tokens */
    ngx_http_twanon_hmac_t      hash_mac;

    ngx_http_twanon_handler_t  *handler;         /* set here, or NULL */
    ngx_http_twanon_where_t     where;           /* of the handler */
} ngx_http_twanon_loc_conf_t;


#define NGX_HTTP_TWANON_SEND_NUMBER     1
#define NGX_HTTP_TWANON_SEND_HASH       2

#define NGX_HTTP_TWANON_CALLER_ID_TO    1
#define NGX_HTTP_TWANON_CALLER_ID_OFF   2
#define NGX_HTTP_TWANON_CALLER_ID_VALUE 3


/* what the product says to the browser and the caller, in one place */

#define NGX_HTTP_TWANON_PARAM_NAME      "customerName"
#define NGX_HTTP_TWANON_PARAM_ID        "customerId"
#define NGX_HTTP_TWANON_UNKNOWN_CALLER  "Unknown caller"

#define NGX_HTTP_TWANON_FALLBACK_SAY                                          \
    "We are sorry, no one is available to take your call right now. "         \
    "Please try again later."

/* the default fallback of "twanon_outgoing": what the operator hears */
#define NGX_HTTP_TWANON_OUTGOING_SAY    "This call cannot be placed."


/* a location that one of our handlers made ours */

typedef struct {
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_twanon_handler_t  *handler;
    ngx_http_twanon_loc_conf_t *conf;
} ngx_http_twanon_content_t;


/* the post data of the time directives: bounds and what to say past them */

typedef struct {
    ngx_conf_post_handler_pt    post_handler;
    time_t                      low;
    time_t                      high;
    char                       *message;
} ngx_http_twanon_sec_bounds_t;


typedef struct {
    ngx_conf_post_handler_pt    post_handler;
    ngx_msec_t                  low;
    ngx_msec_t                  high;
    char                       *message;
} ngx_http_twanon_msec_bounds_t;


typedef struct ngx_http_twanon_ctx_s  ngx_http_twanon_ctx_t;

/* the reply, once the resolver is done or failed: a status or NGX_ERROR */

typedef ngx_int_t (*ngx_http_twanon_reply_pt)(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);

/*
 * Once verified: NGX_OK to ask the resolver, NGX_DONE to reply at once,
 * NGX_DECLINED for 400, NGX_HTTP_FORBIDDEN for 403, or NGX_ERROR.
 */

typedef ngx_int_t (*ngx_http_twanon_verified_pt)(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);


/*
 * $twanon_route: what became of a webhook.  The plumbing's routes come
 * first; each handler's own are numbered from its descriptor's "route".
 */

#define NGX_HTTP_TWANON_ROUTE_ERROR     0
#define NGX_HTTP_TWANON_ROUTE_REJECTED  1
#define NGX_HTTP_TWANON_ROUTE_UNKNOWN   2
#define NGX_HTTP_TWANON_ROUTE_CLIENT    3
#define NGX_HTTP_TWANON_ROUTES_SHARED   4


/* a field of the webhook's form that a handler reads */

typedef struct {
    ngx_str_t                   name;
    size_t                      offset;      /* of its ngx_str_t in ctx */
    ngx_uint_t                  required;
} ngx_http_twanon_field_t;


typedef char *(*ngx_http_twanon_check_pt)(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
typedef void (*ngx_http_twanon_log_pt)(ngx_http_request_t *r);


/*
 * A content handler of ours, described once in its own file and listed
 * in module.c (docs/development.md, "Adding a webhook handler").
 */

#define NGX_HTTP_TWANON_WEBHOOK         0x01    /* a signed Twilio form */
#define NGX_HTTP_TWANON_ATTEMPT         0x02    /* "?attempt=" is signed */

struct ngx_http_twanon_handler_s {
    ngx_str_t                   name;        /* its directive */
    ngx_str_t                   label;       /* in twanon_webhooks_total */
    ngx_http_handler_pt         handler;
    ngx_uint_t                  flags;
    ngx_http_twanon_check_pt    check;       /* at merge, for nginx -t */
    ngx_http_twanon_log_pt      log;         /* counts a request */
    ngx_http_twanon_field_t    *fields;
    ngx_http_twanon_verified_pt  verified;
    ngx_http_twanon_reply_pt    reply;
    ngx_str_t                  *routes;      /* its $twanon_route names */
    ngx_http_variable_t        *variables;
    ngx_str_t                   fallback;    /* spoken by default */
    ngx_uint_t                  index;       /* set at preconfiguration */
    ngx_uint_t                  route;       /* its first route, too */
};


/* the fields of all webhook handlers, by length, and the route names */

#define NGX_HTTP_TWANON_FIELD_LEN       32

typedef struct {
    ngx_regex_t                *default_identity_regex;
    ngx_array_t                 contents;    /* locations with a handler */
    ngx_shm_zone_t             *status_zone;

    ngx_http_twanon_handler_t **webhooks;    /* by their index */
    ngx_uint_t                  nwebhooks;
    ngx_str_t                   routes[NGX_HTTP_TWANON_ROUTES_MAX];
    ngx_uint_t                  nroutes;
    ngx_http_twanon_field_t     fields[NGX_HTTP_TWANON_FIELDS_MAX];
    ngx_uint_t                  nfields;
    ngx_uint_t                  nrequired;
    u_char                      by_len[NGX_HTTP_TWANON_FIELD_LEN + 1];
} ngx_http_twanon_main_conf_t;


struct ngx_http_twanon_ctx_s {
    ngx_http_twanon_handler_t  *handler;
    ngx_http_request_t         *resolver;    /* the subrequest */
    ngx_event_t                 deadline;
    ngx_event_t                 wake;        /* the lookup's, after it */
    ngx_str_t                   from;        /* never logged */
    ngx_str_t                   to;
    ngx_str_t                   call_sid;
    ngx_str_t                   account_sid;
    ngx_str_t                   caller_hash;
    ngx_str_t                   identities;  /* comma-separated */
    ngx_str_t                   stir_verstat;  /* checked */
    ngx_str_t                   dial_status; /* checked, after a dial */
    ngx_str_t                   stir_field;  /* the fields as sent: */
    ngx_str_t                   dial_field;  /* never shown as they are */
    ngx_str_t                   call_status;
    ngx_str_t                   action;      /* of the dial, if any */
    ngx_array_t                 pairs;       /* the webhook's fields */
    ngx_str_t                   resolver_body;  /* the handler's own */
    ngx_str_t                   callee;      /* never logged */
    ngx_str_t                   callee_hash;
    ngx_msec_t                  resolver_start;
    ngx_msec_t                  resolver_ms;
    ngx_uint_t                  attempt;     /* to ring next, after one */
    ngx_buf_t                  *reply;       /* the resolver's */
    off_t                       received;    /* bytes of the reply */
    ngx_uint_t                  status;
    ngx_uint_t                  route;       /* set by the handler */
    unsigned                    verified:1;
    unsigned                    done:1;
    unsigned                    complete:1;
    unsigned                    failed:1;
    unsigned                    timed_out:1;
    unsigned                    too_big:1;
    unsigned                    replied:1;
    unsigned                    own_action:1;  /* ctx->action */
    unsigned                    hangup:1;
    unsigned                    no_dial:1;   /* the spoken fallback */
    unsigned                    lookup:1;    /* the resolver was asked */
    unsigned                    left:1;      /* past its deadline */
    unsigned                    invalid:1;   /* its 200 was unusable */
    unsigned                    fallback:2;  /* kind served, if any */
};


/* the routed <Dial> or the fallback (dial.c) */

ngx_int_t ngx_http_twanon_dial_reply(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
ngx_int_t ngx_http_twanon_dial_fallback(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);

extern ngx_http_variable_t  ngx_http_twanon_dial_variables[];


/* the counters in shared memory (stats.c) */

char *ngx_http_twanon_status_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_twanon_stats_init(ngx_conf_t *cf);
ngx_http_twanon_stats_t *ngx_http_twanon_stats(ngx_http_request_t *r);
void ngx_http_twanon_stats_signature(ngx_http_request_t *r,
    ngx_uint_t reason);
void ngx_http_twanon_stats_token(ngx_http_request_t *r);


/* what every Twilio webhook handler shares (webhook.c, verify.c) */

ngx_int_t ngx_http_twanon_register(ngx_conf_t *cf,
    ngx_http_twanon_handler_t **handlers);
ngx_int_t ngx_http_twanon_webhook_handler(ngx_http_request_t *r,
    ngx_http_twanon_handler_t *h);
ngx_int_t ngx_http_twanon_webhook_stir(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
ngx_int_t ngx_http_twanon_verify(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx, ngx_array_t *pairs);

extern ngx_http_variable_t  ngx_http_twanon_webhook_variables[];


/* the resolver lookup of a verified webhook (resolver.c, resolver_form.c) */

ngx_int_t ngx_http_twanon_resolver_init(ngx_conf_t *cf);
ngx_int_t ngx_http_twanon_resolver_start(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
ngx_http_request_body_t *ngx_http_twanon_resolver_body(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
ngx_int_t ngx_http_twanon_caller_hash(ngx_http_request_t *r,
    ngx_http_twanon_ctx_t *ctx);
ngx_int_t ngx_http_twanon_number_hash(ngx_http_request_t *r,
    ngx_str_t *number, ngx_str_t *hash);

extern ngx_http_variable_t  ngx_http_twanon_resolver_variables[];


/* request helpers (http.c) */

ngx_int_t ngx_http_twanon_read_body(ngx_http_request_t *r, size_t max,
    ngx_str_t *body);
ngx_int_t ngx_http_twanon_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body);
ngx_table_elt_t *ngx_http_twanon_header_in(ngx_http_request_t *r,
    const char *lowcase_name, ngx_uint_t *n);
ngx_table_elt_t *ngx_http_twanon_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
ngx_int_t ngx_http_twanon_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);
ngx_int_t ngx_http_twanon_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
void ngx_http_twanon_variable_set(ngx_http_variable_value_t *v,
    ngx_str_t *value);

extern ngx_str_t  ngx_http_twanon_xml_type;


/* directive callbacks and configuration helpers (conf.c) */

char *ngx_http_twanon_set_handler(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_sid(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_twanon_sid_value(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_complex_value(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_identity_pattern(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_resolver(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_sec_bounds(ngx_conf_t *cf, void *post, void *data);
char *ngx_http_twanon_num_bounds(ngx_conf_t *cf, void *post, void *data);
char *ngx_http_twanon_msec_bounds(ngx_conf_t *cf, void *post, void *data);

char *ngx_http_twanon_compile(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value, ngx_http_complex_value_t *cv);
char *ngx_http_twanon_read_file(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *value, ngx_uint_t secret);
ngx_regex_t *ngx_http_twanon_regex(ngx_conf_t *cf, ngx_str_t *pattern);
ngx_int_t ngx_http_twanon_default_regex(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
ngx_int_t ngx_http_twanon_hmac_ready(ngx_conf_t *cf,
    ngx_http_twanon_hmac_t *h, const char *digest, const char *name,
    ngx_http_twanon_where_t *where);


/* what a "twanon_token" location has of its own (conf_token.c) */

char *ngx_http_twanon_region(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_token_outgoing_param(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_twanon_cors_origin(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* how webhooks are verified (conf_webhook.c) */

char *ngx_http_twanon_auth_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_auth_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_webhook_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_webhook_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* what a webhook answers (conf_incoming.c) */

char *ngx_http_twanon_client_parameter(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_caller_id(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_fallback_say(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_fallback_twiml(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_fallback_client(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_twanon_outgoing_param(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


/* the nginx -t checks (check.c) */

char *ngx_http_twanon_check_merged(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
char *ngx_http_twanon_check_webhook(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
ngx_int_t ngx_http_twanon_check_init(ngx_conf_t *cf);
char *ngx_http_twanon_dial_action(ngx_conf_t *cf, void *post, void *data);
char *ngx_http_twanon_action_query(ngx_str_t *url);


extern ngx_module_t  ngx_http_twanon_module;


#endif /* _NGX_HTTP_TWANON_H_INCLUDED_ */
