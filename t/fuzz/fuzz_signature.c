
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_signature_params() and ngx_http_twanon_signature_check().
 *
 * Input: two options bytes, then fields (see fuzz_common.h):
 *   o1 bits 0-1: 1 to 3 auth tokens; bit 2: the signature is computed
 *   here (HMAC-SHA1 over one URL variant), else read from a field;
 *   bit 3: one character of it is then changed; bit 4: the parameters
 *   come from a form body (the rest of the input, through form_parse()),
 *   else from fields taken as key, value, key, value...; bit 5: the URL
 *   is built from fields (scheme, host, port, path) so that its variant
 *   with and without the port is known here, else one raw field;
 *   bit 6: the tokens are shared keys under HMAC-SHA256, else
 *   HMAC-SHA1; bit 7: the first field, before all these, is also read
 *   as X-Twilio-Webhooks-Signature-Settings;
 *   o2: bit 0 https, bit 1 "HTTPS", bits 2-3 no port / digits / empty
 *   port, bit 4 sign the variant without the port, bits 5-6 which token.
 *
 * Invariants: the canonical string is what a reference writes (sorted
 * by UTF-16 code units as Twilio's JavaScript and Java helpers sort,
 * each byte that does not start a valid UTF-8 character as one unit
 * 0x10000 + the byte, duplicates once) and does not depend on the order
 * of the pairs; ngx_http_twanon_utf16_cmp() over the keys and values is
 * a strict total order (the reference's sign, antisymmetric, 0 exactly
 * for equal bytes, transitive on every triple of the first 6 strings);
 * a signature computed here over the
 * URL as given, or over its other port variant, is accepted, and a
 * changed one refused; a signature of any other length than the digest's
 * is refused.  The settings header parses to a key id and an algorithm
 * that are non-empty, trimmed, free of commas and inside the header
 * (the algorithm may be the default HMAC_SHA1), and "key=<id>,algorithm=
 * <name>" written from them parses back to the same two.
 * ngx_http_twanon_hmac_hex() (the caller hash) is HMAC-SHA256 in hex.
 */


#include "fuzz_common.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define SIG_LEN     28                  /* base64 of a SHA-1 digest */
#define SIG_LEN256  44                  /* of a SHA-256 digest */


#define ORDER_STRINGS  12
#define ORDER_TRIPLES  6


typedef struct {
    uint32_t   *units;
    size_t      n;
} utf16_t;


/* UTF-16 code units; a byte that starts no valid character: 0x10000 + it */

static void
to_utf16(ngx_str_t *s, utf16_t *u)
{
    size_t    i, n;
    uint32_t  cp;

    u->units = malloc((s->len + 1) * sizeof(uint32_t));
    twanon_fuzz_assert(u->units != NULL);
    u->n = 0;

    for (i = 0; i < s->len; i += n) {
        n = twanon_fuzz_utf8_decode(s->data + i, s->len - i, &cp);

        if (n == 0) {
            u->units[u->n++] = 0x10000 + s->data[i];
            n = 1;

        } else if (cp >= 0x10000) {
            u->units[u->n++] = 0xd800 + ((cp - 0x10000) >> 10);
            u->units[u->n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);

        } else {
            u->units[u->n++] = cp;
        }
    }
}


static int
units_cmp(utf16_t *a, utf16_t *b)
{
    size_t  i;

    for (i = 0; i < a->n && i < b->n; i++) {
        if (a->units[i] != b->units[i]) {
            return (a->units[i] < b->units[i]) ? -1 : 1;
        }
    }

    return (a->n > b->n) - (a->n < b->n);
}


/* a pair with the units of its key and value, read once */

typedef struct {
    ngx_http_twanon_pair_t   pair;
    utf16_t                  key;
    utf16_t                  value;
} ref_pair_t;


static int
ref_pair_cmp(const void *one, const void *two)
{
    int          rc;
    ref_pair_t  *a, *b;

    a = (ref_pair_t *) one;
    b = (ref_pair_t *) two;

    rc = units_cmp(&a->key, &b->key);

    return rc ? rc : units_cmp(&a->value, &b->value);
}


static void
ref_params(ngx_pool_t *pool, ngx_array_t *pairs, ngx_str_t *out)
{
    u_char                  *p;
    size_t                   len;
    ngx_uint_t               i;
    ref_pair_t              *s;
    ngx_http_twanon_pair_t  *pair;

    s = malloc((pairs->nelts + 1) * sizeof(ref_pair_t));
    twanon_fuzz_assert(s != NULL);

    pair = pairs->elts;
    len = 0;

    for (i = 0; i < pairs->nelts; i++) {
        s[i].pair = pair[i];
        to_utf16(&pair[i].key, &s[i].key);
        to_utf16(&pair[i].value, &s[i].value);
        len += pair[i].key.len + pair[i].value.len;
    }

    qsort(s, pairs->nelts, sizeof(ref_pair_t), ref_pair_cmp);

    out->data = twanon_fuzz_copy(pool, NULL, len);
    p = out->data;

    for (i = 0; i < pairs->nelts; i++) {
        if (i && ref_pair_cmp(&s[i - 1], &s[i]) == 0) {
            continue;
        }

        if (s[i].pair.key.len) {
            p = ngx_cpymem(p, s[i].pair.key.data, s[i].pair.key.len);
        }

        if (s[i].pair.value.len) {
            p = ngx_cpymem(p, s[i].pair.value.data, s[i].pair.value.len);
        }
    }

    out->len = p - out->data;

    for (i = 0; i < pairs->nelts; i++) {
        free(s[i].key.units);
        free(s[i].value.units);
    }

    free(s);
}


static int
sgn(ngx_int_t rc)
{
    return (rc > 0) - (rc < 0);
}


static ngx_uint_t
same_bytes(ngx_str_t *a, ngx_str_t *b)
{
    return a->len == b->len
           && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}


/*
 * ngx_http_twanon_utf16_cmp() over the keys and values of the pairs: the
 * reference's sign, antisymmetric, 0 exactly when the bytes are equal,
 * and transitive on each triple of the first ORDER_TRIPLES strings.
 */

static void
check_order(ngx_array_t *pairs)
{
    int                      c[ORDER_STRINGS][ORDER_STRINGS];
    utf16_t                  u[ORDER_STRINGS];
    ngx_str_t               *s[ORDER_STRINGS];
    ngx_uint_t               i, j, k, n;
    ngx_http_twanon_pair_t  *pair;

    pair = pairs->elts;
    n = 0;

    for (i = 0; i < pairs->nelts && n < ORDER_STRINGS; i++) {
        s[n++] = &pair[i].key;

        if (n < ORDER_STRINGS) {
            s[n++] = &pair[i].value;
        }
    }

    for (i = 0; i < n; i++) {
        to_utf16(s[i], &u[i]);

        for (j = 0; j < n; j++) {
            c[i][j] = sgn(ngx_http_twanon_utf16_cmp(s[i], s[j]));
        }
    }

    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            twanon_fuzz_assert(c[i][j] == -c[j][i]);
            twanon_fuzz_assert((c[i][j] == 0) == same_bytes(s[i], s[j]));

            twanon_fuzz_assert(c[i][j] == units_cmp(&u[i], &u[j]));
        }
    }

    for (i = 0; i < n; i++) {
        free(u[i].units);
    }

    n = ngx_min(n, ORDER_TRIPLES);

    for (i = 0; i < n; i++) {
        for (j = 0; j < n; j++) {
            for (k = 0; k < n; k++) {
                if (c[i][j] <= 0 && c[j][k] <= 0) {
                    twanon_fuzz_assert(c[i][k] <= 0);
                    twanon_fuzz_assert(c[i][k] < 0
                                       || (c[i][j] == 0 && c[j][k] == 0));
                }
            }
        }
    }
}


static void
sign(ngx_str_t *token, ngx_str_t *url, ngx_str_t *params, ngx_uint_t sha256,
    u_char *sig)
{
    u_char         *data;
    size_t          len;
    unsigned int    md_len;
    u_char          md[EVP_MAX_MD_SIZE];
    u_char          b64[SIG_LEN256 + 1];

    len = url->len + params->len;
    data = malloc(len + 1);
    twanon_fuzz_assert(data != NULL);

    if (url->len) {
        memcpy(data, url->data, url->len);
    }

    if (params->len) {
        memcpy(data + url->len, params->data, params->len);
    }

    twanon_fuzz_assert(HMAC(sha256 ? EVP_sha256() : EVP_sha1(), token->data,
                            (int) token->len, data, len, md, &md_len)
                       != NULL);
    twanon_fuzz_assert(md_len == (sha256 ? 32 : 20));
    twanon_fuzz_assert(EVP_EncodeBlock(b64, md, (int) md_len)
                       == (sha256 ? SIG_LEN256 : SIG_LEN));

    memcpy(sig, b64, sha256 ? SIG_LEN256 : SIG_LEN);
    free(data);
}


static u_char *
cat(u_char *p, ngx_str_t *s)
{
    if (s->len) {
        p = ngx_cpymem(p, s->data, s->len);
    }

    return p;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    twanon_fuzz_init();
    return 0;
}


/*
 * The HMAC contexts live across inputs, as they do across requests, so
 * that both a key seen before (reset) and a new key (rekey) are checked
 * against the one-shot HMAC() below.
 */

static ngx_http_twanon_hmac_t  macs[2][3], hash_mac;


/* a part of the settings header as parsed: inside it, trimmed, no comma */

static void
settings_part(ngx_str_t *header, ngx_str_t *part)
{
    twanon_fuzz_assert(part->len > 0);
    twanon_fuzz_assert(part->data >= header->data
                       && part->data + part->len
                          <= header->data + header->len);
    twanon_fuzz_assert(memchr(part->data, ',', part->len) == NULL);
    twanon_fuzz_assert(part->data[0] != ' ' && part->data[0] != '\t');
    twanon_fuzz_assert(part->data[part->len - 1] != ' '
                       && part->data[part->len - 1] != '\t');
}


static void
settings(ngx_pool_t *pool, ngx_str_t *header)
{
    u_char      *p;
    ngx_str_t    key, alg, again, key2, alg2;
    const char  *digest;

    if (ngx_http_twanon_signature_settings(header, &key, &alg) != NGX_OK) {
        return;
    }

    settings_part(header, &key);

    if (alg.len == 9 && memcmp(alg.data, "HMAC_SHA1", 9) == 0
        && !(alg.data >= header->data
             && alg.data < header->data + header->len))
    {
        /* the default */

    } else {
        settings_part(header, &alg);
    }

    digest = ngx_http_twanon_signature_digest(&alg);

    twanon_fuzz_assert(digest == NULL
                       || (strcmp(digest, "SHA1") == 0
                           && strncasecmp((char *) alg.data, "hmac_sha1", 9)
                              == 0 && alg.len == 9)
                       || (strcmp(digest, "SHA256") == 0
                           && strncasecmp((char *) alg.data, "hmac_sha256",
                                          11) == 0 && alg.len == 11));

    again.len = sizeof("key=,algorithm=") - 1 + key.len + alg.len;
    again.data = twanon_fuzz_copy(pool, NULL, again.len);

    p = ngx_cpymem(again.data, "key=", 4);
    p = ngx_cpymem(p, key.data, key.len);
    p = ngx_cpymem(p, ",algorithm=", 11);
    ngx_memcpy(p, alg.data, alg.len);

    twanon_fuzz_assert(ngx_http_twanon_signature_settings(&again, &key2,
                                                          &alg2)
                       == NGX_OK);
    twanon_fuzz_assert(key2.len == key.len
                       && memcmp(key2.data, key.data, key.len) == 0);
    twanon_fuzz_assert(alg2.len == alg.len
                       && memcmp(alg2.data, alg.data, alg.len) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                  *p, c;
    size_t                   len;
    ngx_int_t                rc;
    ngx_str_t                url, tokens[3], signature, body, params,
                             params2, expected, scheme, host, port, path,
                             with, without, hex, header, *signed_url;
    char                     hexbyte[3];
    ngx_uint_t               o1, o2, i, n, ntokens, computed, sha256,
                             sig_len;
    unsigned int             md_len;
    u_char                   md[EVP_MAX_MD_SIZE];
    ngx_pool_t              *pool;
    ngx_array_t              pairs, reversed;
    twanon_fuzz_in_t         in;
    ngx_http_twanon_pair_t  *pair, *rpair;

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    o1 = twanon_fuzz_byte(&in);
    o2 = twanon_fuzz_byte(&in);

    if (o1 & 0x80) {
        twanon_fuzz_field(pool, &in, &header);
        settings(pool, &header);
    }

    sha256 = (o1 & 0x40) ? 1 : 0;
    sig_len = sha256 ? SIG_LEN256 : SIG_LEN;

    /* the URL */

    signed_url = &url;
    ngx_str_null(&with);
    ngx_str_null(&without);

    if (o1 & 0x20) {
        if (o2 & 2) {
            ngx_str_set(&scheme, "HTTPS");

        } else if (o2 & 1) {
            ngx_str_set(&scheme, "https");

        } else {
            ngx_str_set(&scheme, "http");
        }

        twanon_fuzz_field(pool, &in, &host);
        twanon_fuzz_field(pool, &in, &port);
        twanon_fuzz_field(pool, &in, &path);

        /* no authority delimiter in the host; the port is digits */

        for (i = 0, n = 0; i < host.len; i++) {
            c = host.data[i];
            if (c != '/' && c != '?' && c != '#' && c != '@' && c != ':'
                && c != '[' && c != ']')
            {
                host.data[n++] = c;
            }
        }

        host.len = n;

        if (host.len == 0) {
            ngx_str_set(&host, "h");
        }

        for (i = 0, n = 0; i < port.len; i++) {
            if (port.data[i] >= '0' && port.data[i] <= '9') {
                port.data[n++] = port.data[i];
            }
        }

        port.len = n;

        switch ((o2 >> 2) & 3) {
        case 0:
            port.len = 0;
            break;

        case 1:
            if (port.len == 0) {
                ngx_str_set(&port, "8443");
            }
            break;

        default:
            port.len = 0;
        }

        len = scheme.len + 3 + host.len + 1 + port.len + 1 + path.len
              + sizeof(":443") - 1;

        url.data = twanon_fuzz_copy(pool, NULL, len);
        with.data = twanon_fuzz_copy(pool, NULL, len);
        without.data = twanon_fuzz_copy(pool, NULL, len);

        p = cat(url.data, &scheme);
        p = ngx_cpymem(p, "://", 3);
        p = cat(p, &host);

        without.len = ngx_cpymem(without.data, url.data, p - url.data)
                      - without.data;

        if (((o2 >> 2) & 3) != 0) {
            *p++ = ':';
            p = cat(p, &port);
            with.len = ngx_cpymem(with.data, url.data, p - url.data)
                       - with.data;

        } else {
            with.len = ngx_cpymem(with.data, url.data, p - url.data)
                       - with.data;
            with.len = ngx_cpymem(with.data + with.len,
                                  (o2 & 3) ? ":443" : ":80",
                                  (o2 & 3) ? 4 : 3)
                       - with.data;
        }

        *p++ = '/';
        p = cat(p, &path);
        url.len = p - url.data;

        with.data[with.len++] = '/';
        with.len = cat(with.data + with.len, &path) - with.data;
        without.data[without.len++] = '/';
        without.len = cat(without.data + without.len, &path) - without.data;

        if (o2 & 0x10) {
            signed_url = (((o2 >> 2) & 3) != 0) ? &without : &with;
        }

    } else {
        twanon_fuzz_field(pool, &in, &url);
    }

    /* the auth tokens: never empty, as the handler refuses an empty one */

    ntokens = (o1 & 3) % 3 + 1;

    for (i = 0; i < ntokens; i++) {
        twanon_fuzz_field(pool, &in, &tokens[i]);

        if (tokens[i].len == 0) {
            ngx_str_set(&tokens[i], "auth-token");
        }
    }

    computed = o1 & 4;

    if (!computed) {
        twanon_fuzz_field(pool, &in, &signature);
    }

    /* the parameters */

    if (ngx_array_init(&pairs, pool, 4, sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        abort();
    }

    if (o1 & 0x10) {
        twanon_fuzz_rest(pool, &in, &body);

        rc = ngx_http_twanon_form_parse(pool, &body, &pairs, 256);
        twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

        if (rc != NGX_OK) {
            pairs.nelts = 0;
        }

    } else {
        while (twanon_fuzz_more(&in) && pairs.nelts < 256) {
            pair = ngx_array_push(&pairs);
            twanon_fuzz_assert(pair != NULL);

            twanon_fuzz_field(pool, &in, &pair->key);
            twanon_fuzz_field(pool, &in, &pair->value);
        }
    }

    /* the canonical string */

    rc = ngx_http_twanon_signature_params(pool, &pairs, &params);
    twanon_fuzz_assert(rc == NGX_OK);

    len = 0;
    pair = pairs.elts;

    for (i = 0; i < pairs.nelts; i++) {
        len += pair[i].key.len + pair[i].value.len;
    }

    twanon_fuzz_assert(params.len <= len);

    check_order(&pairs);

    /* what the reference writes, invalid UTF-8 included */

    ref_params(pool, &pairs, &expected);

    twanon_fuzz_assert(params.len == expected.len);
    twanon_fuzz_assert(params.len == 0
                       || memcmp(params.data, expected.data, params.len)
                          == 0);

    /* the same pairs in the reverse order: the same string */

    if (ngx_array_init(&reversed, pool, pairs.nelts ? pairs.nelts : 1,
                       sizeof(ngx_http_twanon_pair_t))
        != NGX_OK)
    {
        abort();
    }

    for (i = pairs.nelts; i > 0; i--) {
        rpair = ngx_array_push(&reversed);
        twanon_fuzz_assert(rpair != NULL);
        *rpair = pair[i - 1];
    }

    rc = ngx_http_twanon_signature_params(pool, &reversed, &params2);
    twanon_fuzz_assert(rc == NGX_OK);
    twanon_fuzz_assert(params2.len == params.len);
    twanon_fuzz_assert(params.len == 0
                       || memcmp(params.data, params2.data, params.len)
                          == 0);

    /* the check */

    if (computed) {
        signature.data = twanon_fuzz_copy(pool, NULL, sig_len);
        signature.len = sig_len;

        sign(&tokens[((o2 >> 5) & 3) % ntokens], signed_url, &params,
             sha256, signature.data);

        if (o1 & 8) {
            i = (o2 * 7) % sig_len;
            signature.data[i] = (signature.data[i] == 'A') ? 'B' : 'A';
        }
    }

    /* made once, as the configuration would */

    for (i = 0; i < 3; i++) {
        if (macs[sha256][i].ctx == NULL) {
            twanon_fuzz_assert(ngx_http_twanon_hmac_init(&macs[sha256][i],
                                                     twanon_fuzz_conf_pool,
                                                     sha256 ? "SHA256"
                                                            : "SHA1")
                               == NGX_OK);
        }
    }

    rc = ngx_http_twanon_signature_check(pool, &url, &params, tokens,
                                         macs[sha256], ntokens, &signature);

    twanon_fuzz_assert(rc == NGX_OK || rc == NGX_DECLINED);

    if (signature.len != sig_len) {
        twanon_fuzz_assert(rc == NGX_DECLINED);
    }

    if (computed) {
        twanon_fuzz_assert(rc == ((o1 & 8) ? NGX_DECLINED : NGX_OK));
    }

    /* $twanon_caller_hash: hex HMAC-SHA256, here of the URL */

    if (hash_mac.ctx == NULL) {
        twanon_fuzz_assert(ngx_http_twanon_hmac_init(&hash_mac,
                                                     twanon_fuzz_conf_pool,
                                                     "SHA256")
                           == NGX_OK);
    }

    rc = ngx_http_twanon_hmac_hex(pool, &hash_mac, &tokens[0], &url, &hex);
    twanon_fuzz_assert(rc == NGX_OK);

    twanon_fuzz_assert(HMAC(EVP_sha256(), tokens[0].data, (int) tokens[0].len,
                            url.data, url.len, md, &md_len)
                       != NULL);
    twanon_fuzz_assert(hex.len == 2 * md_len);

    for (i = 0; i < md_len; i++) {
        snprintf(hexbyte, sizeof(hexbyte), "%02x", md[i]);
        twanon_fuzz_assert(memcmp(hex.data + 2 * i, hexbyte, 2) == 0);
    }

    twanon_fuzz_pool_done(pool);

    return 0;
}
