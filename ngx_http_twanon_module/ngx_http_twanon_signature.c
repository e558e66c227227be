
/*
 * Copyright (C) twanon authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_twanon_lib.h"


/* base64 of the longest digest */
#define NGX_HTTP_TWANON_SIGNATURE_MAX  ngx_base64_encoded_length(EVP_MAX_MD_SIZE)

/* pairs sorted by insertion before the runs are merged */
#define NGX_HTTP_TWANON_SORT_RUN       8


typedef ngx_int_t (*ngx_http_twanon_pair_cmp_pt)(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b);


static ngx_http_twanon_pair_t *ngx_http_twanon_pairs_sort(ngx_pool_t *pool,
    ngx_array_t *pairs);
static ngx_uint_t ngx_http_twanon_keys_ascii(ngx_http_twanon_pair_t *a,
    ngx_uint_t n);
static ngx_int_t ngx_http_twanon_pair_cmp(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b);
static ngx_int_t ngx_http_twanon_pair_cmp_ascii(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b);
static ngx_int_t ngx_http_twanon_pair_cmp_utf16(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b);
static ngx_int_t ngx_http_twanon_url_variants(ngx_pool_t *pool,
    ngx_str_t *url, ngx_str_t *variants);
static void ngx_http_twanon_signature_trim(u_char *p, u_char *last,
    ngx_str_t *out);


/*
 * Twilio's canonical string: the pairs sorted by name, then value, by
 * UTF-16 code units, each distinct pair once, as Twilio's libraries do.
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

        /*
         * A pair given twice counts once.  The order is a strict total
         * one, so equal pairs are equal bytes: no need to order them again.
         */

        if (prev
            && prev->key.len == sorted[i].key.len
            && prev->value.len == sorted[i].value.len
            && ngx_memcmp(prev->key.data, sorted[i].key.data,
                          prev->key.len) == 0
            && ngx_memcmp(prev->value.data, sorted[i].value.data,
                          prev->value.len) == 0)
        {
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
 * X-Twilio-Signature against each context, for the URL with and without
 * its port, in constant time: NGX_OK, or NGX_DECLINED.
 */

ngx_int_t
ngx_http_twanon_signature_check(ngx_pool_t *pool, ngx_str_t *url,
    ngx_str_t *params, ngx_str_t *tokens, ngx_http_twanon_hmac_t *macs,
    ngx_uint_t ntokens, ngx_str_t *signature)
{
    size_t       md_len;
    u_char       digest[EVP_MAX_MD_SIZE];
    u_char       expected[NGX_HTTP_TWANON_SIGNATURE_MAX];
    ngx_int_t    rc;
    ngx_str_t    variants[2], parts[2], md, b64;
    ngx_uint_t   i, k, n;

    if (signature->len == 0 || signature->len > sizeof(expected)) {
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

    /* the URL and the parameters, without joining them first */

    parts[1] = *params;

    for (i = 0; i < n; i++) {
        parts[0] = variants[i];

        for (k = 0; k < ntokens; k++) {
            if (ngx_http_twanon_hmac_parts(&macs[k], &tokens[k], parts, 2,
                                           digest, &md_len)
                != NGX_OK)
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
 * Pairs in order, as Twilio sends them, are used as they are; others are
 * copied and merge-sorted, O(n log n) whatever the order (ngx_sort() is
 * an insertion sort; qsort() is a quicksort outside glibc).  See
 * docs/security.md, "Bad inputs and what the module answers".
 */

static ngx_http_twanon_pair_t *
ngx_http_twanon_pairs_sort(ngx_pool_t *pool, ngx_array_t *pairs)
{
    ngx_uint_t                    n, width, lo, mid, hi, i, j, k;
    ngx_http_twanon_pair_t       *a, *tmp, pair;
    ngx_http_twanon_pair_cmp_pt   cmp;

    n = pairs->nelts;
    a = pairs->elts;

    /* Twilio sends its fields in order: then there is nothing to sort */

    for (i = 1; i < n; i++) {
        if (ngx_http_twanon_pair_cmp(&a[i - 1], &a[i]) > 0) {
            break;
        }
    }

    if (i >= n) {
        return a;
    }

    a = ngx_palloc(pool, n * sizeof(ngx_http_twanon_pair_t));
    if (a == NULL) {
        return NULL;
    }

    ngx_memcpy(a, pairs->elts, n * sizeof(ngx_http_twanon_pair_t));

    cmp = ngx_http_twanon_keys_ascii(a, n) ? ngx_http_twanon_pair_cmp_ascii
                                           : ngx_http_twanon_pair_cmp_utf16;

    for (lo = 0; lo < n; lo += NGX_HTTP_TWANON_SORT_RUN) {
        hi = ngx_min(lo + NGX_HTTP_TWANON_SORT_RUN, n);

        for (i = lo + 1; i < hi; i++) {
            pair = a[i];

            for (j = i;
                 j > lo && cmp(&a[j - 1], &pair) > 0;
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

            if (cmp(&a[mid - 1], &a[mid]) <= 0) {
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
                if (cmp(&a[j], &tmp[i]) < 0) {
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


static ngx_uint_t
ngx_http_twanon_keys_ascii(ngx_http_twanon_pair_t *a, ngx_uint_t n)
{
    u_char      *p, *last;
    uint64_t     w, bits;
    ngx_uint_t   i;

    bits = 0;

    for (i = 0; i < n; i++) {
        p = a[i].key.data;
        last = p + a[i].key.len;

        for ( /* void */ ; last - p >= 8; p += 8) {
            ngx_memcpy(&w, p, 8);
            bits |= w;
        }

        while (p < last) {
            bits |= *p++;
        }
    }

    return (bits & 0x8080808080808080) == 0;
}


static ngx_int_t
ngx_http_twanon_pair_cmp(ngx_http_twanon_pair_t *a, ngx_http_twanon_pair_t *b)
{
    size_t      i, n;
    ngx_int_t   rc;

    /*
     * Names in ASCII, as Twilio's are, compare without decoding: over an
     * ASCII prefix, the first differing ASCII byte decides, and a name
     * that is a proper prefix of the other comes first.
     */

    n = ngx_min(a->key.len, b->key.len);

    for (i = 0; i < n && a->key.data[i] == b->key.data[i]
                && a->key.data[i] < 0x80; i++)
    {
        /* void */
    }

    if (i < n) {
        if (a->key.data[i] < 0x80 && b->key.data[i] < 0x80) {
            return (a->key.data[i] < b->key.data[i]) ? -1 : 1;
        }

    } else if (a->key.len != b->key.len) {
        return (a->key.len < b->key.len) ? -1 : 1;
    }

    rc = (i == n) ? 0 : ngx_http_twanon_utf16_cmp(&a->key, &b->key);

    if (rc != 0) {
        return rc;
    }

    return ngx_http_twanon_utf16_cmp(&a->value, &b->value);
}


/*
 * The sort's comparisons read a shared prefix as fast as they can: with
 * memcmp() when all names are ASCII (byte order is UTF-16 order then),
 * 8 bytes at a time otherwise.
 */

static ngx_int_t
ngx_http_twanon_pair_cmp_ascii(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b)
{
    ngx_int_t  rc;

    rc = ngx_memcmp(a->key.data, b->key.data,
                    ngx_min(a->key.len, b->key.len));

    if (rc != 0) {
        return rc;
    }

    if (a->key.len != b->key.len) {
        return (a->key.len < b->key.len) ? -1 : 1;
    }

    return ngx_http_twanon_utf16_cmp(&a->value, &b->value);
}


static ngx_int_t
ngx_http_twanon_pair_cmp_utf16(ngx_http_twanon_pair_t *a,
    ngx_http_twanon_pair_t *b)
{
    ngx_int_t  rc;

    rc = ngx_http_twanon_utf16_cmp(&a->key, &b->key);

    if (rc != 0) {
        return rc;
    }

    return ngx_http_twanon_utf16_cmp(&a->value, &b->value);
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
 * X-Twilio-Webhooks-Signature-Settings, "key=<id>,algorithm=<name>", read
 * as Twilio's libraries read it (docs/webhook.md, "Shared keys").
 */

ngx_int_t
ngx_http_twanon_signature_settings(ngx_str_t *header, ngx_str_t *key,
    ngx_str_t *algorithm)
{
    u_char     *p, *last, *end, *eq;
    ngx_str_t   name, value, *to;

    key->len = 0;
    algorithm->len = 0;
    key->data = NULL;
    algorithm->data = NULL;

    p = header->data;
    last = header->data + header->len;

    while (p < last) {
        end = ngx_strlchr(p, last, ',');
        if (end == NULL) {
            end = last;
        }

        eq = ngx_strlchr(p, end, '=');

        if (eq != NULL) {
            ngx_http_twanon_signature_trim(p, eq, &name);
            ngx_http_twanon_signature_trim(eq + 1, end, &value);

            to = NULL;

            if (name.len == 3 && ngx_strncmp(name.data, "key", 3) == 0) {
                to = key;

            } else if (name.len == 9
                       && ngx_strncmp(name.data, "algorithm", 9) == 0)
            {
                to = algorithm;
            }

            if (to != NULL) {
                if (to->data != NULL) {
                    return NGX_DECLINED;
                }

                *to = value;
            }
        }

        if (end == last) {
            break;
        }

        p = end + 1;
    }

    if (key->len == 0) {
        return NGX_DECLINED;
    }

    if (algorithm->len == 0) {
        ngx_str_set(algorithm, "HMAC_SHA1");
    }

    return NGX_OK;
}


/* the digest for a signature algorithm's name, any case, or NULL */

const char *
ngx_http_twanon_signature_digest(ngx_str_t *algorithm)
{
    if (algorithm->len == 9
        && ngx_strncasecmp(algorithm->data, (u_char *) "HMAC_SHA1", 9) == 0)
    {
        return "SHA1";
    }

    if (algorithm->len == 11
        && ngx_strncasecmp(algorithm->data, (u_char *) "HMAC_SHA256", 11)
           == 0)
    {
        return "SHA256";
    }

    return NULL;
}


static void
ngx_http_twanon_signature_trim(u_char *p, u_char *last, ngx_str_t *out)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    out->data = p;
    out->len = last - p;
}
