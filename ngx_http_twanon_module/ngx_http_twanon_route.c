
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_twanon_lib.h"


#define NGX_HTTP_TWANON_ROUTE_MEMBERS  (1 + NGX_HTTP_TWANON_PARAMS_MAX)


static ngx_int_t ngx_http_twanon_route_text(ngx_pool_t *pool,
    ngx_str_t *reply, ngx_str_t *text, const char **reason);
static ngx_int_t ngx_http_twanon_route_identity(
    ngx_http_twanon_json_member_t *member, ngx_regex_t *re,
    ngx_array_t *identities);
static ngx_int_t ngx_http_twanon_route_value(ngx_http_twanon_json_value_t *v,
    ngx_str_t *out);


/*
 * Reads the resolver's reply into a route: the identities to ring and
 * the allowlisted parameters.  Whatever else the reply holds is checked
 * as JSON and never looked at.  NGX_DECLINED, with "reason" set, when
 * the reply cannot route the call; reasons never quote the reply.
 */

ngx_int_t
ngx_http_twanon_route_parse(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *identity_field, ngx_array_t *wanted, ngx_regex_t *re,
    ngx_http_twanon_route_t *route, const char **reason)
{
    ngx_int_t                       rc;
    ngx_str_t                       text;
    ngx_uint_t                      i, n;
    ngx_http_twanon_pair_t         *want, *param;
    ngx_http_twanon_json_member_t   members[NGX_HTTP_TWANON_ROUTE_MEMBERS];

    if (wanted->nelts >= NGX_HTTP_TWANON_ROUTE_MEMBERS) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&route->identities, pool, 1, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&route->params, pool, wanted->nelts ? wanted->nelts
                                                              : 1,
                          sizeof(ngx_http_twanon_pair_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_twanon_route_text(pool, reply, &text, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    want = wanted->elts;
    n = wanted->nelts;

    members[0].name = *identity_field;

    for (i = 0; i < n; i++) {
        members[i + 1].name = want[i].value;
    }

    rc = ngx_http_twanon_json_members(pool, &text, members, n + 1, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    if (members[0].value.type == NGX_HTTP_TWANON_JSON_NONE) {
        *reason = "no identity";
        return NGX_DECLINED;
    }

    rc = ngx_http_twanon_route_identity(&members[0], re, &route->identities);

    if (rc == NGX_DECLINED) {
        *reason = "invalid identity";
    }

    if (rc != NGX_OK) {
        return rc;
    }

    /* the allowlisted parameters the reply has, in the order of "wanted" */

    for (i = 0; i < n; i++) {

        if (ngx_http_twanon_route_value(&members[i + 1].value, &text)
            != NGX_OK)
        {
            continue;
        }

        param = ngx_array_push(&route->params);
        if (param == NULL) {
            return NGX_ERROR;
        }

        param->key = want[i].key;
        param->value = text;
    }

    return NGX_OK;
}


/* a string, or an array of 1 to 10 strings; each must pass the check */

static ngx_int_t
ngx_http_twanon_route_identity(ngx_http_twanon_json_member_t *member,
    ngx_regex_t *re, ngx_array_t *identities)
{
    ngx_str_t                     *id;
    ngx_uint_t                     i, n;
    ngx_http_twanon_json_value_t  *items;

    if (member->value.type == NGX_HTTP_TWANON_JSON_STRING) {
        items = &member->value;
        n = 1;

    } else if (member->value.type == NGX_HTTP_TWANON_JSON_ARRAY) {
        items = member->items;
        n = member->nitems;

        if (n == 0 || n > NGX_HTTP_TWANON_IDENTITIES_MAX) {
            return NGX_DECLINED;
        }

    } else {
        return NGX_DECLINED;
    }

    for (i = 0; i < n; i++) {

        if (items[i].type != NGX_HTTP_TWANON_JSON_STRING) {
            return NGX_DECLINED;
        }

        if (ngx_http_twanon_identity_valid(re, &items[i].text) != NGX_OK) {
            return NGX_DECLINED;
        }

        id = ngx_array_push(identities);
        if (id == NULL) {
            return NGX_ERROR;
        }

        *id = items[i].text;
    }

    return NGX_OK;
}


/*
 * Strings and numbers become parameter values, strings cut to Twilio's
 * limit at a character boundary; a number past it, which a cut would
 * change, and other types are skipped (NGX_DECLINED).  The value stays
 * in the reply's buffer or the pool, as the route does.
 */

static ngx_int_t
ngx_http_twanon_route_value(ngx_http_twanon_json_value_t *v, ngx_str_t *out)
{
    if (v->type == NGX_HTTP_TWANON_JSON_NUMBER) {

        if (v->text.len > NGX_HTTP_TWANON_PARAM_VALUE_MAX) {
            return NGX_DECLINED;
        }

        *out = v->text;
        return NGX_OK;
    }

    if (v->type != NGX_HTTP_TWANON_JSON_STRING) {
        return NGX_DECLINED;
    }

    *out = v->text;

    if (out->len > NGX_HTTP_TWANON_PARAM_VALUE_MAX) {
        out->len = ngx_http_twanon_utf8_cut(out->data,
                                            NGX_HTTP_TWANON_PARAM_VALUE_MAX);
    }

    return NGX_OK;
}


/*
 * The resolver's reply to a callback: the number to dial, a string in
 * E.164 form, and the caller ID to show, if the reply has one (empty
 * otherwise), in E.164 form too.  NGX_DECLINED, with "reason" set, when
 * the reply cannot place the call; reasons never quote the reply.
 */

ngx_int_t
ngx_http_twanon_route_outgoing(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *number, ngx_str_t *caller_id, const char **reason)
{
    ngx_int_t                       rc;
    ngx_str_t                       text;
    ngx_http_twanon_json_member_t   members[2];

    ngx_str_null(number);
    ngx_str_null(caller_id);

    rc = ngx_http_twanon_route_text(pool, reply, &text, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&members[0].name, "number");
    ngx_str_set(&members[1].name, "callerId");

    rc = ngx_http_twanon_json_members(pool, &text, members, 2, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    if (members[0].value.type == NGX_HTTP_TWANON_JSON_NONE) {
        *reason = "no number";
        return NGX_DECLINED;
    }

    if (members[0].value.type != NGX_HTTP_TWANON_JSON_STRING
        || ngx_http_twanon_e164_valid(&members[0].value.text) != NGX_OK)
    {
        *reason = "invalid number";
        return NGX_DECLINED;
    }

    if (members[1].value.type != NGX_HTTP_TWANON_JSON_NONE
        && (members[1].value.type != NGX_HTTP_TWANON_JSON_STRING
            || ngx_http_twanon_e164_valid(&members[1].value.text) != NGX_OK))
    {
        *reason = "invalid callerId";
        return NGX_DECLINED;
    }

    *number = members[0].value.text;

    if (members[1].value.type == NGX_HTTP_TWANON_JSON_STRING) {
        *caller_id = members[1].value.text;
    }

    return NGX_OK;
}


/*
 * The reply as JSON text: without a UTF-8 byte order mark, which some
 * JSON writers put first, and with stray bytes of invalid UTF-8 repaired,
 * which must not lose a call.  NGX_DECLINED for an empty reply.
 */

static ngx_int_t
ngx_http_twanon_route_text(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *text, const char **reason)
{
    ngx_str_t  body;

    body = *reply;

    if (body.len >= 3 && ngx_memcmp(body.data, "\xef\xbb\xbf", 3) == 0) {
        body.data += 3;
        body.len -= 3;
    }

    if (body.len == 0) {
        *reason = "empty reply";
        return NGX_DECLINED;
    }

    return ngx_http_twanon_utf8_fix(pool, &body, text);
}
