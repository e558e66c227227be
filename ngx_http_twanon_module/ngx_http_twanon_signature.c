
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "ngx_http_twanon_lib.h"


/* base64 of a SHA-1 digest */
#define NGX_HTTP_TWANON_SIGNATURE_LEN  28

/* pairs sorted by insertion before the runs are merged */
#define NGX_HTTP_TWANON_SORT_RUN       8


static ngx_http_twanon_pair_t *ngx_http_twanon_pairs_sort(ngx_pool_t *pool,
    ngx_array_t *pairs);
static ngx_int_t ngx_http_twanon_pair_cmp(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b);
static ngx_uint_t ngx_http_twanon_utf16_units(u_char **p, u_char *last,
    uint32_t *units);
static ngx_int_t ngx_http_twanon_url_variants(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *variants);
static ngx_int_t ngx_http_twanon_hmac_start(ngx_http_twanon_hmac_t *h,
    ngx_str_t *key);
static void ngx_http_twanon_hmac_cleanup(void *data);


/*
 * Twilio's canonical string for a form-encoded webhook: the parameters
 * sorted by name, each written as name and value with nothing between;
 * a name given several times contributes each distinct value once, in
 * sorted order, as Twilio's helper libraries do.  Strings compare as
 * JavaScript and Java compare them, by UTF-16 code units.
 */

ngx_int_t
ngx_http_twanon_signature_params(ngx_pool_t *pool, ngx_array_t *pairs,
    ngx_str_t *out)
{
    u_char                  *p;
    size_t                   len;
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *sorted, *prev;

    len = 0;

    sorted = ngx_http_twanon_pairs_sort(pool, pairs);
    if (sorted == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < pairs->nelts; i++) {
        len += sorted[i].key.len + sorted[i].value.len;
    }

    out->data = ngx_pnalloc(pool, len ? len : 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    prev = NULL;

    for (i = 0; i < pairs->nelts; i++) {

        if (prev && ngx_http_twanon_pair_cmp(prev, &sorted[i]) == 0) {
            continue;
        }

        p = ngx_cpymem(p, sorted[i].key.data, sorted[i].key.len);
        p = ngx_cpymem(p, sorted[i].value.data, sorted[i].value.len);

        prev = &sorted[i];
    }

    out->len = p - out->data;

    return NGX_OK;
}


/*
 * Checks "signature" (the X-Twilio-Signature header) against
 * base64(HMAC-SHA1(token, url + params)) for each token and for the URL
 * with and without its port, in constant time per comparison.
 * NGX_OK: valid; NGX_DECLINED: not valid.
 */

ngx_int_t
ngx_http_twanon_signature_check(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *params, ngx_str_t *tokens, ngx_http_twanon_hmac_t *macs,
    ngx_uint_t ntokens, ngx_str_t *signature)
{
    size_t       md_len;
    ngx_int_t    rc;
    ngx_str_t    variants[2], md, b64;
    ngx_uint_t   i, k, n;
    u_char       digest[EVP_MAX_MD_SIZE];
    u_char         expected[NGX_HTTP_TWANON_SIGNATURE_LEN];

    if (signature->len != NGX_HTTP_TWANON_SIGNATURE_LEN) {
        return NGX_DECLINED;
    }

    rc = ngx_http_twanon_url_variants(pool, url, variants);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    n = (rc == NGX_OK) ? 2 : 1;

    if (rc != NGX_OK) {
        variants[0] = *url;
    }

    for (i = 0; i < n; i++) {
        for (k = 0; k < ntokens; k++) {

            /* the URL and the parameters, without joining them first */

            if (ngx_http_twanon_hmac_start(&macs[k], &tokens[k]) != NGX_OK
                || !EVP_MAC_update(macs[k].ctx, variants[i].data,
                                   variants[i].len)
                || !EVP_MAC_update(macs[k].ctx, params->data, params->len)
                || !EVP_MAC_final(macs[k].ctx, digest, &md_len,
                                  EVP_MAX_MD_SIZE))
            {
                return NGX_ERROR;
            }

            md.data = digest;
            md.len = md_len;
            b64.data = expected;

            ngx_encode_base64(&b64, &md);

            if (b64.len == signature->len
                && CRYPTO_memcmp(expected, signature->data, b64.len) == 0)
            {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


/*
 * The pairs sorted by name, then value, into a copy: runs of
 * NGX_HTTP_TWANON_SORT_RUN pairs by insertion, then merged bottom-up,
 * O(n log n) comparisons whatever the order of the pairs (a body of keys
 * sharing a long prefix, in reverse order, made ngx_sort(), an insertion
 * sort, compare each prefix n^2 / 2 times).  Two runs already in order
 * are left as they are, so that a body in order, as Twilio's usually is,
 * costs n comparisons and no copy.  Not ngx_qsort(): qsort() is a merge
 * sort in glibc, but a quicksort with a quadratic worst case in other C
 * libraries.  Two pairs compare equal only when their bytes are, so
 * stability does not matter: equal pairs are the same bytes.
 */

static ngx_http_twanon_pair_t *
ngx_http_twanon_pairs_sort(ngx_pool_t *pool, ngx_array_t *pairs)
{
    ngx_uint_t               n, width, lo, mid, hi, i, j, k;
    ngx_http_twanon_pair_t  *a, *tmp, pair;

    n = pairs->nelts;

    a = ngx_palloc(pool, (n ? n : 1) * sizeof(ngx_http_twanon_pair_t));
    if (a == NULL) {
        return NULL;
    }

    if (n) {
        ngx_memcpy(a, pairs->elts, n * sizeof(ngx_http_twanon_pair_t));
    }

    for (lo = 0; lo < n; lo += NGX_HTTP_TWANON_SORT_RUN) {
        hi = ngx_min(lo + NGX_HTTP_TWANON_SORT_RUN, n);

        for (i = lo + 1; i < hi; i++) {
            pair = a[i];

            for (j = i;
                 j > lo && ngx_http_twanon_pair_cmp(&a[j - 1], &pair) > 0;
                 j--)
            {
                a[j] = a[j - 1];
            }

            a[j] = pair;
        }
    }

    tmp = NULL;

    for (width = NGX_HTTP_TWANON_SORT_RUN; width < n; width *= 2) {

        for (lo = 0; lo + width < n; lo += 2 * width) {
            mid = lo + width;
            hi = ngx_min(mid + width, n);

            if (ngx_http_twanon_pair_cmp(&a[mid - 1], &a[mid]) <= 0) {
                continue;
            }

            if (tmp == NULL) {
                tmp = ngx_palloc(pool, n * sizeof(ngx_http_twanon_pair_t));
                if (tmp == NULL) {
                    return NULL;
                }
            }

            /* the left run aside; the merge never overtakes the right one */

            ngx_memcpy(tmp, &a[lo], width * sizeof(ngx_http_twanon_pair_t));

            i = 0;
            j = mid;
            k = lo;

            while (i < width && j < hi) {
                if (ngx_http_twanon_pair_cmp(&a[j], &tmp[i]) < 0) {
                    a[k++] = a[j++];

                } else {
                    a[k++] = tmp[i++];
                }
            }

            while (i < width) {
                a[k++] = tmp[i++];
            }
        }
    }

    return a;
}


static ngx_int_t
ngx_http_twanon_pair_cmp(ngx_http_twanon_pair_t *a, ngx_http_twanon_pair_t *b)
{
    ngx_int_t  rc;

    rc = ngx_http_twanon_utf16_cmp(&a->key, &b->key);

    if (rc != 0) {
        return rc;
    }

    return ngx_http_twanon_utf16_cmp(&a->value, &b->value);
}


/*
 * Twilio's helpers sort strings as JavaScript and Java do, by UTF-16 code
 * units.  Here a string is read as a sequence of units: a valid UTF-8
 * character gives its UTF-16 code units (0x0000-0xffff; above U+FFFF, a
 * surrogate pair), and each byte that does not start a valid character
 * (ngx_http_twanon_utf8_next(): stray, overlong, surrogate, truncated)
 * gives one unit of its own, 0x10000 plus the byte, above every UTF-16
 * unit.  Sequences compare unit by unit, a proper prefix first.  The
 * reading is one-to-one, so this is a strict total order: two strings
 * compare equal only when their bytes are equal, and a sort of them does
 * not depend on their first order.  For valid UTF-8 it is Twilio's.
 *
 * Only what follows the first differing byte needs decoding: a byte that
 * is not a continuation byte (10xxxxxx) starts a unit in both strings,
 * and the units before it read only the common bytes.  A character holds
 * at most 3 continuation bytes; after 3 of them, the differing byte
 * itself starts a unit.
 */

ngx_int_t
ngx_http_twanon_utf16_cmp(ngx_str_t *a, ngx_str_t *b)
{
    u_char      *pa, *pb;
    size_t       i, k, n, start;
    uint32_t     ua[2], ub[2];
    uint64_t     wa, wb;
    ngx_uint_t   na, nb, ia, ib;

    n = ngx_min(a->len, b->len);

    /* the common prefix, 8 bytes at a time while it lasts */

    for (i = 0; i + 8 <= n; i += 8) {
        ngx_memcpy(&wa, a->data + i, 8);
        ngx_memcpy(&wb, b->data + i, 8);

        if (wa != wb) {
            break;
        }
    }

    for ( /* void */ ; i < n && a->data[i] == b->data[i]; i++) { /* void */ }

    if (i == a->len && i == b->len) {
        return 0;
    }

    if (i < n) {
        if (a->data[i] < 0x80 && b->data[i] < 0x80) {
            return (a->data[i] < b->data[i]) ? -1 : 1;
        }

    } else if (((i == a->len ? b->data[i] : a->data[i]) & 0xc0) != 0x80) {

        /*
         * A proper prefix, followed by a byte that starts a unit: every
         * unit of the prefix is read from the same bytes in both, and
         * comes first.
         */

        return (i == a->len) ? -1 : 1;
    }

    start = i;

    for (k = 1; k <= 3 && k <= i; k++) {
        if ((a->data[i - k] & 0xc0) != 0x80) {
            start = i - k;
            break;
        }
    }

    pa = a->data + start;
    pb = b->data + start;

    na = 0;
    nb = 0;
    ia = 0;
    ib = 0;

    for ( ;; ) {

        if (ia == na) {
            na = ngx_http_twanon_utf16_units(&pa, a->data + a->len, ua);
            ia = 0;
        }

        if (ib == nb) {
            nb = ngx_http_twanon_utf16_units(&pb, b->data + b->len, ub);
            ib = 0;
        }

        if (na == 0 || nb == 0) {
            return (na != 0) - (nb != 0);
        }

        if (ua[ia] != ub[ib]) {
            return (ua[ia] < ub[ib]) ? -1 : 1;
        }

        ia++;
        ib++;
    }
}


/* the units of the next character or invalid byte at *p; 0 at the end */

static ngx_uint_t
ngx_http_twanon_utf16_units(u_char **p, u_char *last, uint32_t *units)
{
    u_char    *s;
    uint32_t   u;

    if (*p == last) {
        return 0;
    }

    s = *p;

    u = ngx_http_twanon_utf8_next(p, last);

    if (u == NGX_HTTP_TWANON_UTF8_INVALID) {
        units[0] = 0x10000 + *s;
        return 1;
    }

    if (u >= 0x10000) {
        units[0] = 0xd800 + ((u - 0x10000) >> 10);
        units[1] = 0xdc00 + ((u - 0x10000) & 0x3ff);
        return 2;
    }

    units[0] = u;

    return 1;
}


/*
 * "scheme://[user@]host[:port]/rest" written with its port (the scheme's
 * standard port when it had none) and without it.  NGX_DECLINED when the
 * URL has no recognisable authority.
 */

static ngx_int_t
ngx_http_twanon_url_variants(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *variants)
{
    u_char     *p, *last, *host, *port, *end, *auth;
    size_t      len;
    ngx_str_t   standard;

    last = url->data + url->len;

    p = ngx_strlcasestrn(url->data, last, (u_char *) "://", 3 - 1);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    if (p - url->data == 5
        && ngx_strncasecmp(url->data, (u_char *) "https", 5) == 0)
    {
        ngx_str_set(&standard, ":443");

    } else {
        ngx_str_set(&standard, ":80");
    }

    auth = p + 3;

    for (end = auth; end < last; end++) {
        if (*end == '/' || *end == '?' || *end == '#') {
            break;
        }
    }

    host = auth;

    for (p = auth; p < end; p++) {
        if (*p == '@') {
            host = p + 1;
        }
    }

    port = NULL;

    for (p = end; p > host; p--) {
        if (p[-1] == ']') {
            break;
        }

        if (p[-1] == ':') {
            port = p - 1;
            break;
        }
    }

    if (host == end || port == host) {
        return NGX_DECLINED;
    }

    if (port) {
        /* with: the URL itself; without: drop ":port" */

        variants[0] = *url;

        len = url->len - (end - port);

        variants[1].data = ngx_pnalloc(pool, len);
        if (variants[1].data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(variants[1].data, url->data, port - url->data);
        ngx_memcpy(p, end, last - end);
        variants[1].len = len;

        return NGX_OK;
    }

    /* the URL itself first: the variant Twilio usually signs */

    variants[0] = *url;

    len = url->len + standard.len;

    variants[1].data = ngx_pnalloc(pool, len);
    if (variants[1].data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(variants[1].data, url->data, end - url->data);
    p = ngx_cpymem(p, standard.data, standard.len);
    ngx_memcpy(p, end, last - end);
    variants[1].len = len;

    return NGX_OK;
}


/*
 * A kept HMAC context for "digest", made when the configuration loads and
 * freed with "pool".  NGX_ERROR leaves OpenSSL's error queue for the
 * caller to log with ngx_ssl_error().
 */

ngx_int_t
ngx_http_twanon_hmac_init(ngx_http_twanon_hmac_t *h, ngx_pool_t *pool,
    const char *digest)
{
    EVP_MAC             *mac;
    OSSL_PARAM           params[2];
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(h, sizeof(ngx_http_twanon_hmac_t));

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (mac == NULL) {
        return NGX_ERROR;
    }

    h->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);

    if (h->ctx == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_twanon_hmac_cleanup;
    cln->data = h;

    h->digest = digest;

    /* an unknown or forbidden digest (FIPS) fails here, not per request */

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) digest, 0);
    params[1] = OSSL_PARAM_construct_end();

    if (!EVP_MAC_CTX_set_params(h->ctx, params)) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * HMAC of "data" under "key": OpenSSL 3's one-shot HMAC() fetches the
 * algorithm and builds a context on every call, which costs more than
 * hashing a webhook; the kept context is only reset (EVP_MAC_init()
 * without a key reuses the key it holds).
 */

ngx_int_t
ngx_http_twanon_hmac(ngx_http_twanon_hmac_t *h, ngx_str_t *key, u_char *data,
    size_t len, u_char *md, size_t *md_len)
{
    if (ngx_http_twanon_hmac_start(h, key) != NGX_OK
        || !EVP_MAC_update(h->ctx, data, len)
        || !EVP_MAC_final(h->ctx, md, md_len, EVP_MAX_MD_SIZE))
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The kept context, ready for EVP_MAC_update() under "key": reset when
 * the key is the one it holds, rekeyed when a variable's value changed.
 */

static ngx_int_t
ngx_http_twanon_hmac_start(ngx_http_twanon_hmac_t *h, ngx_str_t *key)
{
    if (h->ctx == NULL) {
        /* ngx_http_twanon_hmac_init() was not called: a bug of ours */
        return NGX_ERROR;
    }

    if (h->key.data != NULL
        && h->key.len == key->len
        && ngx_memcmp(h->key.data, key->data, key->len) == 0)
    {
        if (!EVP_MAC_init(h->ctx, NULL, 0, NULL)) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    OPENSSL_clear_free(h->key.data, h->key.len);
    ngx_str_null(&h->key);

    /* a NULL key would mean "the key you hold" to EVP_MAC_init() */

    if (!EVP_MAC_init(h->ctx, key->data ? key->data : (u_char *) "",
                      key->len, NULL))
    {
        return NGX_ERROR;
    }

    h->key.data = OPENSSL_malloc(key->len ? key->len : 1);
    if (h->key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(h->key.data, key->data, key->len);
    h->key.len = key->len;

    return NGX_OK;
}


static void
ngx_http_twanon_hmac_cleanup(void *data)
{
    ngx_http_twanon_hmac_t  *h = data;

    EVP_MAC_CTX_free(h->ctx);
    OPENSSL_clear_free(h->key.data, h->key.len);

    h->ctx = NULL;
    ngx_str_null(&h->key);
}


/* hex HMAC-SHA256: stable for a key, not reversible without it */

ngx_int_t
ngx_http_twanon_hmac_hex(ngx_pool_t *pool, ngx_http_twanon_hmac_t *h,
    ngx_str_t *key, ngx_str_t *data, ngx_str_t *out)
{
    size_t  md_len;
    u_char  md[EVP_MAX_MD_SIZE];

    if (ngx_http_twanon_hmac(h, key, data->data, data->len, md, &md_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, 2 * md_len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_hex_dump(out->data, md, md_len) - out->data;

    return NGX_OK;
}
