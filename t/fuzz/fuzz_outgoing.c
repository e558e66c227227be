
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_route_outgoing() and ngx_http_twanon_e164_valid(): the
 * resolver's reply to a callback, and the number check.
 *
 * Input: the reply, as it is.
 *
 * Invariants: NGX_ERROR never (it means no memory); NGX_DECLINED has a
 * reason and no number; NGX_OK gives a number that an independent check
 * finds in E.164 form ("+", 7 to 15 digits, the first not 0), and a
 * caller ID that is empty or in E.164 form too; the E.164 check of the
 * whole input agrees with the independent one.
 */


#include "fuzz_common.h"


static ngx_uint_t
e164(ngx_str_t *s)
{
    size_t  i;

    if (s->len < 8 || s->len > 16 || s->data[0] != '+') {
        return 0;
    }

    for (i = 1; i < s->len; i++) {
        if (s->data[i] < '0' || s->data[i] > '9') {
            return 0;
        }
    }

    return s->data[1] != '0';
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    twanon_fuzz_init();
    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t          rc;
    ngx_str_t          reply, number, caller_id;
    ngx_pool_t        *pool;
    const char        *reason;
    twanon_fuzz_in_t   in;

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    twanon_fuzz_rest(pool, &in, &reply);

    twanon_fuzz_assert((ngx_http_twanon_e164_valid(&reply) == NGX_OK)
                       == e164(&reply));

    reason = NULL;

    rc = ngx_http_twanon_route_outgoing(pool, &reply, &number, &caller_id,
                                        &reason);

    twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (rc == NGX_DECLINED) {
        twanon_fuzz_assert(reason != NULL && number.len == 0);

    } else {
        twanon_fuzz_assert(e164(&number));
        twanon_fuzz_assert(caller_id.len == 0 || e164(&caller_id));
    }

    twanon_fuzz_pool_done(pool);

    return 0;
}
