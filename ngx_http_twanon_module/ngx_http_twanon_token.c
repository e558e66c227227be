
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_twanon.h"


#define NGX_HTTP_TWANON_ARGS_MAX  64


static ngx_int_t ngx_http_twanon_token_handler(ngx_http_request_t *r);
static char *ngx_http_twanon_token_check(ngx_conf_t *cf,
    ngx_http_twanon_loc_conf_t *conf);
static void ngx_http_twanon_token_body_max(ngx_conf_t *cf);
static void ngx_http_twanon_token_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_twanon_token_reply(ngx_http_request_t *r,
    ngx_str_t *args);
static ngx_int_t ngx_http_twanon_token_json(ngx_http_request_t *r,
    ngx_str_t *identity, ngx_str_t *token, ngx_str_t *body);
static ngx_int_t ngx_http_twanon_token_identity(ngx_http_request_t *r,
    ngx_str_t *args, ngx_str_t *identity);
static ngx_int_t ngx_http_twanon_token_params(ngx_http_request_t *r,
    ngx_array_t *conf, ngx_http_twanon_grant_t *grant);
static ngx_int_t ngx_http_twanon_token_credentials(ngx_http_request_t *r,
    ngx_http_twanon_loc_conf_t *tlcf, ngx_http_twanon_grant_t *grant);
static ngx_int_t ngx_http_twanon_token_credential(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, const char *directive, const char *prefix,
    ngx_str_t *value);
static ngx_int_t ngx_http_twanon_token_cors(ngx_http_request_t *r,
    ngx_http_twanon_loc_conf_t *tlcf);
static ngx_int_t ngx_http_twanon_token_not_allowed(ngx_http_request_t *r,
    ngx_http_twanon_loc_conf_t *tlcf);
static ngx_int_t ngx_http_twanon_send_json_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *message);


static ngx_str_t  ngx_http_twanon_json_type = ngx_string("application/json");
static ngx_str_t  ngx_http_twanon_no_store = ngx_string("no-store");


ngx_http_twanon_handler_t  ngx_http_twanon_token = {
    ngx_string("twanon_token"),
    ngx_null_string,
    ngx_http_twanon_token_handler,
    0,
    ngx_http_twanon_token_check,
    ngx_http_twanon_stats_token,
    NULL, NULL, NULL, NULL, NULL,
    ngx_null_string,
    0, 0
};


/*
 * Runs where "twanon_token" is set, after inheritance: the credentials
 * must be there, and what never changes is prepared once.
 */

static char *
ngx_http_twanon_token_check(ngx_conf_t *cf, ngx_http_twanon_loc_conf_t *conf)
{
    char  *missing;

    missing = NULL;

    if (conf->account_sid == NULL) {
        missing = "\"twanon_account_sid\"";

    } else if (conf->api_key == NULL) {
        missing = "\"twanon_api_key\"";

    } else if (conf->api_secret == NULL) {
        missing = "\"twanon_api_secret\" or \"twanon_api_secret_file\"";
    }

    if (missing) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_token\" in %V:%ui requires %s",
                      &conf->where.file, conf->where.line, missing);
        return NGX_CONF_ERROR;
    }

    ngx_http_twanon_token_body_max(cf);

    /* the params go with the outgoing calls of the application */

    if (conf->outgoing_params && conf->outgoing_application_sid.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"twanon_token\" in %V:%ui has "
                      "\"twanon_token_outgoing_param\" but no "
                      "\"twanon_token_outgoing_application_sid\": the "
                      "params are sent only with the calls of a TwiML App",
                      &conf->where.file, conf->where.line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_default_regex(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_jwt_header(cf->pool, &conf->region, &conf->jwt_header)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_twanon_hmac_ready(cf, &conf->secret_mac, "SHA256",
                                   "twanon_token", &conf->where)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* the identity of the default is whatever the client asks for */

    if (conf->identity == NULL && conf->cors_any) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_token\" in %V:%ui mints a token for any "
                      "identity the client names, and with "
                      "\"twanon_cors_origin *\" any web site can ask for "
                      "one; set \"twanon_token_identity\" to an "
                      "authenticated user",
                      &conf->where.file, conf->where.line);

    } else if (conf->identity == NULL) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "\"twanon_token\" in %V:%ui mints a token for any "
                      "identity the client names; set "
                      "\"twanon_token_identity\" to an authenticated user",
                      &conf->where.file, conf->where.line);
    }

    return NGX_CONF_OK;
}


/* nginx refuses a larger token request before reading its body */

static void
ngx_http_twanon_token_body_max(ngx_conf_t *cf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_max_body_size == 0
        || clcf->client_max_body_size > NGX_HTTP_TWANON_TOKEN_BODY_MAX)
    {
        clcf->client_max_body_size = NGX_HTTP_TWANON_TOKEN_BODY_MAX;
    }
}


static ngx_int_t
ngx_http_twanon_token_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_str_t                    empty;
    ngx_http_twanon_loc_conf_t  *tlcf;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon token handler");

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_POST|NGX_HTTP_OPTIONS))
        || (r->method == NGX_HTTP_OPTIONS
            && tlcf->cors_origins == NULL && !tlcf->cors_any))
    {
        return ngx_http_twanon_token_not_allowed(r, tlcf);
    }

    if (r->method == NGX_HTTP_POST
        && r->headers_in.content_length_n > NGX_HTTP_TWANON_TOKEN_BODY_MAX)
    {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_twanon_send_json_error(r,
                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                            "body_too_large",
                            "the request body is larger than 4096 bytes");
    }

    if (r->method == NGX_HTTP_POST && tlcf->identity == NULL) {

        /* the default identity is a field of the form body */

        rc = ngx_http_read_client_request_body(r,
                                           ngx_http_twanon_token_body_handler);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        rc = ngx_http_twanon_token_cors(r, tlcf);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_str_null(&empty);

        return ngx_http_twanon_send(r, NGX_HTTP_NO_CONTENT,
                                    &ngx_http_twanon_json_type, &empty);
    }

    return ngx_http_twanon_token_reply(r, &r->args);
}


static void
ngx_http_twanon_token_body_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;
    ngx_str_t  body;

    rc = ngx_http_twanon_read_body(r, NGX_HTTP_TWANON_TOKEN_BODY_MAX, &body);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon token body len:%uz", body.len);

    if (rc == NGX_DECLINED) {
        rc = ngx_http_twanon_send_json_error(r,
                            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                            "body_too_large",
                            "the request body is larger than 4096 bytes");

    } else {
        rc = ngx_http_twanon_token_reply(r, &body);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * "args" holds the urlencoded arguments that the default identity is
 * read from: the query string of a GET, the body of a POST.
 */

static ngx_int_t
ngx_http_twanon_token_reply(ngx_http_request_t *r, ngx_str_t *args)
{
    ngx_int_t                    rc;
    ngx_str_t                    header, body;
    ngx_table_elt_t             *h;
    ngx_http_twanon_grant_t      grant;
    ngx_http_twanon_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    ngx_memzero(&grant, sizeof(ngx_http_twanon_grant_t));

    rc = ngx_http_twanon_token_credentials(r, tlcf, &grant);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_twanon_send_json_error(r,
                                NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "not_configured",
                                "token signing is not configured");
    }

    rc = ngx_http_twanon_token_identity(r, args, &grant.identity);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (ngx_http_twanon_token_cors(r, tlcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_twanon_send_json_error(r, NGX_HTTP_BAD_REQUEST,
                                "invalid_identity",
                                "the identity is missing or not allowed");
    }

    grant.mac = &tlcf->secret_mac;
    grant.outgoing_application_sid = tlcf->outgoing_application_sid;

    if (tlcf->outgoing_params != NULL
        && ngx_http_twanon_token_params(r, tlcf->outgoing_params, &grant)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    grant.push_credential_sid = tlcf->push_credential_sid;
    grant.incoming = tlcf->token_incoming;
    grant.iat = ngx_time();
    grant.ttl = tlcf->token_ttl;

    if (ngx_http_twanon_jwt_sign(r->pool, &tlcf->jwt_header, &grant, &header)
        != NGX_OK)
    {
        ngx_ssl_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "twanon: HMAC-SHA256 failed");
        return NGX_ERROR;
    }

    if (ngx_http_twanon_token_json(r, &grant.identity, &header, &body)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * a plain header, not linked into r->headers_out.cache_control, so
     * that an "expires" in the location adds its own beside it instead of
     * rewriting "no-store"
     */

    h = ngx_http_twanon_add_header(r, "Cache-Control",
                                   &ngx_http_twanon_no_store);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon token issued identity len:%uz ttl:%T",
                   grant.identity.len, grant.ttl);

    return ngx_http_twanon_send(r, NGX_HTTP_OK, &ngx_http_twanon_json_type,
                                &body);
}


/* {"identity":"...","token":"..."} */

static ngx_int_t
ngx_http_twanon_token_json(ngx_http_request_t *r, ngx_str_t *identity,
    ngx_str_t *token, ngx_str_t *body)
{
    u_char  *p;

    body->len = sizeof("{\"identity\":\"\",\"token\":\"\"}") - 1
                + identity->len
                + ngx_escape_json(NULL, identity->data, identity->len)
                + token->len;

    body->data = ngx_pnalloc(r->pool, body->len);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body->data, "{\"identity\":\"",
                   sizeof("{\"identity\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, identity->data, identity->len);
    p = ngx_cpymem(p, "\",\"token\":\"", sizeof("\",\"token\":\"") - 1);
    p = ngx_cpymem(p, token->data, token->len);
    *p++ = '"';
    *p++ = '}';

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_token_identity(ngx_http_request_t *r, ngx_str_t *args,
    ngx_str_t *identity)
{
    ngx_int_t                    rc;
    ngx_array_t                  pairs;
    ngx_http_twanon_loc_conf_t  *tlcf;

    static ngx_str_t  name = ngx_string("identity");

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_twanon_module);

    if (tlcf->identity) {
        if (ngx_http_complex_value(r, tlcf->identity, identity) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        if (ngx_array_init(&pairs, r->pool, 8, sizeof(ngx_http_twanon_pair_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        rc = ngx_http_twanon_form_parse(r->pool, args, &pairs,
                                        NGX_HTTP_TWANON_ARGS_MAX);
        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_twanon_form_get(&pairs, &name, identity) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    rc = ngx_http_twanon_identity_valid(tlcf->identity_regex, identity);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon token identity len:%uz rc:%i", identity->len, rc);

    return rc;
}


/*
 * The values of "twanon_token_outgoing_param", evaluated for this token;
 * one that evaluates to nothing is sent as an empty string.  The values
 * are not logged: they are the operator's trusted data.
 */

static ngx_int_t
ngx_http_twanon_token_params(ngx_http_request_t *r, ngx_array_t *conf,
    ngx_http_twanon_grant_t *grant)
{
    ngx_uint_t                      i;
    ngx_http_twanon_pair_t         *pair;
    ngx_http_twanon_token_param_t  *param;

    grant->outgoing_params = ngx_array_create(r->pool, conf->nelts,
                                              sizeof(ngx_http_twanon_pair_t));
    if (grant->outgoing_params == NULL) {
        return NGX_ERROR;
    }

    pair = ngx_array_push_n(grant->outgoing_params, conf->nelts);
    if (pair == NULL) {
        return NGX_ERROR;
    }

    param = conf->elts;

    for (i = 0; i < conf->nelts; i++) {
        pair[i].key = param[i].name;

        if (ngx_http_complex_value(r, &param[i].value, &pair[i].value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "twanon token outgoing params:%ui", conf->nelts);

    return NGX_OK;
}


/* the Account SID, the API key and its secret, in this order */

static ngx_int_t
ngx_http_twanon_token_credentials(ngx_http_request_t *r,
    ngx_http_twanon_loc_conf_t *tlcf, ngx_http_twanon_grant_t *grant)
{
    ngx_int_t  rc;

    rc = ngx_http_twanon_token_credential(r, tlcf->account_sid,
                                          "twanon_account_sid", "AC",
                                          &grant->account_sid);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_twanon_token_credential(r, tlcf->api_key,
                                          "twanon_api_key", "SK",
                                          &grant->api_key);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_twanon_token_credential(r, tlcf->api_secret,
                                            "twanon_api_secret", NULL,
                                            &grant->api_secret);
}


/*
 * Evaluates a credential; one that evaluates to nothing or to the wrong
 * shape is a configuration error that the operator must hear about,
 * never a token signed with an empty key.  The value is never logged.
 */

static ngx_int_t
ngx_http_twanon_token_credential(ngx_http_request_t *r,
    ngx_http_complex_value_t *cv, const char *directive, const char *prefix,
    ngx_str_t *value)
{
    if (ngx_http_complex_value(r, cv, value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value->len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: \"%s\" evaluated to an empty value",
                      directive);
        return NGX_DECLINED;
    }

    /* a literal was checked when the configuration loaded */

    if (prefix && cv->lengths != NULL
        && ngx_http_twanon_sid_valid(value, prefix) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "twanon: \"%s\" evaluated to an invalid value",
                      directive);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_token_cors(ngx_http_request_t *r,
    ngx_http_twanon_loc_conf_t *tlcf)
{
    ngx_str_t         value, *origin;
    ngx_uint_t        i;
    ngx_table_elt_t  *h, *in;

    static ngx_str_t  any = ngx_string("*");
    static ngx_str_t  vary = ngx_string("Origin");
    static ngx_str_t  methods = ngx_string("GET, POST, OPTIONS");
    static ngx_str_t  headers = ngx_string("Content-Type, Authorization");
    static ngx_str_t  max_age = ngx_string("600");

    if (tlcf->cors_any) {
        value = any;

    } else if (tlcf->cors_origins
               && (in = ngx_http_twanon_header_in(r, "origin", NULL)) != NULL)
    {
        value = in->value;
        origin = tlcf->cors_origins->elts;

        for (i = 0; i < tlcf->cors_origins->nelts; i++) {
            if (origin[i].len == value.len
                && ngx_strncmp(origin[i].data, value.data, value.len) == 0)
            {
                break;
            }
        }

        if (i == tlcf->cors_origins->nelts) {
            return NGX_OK;
        }

        if (ngx_http_twanon_add_header(r, "Vary", &vary) == NULL) {
            return NGX_ERROR;
        }

    } else {
        return NGX_OK;
    }

    h = ngx_http_twanon_add_header(r, "Access-Control-Allow-Origin", &value);
    if (h == NULL) {
        return NGX_ERROR;
    }

    if (r->method == NGX_HTTP_OPTIONS) {
        if (ngx_http_twanon_add_header(r, "Access-Control-Allow-Methods",
                                       &methods)
            == NULL
            || ngx_http_twanon_add_header(r, "Access-Control-Allow-Headers",
                                          &headers)
               == NULL
            || ngx_http_twanon_add_header(r, "Access-Control-Max-Age",
                                          &max_age)
               == NULL)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_twanon_token_not_allowed(ngx_http_request_t *r,
    ngx_http_twanon_loc_conf_t *tlcf)
{
    ngx_int_t   rc;
    ngx_str_t  *allow;

    static ngx_str_t  plain = ngx_string("GET, POST");
    static ngx_str_t  cors = ngx_string("GET, POST, OPTIONS");

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    allow = (tlcf->cors_origins || tlcf->cors_any) ? &cors : &plain;

    if (ngx_http_twanon_add_header(r, "Allow", allow) == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_twanon_send_json_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "use GET or POST");
}


static ngx_int_t
ngx_http_twanon_send_json_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *message)
{
    ngx_str_t  body;

    body.len = sizeof("{\"error\":\"\",\"message\":\"\"}") - 1
               + ngx_strlen(error) + ngx_strlen(message);

    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    /* both strings are ours and need no JSON escaping */

    ngx_sprintf(body.data, "{\"error\":\"%s\",\"message\":\"%s\"}",
                error, message);

    return ngx_http_twanon_send(r, status, &ngx_http_twanon_json_type,
                                &body);
}
