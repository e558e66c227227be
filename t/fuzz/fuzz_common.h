
/*
 * Copyright (C) twanon authors
 */


/*
 * Shared by the libFuzzer targets over the pure layer: nginx's globals
 * set up once, a pool per input, and a reader that cuts an input into
 * fields.
 *
 * Input layout: options bytes taken with twanon_fuzz_byte(), then
 * fields, each ended by a 0xff byte (or the end of the input); inside a
 * field, 0xfe before a 0xfe or a 0xff stands for that byte, and is
 * itself before any other byte.  Every field is copied into a malloc()ed buffer
 * of exactly its length, so that AddressSanitizer catches a read one
 * byte past it.
 */


#ifndef _TWANON_FUZZ_COMMON_H_INCLUDED_
#define _TWANON_FUZZ_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdio.h>
#include <stdlib.h>

#include "ngx_http_twanon_lib.h"


#define TWANON_FUZZ_SEP  0xff
#define TWANON_FUZZ_ESC  0xfe

/* a broken invariant: print it and abort(), which libFuzzer reports */
#define twanon_fuzz_assert(cond)                                            \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "twanon fuzz: invariant failed: %s (%s:%d)\n",  \
                    #cond, __FILE__, __LINE__);                             \
            abort();                                                        \
        }                                                                   \
    } while (0)


typedef struct {
    const u_char   *pos;
    const u_char   *last;
} twanon_fuzz_in_t;


extern ngx_log_t   twanon_fuzz_log;
extern ngx_pool_t *twanon_fuzz_conf_pool;


void twanon_fuzz_init(void);
ngx_pool_t *twanon_fuzz_pool(void);
void twanon_fuzz_pool_done(ngx_pool_t *pool);
ngx_regex_t *twanon_fuzz_regex(const char *pattern);

u_char twanon_fuzz_byte(twanon_fuzz_in_t *in);
ngx_uint_t twanon_fuzz_more(twanon_fuzz_in_t *in);
void twanon_fuzz_field(ngx_pool_t *pool, twanon_fuzz_in_t *in,
    ngx_str_t *out);
void twanon_fuzz_rest(ngx_pool_t *pool, twanon_fuzz_in_t *in,
    ngx_str_t *out);
u_char *twanon_fuzz_copy(ngx_pool_t *pool, const u_char *data, size_t len);

ngx_uint_t twanon_fuzz_utf8_valid(const u_char *p, size_t len);
size_t twanon_fuzz_utf8_decode(const u_char *p, size_t len, uint32_t *cp);

ngx_uint_t twanon_fuzz_identity_ok(ngx_str_t *id);

/* what jansson read for a wanted parameter */
#define TWANON_FUZZ_REF_NONE     0   /* absent, another type, or huge */
#define TWANON_FUZZ_REF_STRING   1
#define TWANON_FUZZ_REF_INTEGER  2
#define TWANON_FUZZ_REF_REAL     3

typedef struct {
    ngx_uint_t      kind;
    int64_t         integer;
    double          real;
} twanon_fuzz_ref_value_t;


/* fuzz_jansson_route.c */
ngx_int_t twanon_fuzz_route_jansson(ngx_pool_t *pool, ngx_str_t *reply,
    ngx_str_t *identity_field, ngx_array_t *wanted, ngx_regex_t *re,
    ngx_http_twanon_route_t *route, twanon_fuzz_ref_value_t *values,
    const char **reason);
ngx_int_t twanon_fuzz_json_huge(ngx_pool_t *pool, u_char *p, size_t len);


#endif /* _TWANON_FUZZ_COMMON_H_INCLUDED_ */
