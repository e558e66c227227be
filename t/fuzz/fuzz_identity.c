
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_identity_valid() with the default pattern, alone or
 * behind /token's own path: the query string through form_parse() and
 * form_get("identity"); and ngx_http_twanon_customer_id_valid(), the
 * customer ID of a masked callback.
 *
 * Input: one options byte (bit 1: the rest is a customer ID; else bit
 * 0: the rest is a query string, else the identity itself), then the
 * rest.
 *
 * Invariants: an identity is accepted exactly when it is 1 to 121 of
 * [A-Za-z0-9_]; in particular no "$" before a final newline, no NUL.
 * A customer ID is accepted exactly when it is 1 to 64 of
 * [A-Za-z0-9_.:-]; no NUL either.
 */


#include "fuzz_common.h"


static ngx_regex_t  *re;


/* the customer ID check, written again byte by byte */

static ngx_uint_t
customer_ok(ngx_str_t *id)
{
    size_t  i;
    u_char  c;

    if (id->len < 1 || id->len > 64) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.'
              || c == ':' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    twanon_fuzz_init();

    re = twanon_fuzz_regex("^[A-Za-z0-9_]{1,121}$");

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t          rc;
    ngx_str_t          rest, identity, name;
    ngx_uint_t         opts;
    ngx_pool_t        *pool;
    ngx_array_t        pairs;
    twanon_fuzz_in_t   in;

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    opts = twanon_fuzz_byte(&in);

    twanon_fuzz_rest(pool, &in, &rest);

    if (opts & 2) {
        rc = ngx_http_twanon_customer_id_valid(&rest);

        twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);
        twanon_fuzz_assert((rc == NGX_OK) == customer_ok(&rest));

        goto done;
    }

    if (opts & 1) {
        /* /token?identity=... */

        if (ngx_array_init(&pairs, pool, 8, sizeof(ngx_http_twanon_pair_t))
            != NGX_OK)
        {
            abort();
        }

        rc = ngx_http_twanon_form_parse(pool, &rest, &pairs, 64);
        twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

        if (rc != NGX_OK) {
            goto done;
        }

        ngx_str_set(&name, "identity");

        if (ngx_http_twanon_form_get(&pairs, &name, &identity) != NGX_OK) {
            goto done;
        }

        /* an exact copy, for AddressSanitizer's bounds */

        identity.data = twanon_fuzz_copy(pool, identity.data, identity.len);

    } else {
        identity = rest;
    }

    rc = ngx_http_twanon_identity_valid(re, &identity);

    twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);
    twanon_fuzz_assert((rc == NGX_OK) == twanon_fuzz_identity_ok(&identity));

done:

    twanon_fuzz_pool_done(pool);

    return 0;
}
