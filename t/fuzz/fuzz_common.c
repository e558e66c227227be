
/*
 * Copyright (C) twanon authors
 */


#include "fuzz_common.h"

#include <libxml/parser.h>
#include <openssl/crypto.h>


ngx_log_t          twanon_fuzz_log;
ngx_pool_t        *twanon_fuzz_conf_pool;

static ngx_open_file_t  twanon_fuzz_log_file;
static ngx_cycle_t      twanon_fuzz_cycle;
static ngx_uint_t       twanon_fuzz_inited;


/*
 * What nginx's main() would have set before a module runs: page and
 * cache line sizes for pools, the time cache for log lines, PCRE's
 * allocator, and a cycle whose log ngx_alloc() reports to.
 */

void
twanon_fuzz_init(void)
{
    if (twanon_fuzz_inited++) {
        return;
    }

    ngx_pagesize = getpagesize();
    for (ngx_pagesize_shift = 0; (ngx_pagesize >> ngx_pagesize_shift) > 1;
         ngx_pagesize_shift++)
    {
        /* void */
    }

    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    ngx_time_init();

    twanon_fuzz_log_file.fd = ngx_stderr;
    twanon_fuzz_log.file = &twanon_fuzz_log_file;
    twanon_fuzz_log.log_level = NGX_LOG_EMERG;

    twanon_fuzz_cycle.log = &twanon_fuzz_log;
    ngx_cycle = &twanon_fuzz_cycle;

    ngx_regex_init();

    xmlInitParser();
    OPENSSL_init_crypto(0, NULL);

    /* what configuration would allocate: lives as long as the process */

    twanon_fuzz_conf_pool = ngx_create_pool(NGX_CYCLE_POOL_SIZE,
                                            &twanon_fuzz_log);
    if (twanon_fuzz_conf_pool == NULL) {
        abort();
    }
}


ngx_pool_t *
twanon_fuzz_pool(void)
{
    ngx_pool_t  *pool;

    pool = ngx_create_pool(1024, &twanon_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    return pool;
}


void
twanon_fuzz_pool_done(ngx_pool_t *pool)
{
    ngx_destroy_pool(pool);
}


ngx_regex_t *
twanon_fuzz_regex(const char *pattern)
{
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t  rc;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern.data = (u_char *) pattern;
    rc.pattern.len = ngx_strlen(pattern);
    rc.pool = twanon_fuzz_conf_pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        fprintf(stderr, "twanon fuzz: %.*s\n", (int) rc.err.len, errstr);
        abort();
    }

    return rc.regex;
}


u_char
twanon_fuzz_byte(twanon_fuzz_in_t *in)
{
    if (in->pos == in->last) {
        return 0;
    }

    return *in->pos++;
}


ngx_uint_t
twanon_fuzz_more(twanon_fuzz_in_t *in)
{
    return in->pos < in->last;
}


static void
twanon_fuzz_free(void *data)
{
    free(data);
}


/* an exact-size heap copy that the pool frees */

u_char *
twanon_fuzz_copy(ngx_pool_t *pool, const u_char *data, size_t len)
{
    u_char              *p;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        abort();
    }

    /* AddressSanitizer's malloc(0) is a valid pointer to no bytes */

    p = malloc(len);
    if (p == NULL && len) {
        abort();
    }

    if (data && len) {
        memcpy(p, data, len);
    }

    cln->handler = twanon_fuzz_free;
    cln->data = p;

    return p;
}


/*
 * The next field: up to a 0xff, which ends it; 0xfe escapes a 0xfe or a
 * 0xff that follows it, and is itself before any other byte.
 */

void
twanon_fuzz_field(ngx_pool_t *pool, twanon_fuzz_in_t *in, ngx_str_t *out)
{
    u_char        *dst;
    size_t         len;
    ngx_uint_t     copy;
    const u_char  *p;

    len = 0;
    dst = NULL;

    for (copy = 0; copy < 2; copy++) {

        for (p = in->pos; p < in->last; p++) {

            if (*p == TWANON_FUZZ_SEP) {
                break;
            }

            if (*p == TWANON_FUZZ_ESC && p + 1 < in->last
                && (p[1] == TWANON_FUZZ_ESC || p[1] == TWANON_FUZZ_SEP))
            {
                p++;
            }

            if (copy) {
                *dst++ = *p;

            } else {
                len++;
            }
        }

        if (copy == 0) {
            out->len = len;
            out->data = dst = twanon_fuzz_copy(pool, NULL, len);
        }
    }

    /* past the separator */

    in->pos = (p < in->last) ? p + 1 : p;
}


/* all that is left, as it is */

void
twanon_fuzz_rest(ngx_pool_t *pool, twanon_fuzz_in_t *in, ngx_str_t *out)
{
    out->len = in->last - in->pos;
    out->data = twanon_fuzz_copy(pool, in->pos, out->len);
    in->pos = in->last;
}


/*
 * An independent strict UTF-8 decoder for the invariants (RFC 3629):
 * the length of the sequence at p, 0 if it is not valid.
 */

size_t
twanon_fuzz_utf8_decode(const u_char *p, size_t len, uint32_t *cp)
{
    size_t    n, i;
    uint32_t  c;

    if (len == 0) {
        return 0;
    }

    c = p[0];

    if (c < 0x80) {
        *cp = c;
        return 1;

    } else if ((c & 0xe0) == 0xc0) {
        n = 2; c &= 0x1f;

    } else if ((c & 0xf0) == 0xe0) {
        n = 3; c &= 0x0f;

    } else if ((c & 0xf8) == 0xf0) {
        n = 4; c &= 0x07;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800)
        || (n == 4 && c < 0x10000) || c > 0x10ffff
        || (c >= 0xd800 && c <= 0xdfff))
    {
        return 0;
    }

    *cp = c;

    return n;
}


ngx_uint_t
twanon_fuzz_utf8_valid(const u_char *p, size_t len)
{
    size_t    n;
    uint32_t  cp;

    while (len) {
        n = twanon_fuzz_utf8_decode(p, len, &cp);
        if (n == 0) {
            return 0;
        }

        p += n;
        len -= n;
    }

    return 1;
}


/*
 * The reference for the default identity pattern, ^[A-Za-z0-9_]{1,121}$,
 * written without a regex.
 */

ngx_uint_t
twanon_fuzz_identity_ok(ngx_str_t *id)
{
    size_t  i;
    u_char  c;

    if (id->len < 1 || id->len > 121) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}
