
/*
 * Copyright (C) twanon authors
 */


/*
 * ngx_http_twanon_jwt_header(), ngx_http_twanon_jwt_sign() and
 * ngx_http_twanon_sid_valid().
 *
 * ngx_http_twanon_param_name_valid().
 *
 * Input: options (bit 0: incoming grant, bit 1: outgoing application
 * SID, bit 2: push credential SID, bits 3-7: the number of outgoing
 * params, modulo 9), 4 bytes of iat and 2 of the ttl (1 s to 24 h, as
 * configuration allows), then fields: region, identity, API secret,
 * account SID, API key SID, application SID, push credential SID, and a
 * name and a value for each param.  A region, SID or param name that
 * configuration or the handler would refuse (a name given twice too) is
 * replaced by a valid one, as they would never reach the signer; the
 * identity is any bytes, since a custom twanon_token_identity_pattern
 * may allow them, and so is a param value, the value of a variable.
 *
 * Invariants: sid_valid() and param_name_valid() agree with a
 * reference; the token is three base64url parts; the signature is
 * HMAC-SHA256 under the secret over the first two; header and, for an
 * identity in valid UTF-8, payload are JSON objects holding exactly what
 * was given: each param value as given, with U+FFFD for each byte that
 * does not start a valid UTF-8 character, whatever its bytes.
 */


#include "fuzz_common.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


static ngx_uint_t
ref_sid(ngx_str_t *sid, const char *prefix)
{
    size_t  i;
    u_char  c;

    if (sid->len != 34 || sid->data[0] != prefix[0]
        || sid->data[1] != prefix[1])
    {
        return 0;
    }

    for (i = 2; i < 34; i++) {
        c = sid->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
              || (c >= 'A' && c <= 'F')))
        {
            return 0;
        }
    }

    return 1;
}


static void
sid(ngx_pool_t *pool, twanon_fuzz_in_t *in, const char *prefix,
    const char *fallback, ngx_str_t *out)
{
    ngx_uint_t  ok;

    twanon_fuzz_field(pool, in, out);

    ok = ref_sid(out, prefix);

    twanon_fuzz_assert((ngx_http_twanon_sid_valid(out, prefix) == NGX_OK)
                       == ok);

    if (!ok) {
        out->data = (u_char *) fallback;
        out->len = ngx_strlen(fallback);
    }
}


static ngx_uint_t
ref_param_name(ngx_str_t *name)
{
    size_t  i;
    u_char  c;

    if (name->len == 0 || name->len > 32) {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}


static ngx_uint_t
param_given(ngx_http_twanon_pair_t *param, ngx_uint_t n, ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (param[i].key.len == name->len
            && memcmp(param[i].key.data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The outgoing params: names as configuration allows them, distinct,
 * values any bytes.
 */

static ngx_array_t *
params(ngx_pool_t *pool, twanon_fuzz_in_t *in, ngx_uint_t n)
{
    ngx_uint_t               i, k, ok;
    ngx_array_t             *a;
    ngx_http_twanon_pair_t  *param;

    a = ngx_array_create(pool, NGX_HTTP_TWANON_TOKEN_PARAMS_MAX,
                         sizeof(ngx_http_twanon_pair_t));
    twanon_fuzz_assert(a != NULL);

    param = ngx_array_push_n(a, n);
    twanon_fuzz_assert(param != NULL);

    for (i = 0; i < n; i++) {
        twanon_fuzz_field(pool, in, &param[i].key);

        ok = ref_param_name(&param[i].key);

        twanon_fuzz_assert(
            (ngx_http_twanon_param_name_valid(&param[i].key) == NGX_OK)
            == ok);

        for (k = i; !ok || param_given(param, i, &param[i].key); k += 9) {
            param[i].key.data = ngx_pnalloc(pool, NGX_INT_T_LEN + 1);
            twanon_fuzz_assert(param[i].key.data != NULL);

            param[i].key.len = ngx_sprintf(param[i].key.data, "z%ui", k)
                               - param[i].key.data;
            ok = 1;
        }

        twanon_fuzz_field(pool, in, &param[i].value);
    }

    return a;
}


/* the reference for what a value becomes: U+FFFD for each bad byte */

static void
ref_fix(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char    *p, *last, *d;
    size_t     n;
    uint32_t   cp;

    out->data = ngx_pnalloc(pool, in->len * 3 + 1);
    twanon_fuzz_assert(out->data != NULL);

    d = out->data;
    p = in->data;
    last = p + in->len;

    while (p < last) {
        n = twanon_fuzz_utf8_decode(p, last - p, &cp);

        if (n == 0) {
            *d++ = 0xef; *d++ = 0xbf; *d++ = 0xbd;
            p++;
            continue;
        }

        d = ngx_cpymem(d, p, n);
        p += n;
    }

    out->len = d - out->data;
}


/* an independent base64url decoder; -1 on a character outside it */

static ssize_t
b64url_decode(const u_char *src, size_t len, u_char *dst)
{
    int       v;
    size_t    i, n;
    uint32_t  acc;
    u_char    c;
    int       bits;

    acc = 0;
    bits = 0;
    n = 0;

    for (i = 0; i < len; i++) {
        c = src[i];

        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';

        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;

        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;

        } else if (c == '-') {
            v = 62;

        } else if (c == '_') {
            v = 63;

        } else {
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (u_char) (acc >> bits);
        }
    }

    if (len % 4 == 1) {
        return -1;
    }

    return n;
}


static json_t *
decode_json(const u_char *p, size_t len, ngx_uint_t must)
{
    u_char        *buf;
    ssize_t        n;
    json_t        *j;
    json_error_t   err;

    buf = malloc(len + 1);
    twanon_fuzz_assert(buf != NULL);

    n = b64url_decode(p, len, buf);
    twanon_fuzz_assert(n >= 0);

    j = json_loadb((char *) buf, n, JSON_ALLOW_NUL|JSON_REJECT_DUPLICATES,
                   &err);

    if (j == NULL && must) {
        fprintf(stderr, "twanon fuzz: %s: \"%.*s\"\n", err.text, (int) n,
                buf);
        abort();
    }

    free(buf);

    return j;
}


static void
expect_string(json_t *obj, const char *key, ngx_str_t *want)
{
    json_t  *v;

    v = json_object_get(obj, key);

    twanon_fuzz_assert(json_is_string(v));
    twanon_fuzz_assert(json_string_length(v) == want->len);
    twanon_fuzz_assert(want->len == 0
                       || memcmp(json_string_value(v), want->data, want->len)
                          == 0);
}


static void
expect_params(ngx_pool_t *pool, json_t *outgoing, ngx_array_t *a)
{
    char                     key[NGX_HTTP_TWANON_PARAM_NAME_MAX + 1];
    json_t                  *obj;
    ngx_str_t                want;
    ngx_uint_t               i;
    ngx_http_twanon_pair_t  *param;

    obj = json_object_get(outgoing, "params");

    if (a == NULL || a->nelts == 0) {
        twanon_fuzz_assert(obj == NULL);
        twanon_fuzz_assert(json_object_size(outgoing) == 1);
        return;
    }

    twanon_fuzz_assert(json_is_object(obj));
    twanon_fuzz_assert(json_object_size(outgoing) == 2);
    twanon_fuzz_assert(json_object_size(obj) == a->nelts);

    param = a->elts;

    for (i = 0; i < a->nelts; i++) {
        ngx_memcpy(key, param[i].key.data, param[i].key.len);
        key[param[i].key.len] = '\0';

        ref_fix(pool, &param[i].value, &want);
        twanon_fuzz_assert(twanon_fuzz_utf8_valid(want.data, want.len));

        expect_string(obj, key, &want);
    }
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    twanon_fuzz_init();
    return 0;
}


/* kept across inputs, as across requests: see fuzz_signature.c */

static ngx_http_twanon_hmac_t  secret_mac;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                     jti[128];
    u_char                  *p, *dot1, *dot2, *last, c;
    size_t                   i, n;
    json_t                  *header_json, *payload, *grants, *voice, *v;
    ngx_int_t                rc;
    ngx_str_t                region, header, token, want;
    ngx_uint_t               opts, ok;
    ngx_pool_t              *pool;
    unsigned int             md_len;
    twanon_fuzz_in_t         in;
    ngx_http_twanon_grant_t  grant;
    u_char                   md[EVP_MAX_MD_SIZE];
    u_char                   b64[2 * EVP_MAX_MD_SIZE];

    in.pos = data;
    in.last = data + size;

    pool = twanon_fuzz_pool();

    ngx_memzero(&grant, sizeof(ngx_http_twanon_grant_t));

    opts = twanon_fuzz_byte(&in);

    grant.incoming = opts & 1;

    grant.iat = 0;
    for (i = 0; i < 4; i++) {
        grant.iat = grant.iat << 8 | twanon_fuzz_byte(&in);
    }

    n = twanon_fuzz_byte(&in);
    n = n << 8 | twanon_fuzz_byte(&in);
    grant.ttl = 1 + (time_t) (n * 2 % 86400);

    /* the region: [a-z0-9-]{1,32} or none, as configuration allows */

    twanon_fuzz_field(pool, &in, &region);

    ok = region.len <= 32;

    for (i = 0; ok && i < region.len; i++) {
        c = region.data[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    }

    if (!ok) {
        region.len = 0;
    }

    twanon_fuzz_field(pool, &in, &grant.identity);
    twanon_fuzz_field(pool, &in, &grant.api_secret);

    if (grant.api_secret.len == 0) {
        ngx_str_set(&grant.api_secret, "api-secret");
    }

    sid(pool, &in, "AC", "AC0123456789abcdef0123456789abcdef",
        &grant.account_sid);
    sid(pool, &in, "SK", "SK0123456789abcdef0123456789abcdef",
        &grant.api_key);
    sid(pool, &in, "AP", "AP0123456789abcdef0123456789abcdef",
        &grant.outgoing_application_sid);
    sid(pool, &in, "CR", "CR0123456789abcdef0123456789abcdef",
        &grant.push_credential_sid);

    if (!(opts & 2)) {
        ngx_str_null(&grant.outgoing_application_sid);
    }

    /*
     * params without an application SID fail nginx -t; given all the
     * same, the writer leaves them out with the outgoing grant
     */

    n = (opts >> 3) % (NGX_HTTP_TWANON_TOKEN_PARAMS_MAX + 1);

    grant.outgoing_params = params(pool, &in, n);

    if (!(opts & 4)) {
        ngx_str_null(&grant.push_credential_sid);
    }

    rc = ngx_http_twanon_jwt_header(pool, &region, &header);
    twanon_fuzz_assert(rc == NGX_OK);

    if (secret_mac.ctx == NULL) {
        twanon_fuzz_assert(ngx_http_twanon_hmac_init(&secret_mac,
                                                     twanon_fuzz_conf_pool,
                                                     "SHA256")
                           == NGX_OK);
    }

    grant.mac = &secret_mac;

    rc = ngx_http_twanon_jwt_sign(pool, &header, &grant, &token);
    twanon_fuzz_assert(rc == NGX_OK);

    /* three parts */

    last = token.data + token.len;

    dot1 = memchr(token.data, '.', token.len);
    twanon_fuzz_assert(dot1 != NULL);
    dot2 = memchr(dot1 + 1, '.', last - dot1 - 1);
    twanon_fuzz_assert(dot2 != NULL);
    twanon_fuzz_assert(memchr(dot2 + 1, '.', last - dot2 - 1) == NULL);

    twanon_fuzz_assert((size_t) (dot1 - token.data) == header.len
                       && memcmp(token.data, header.data, header.len) == 0);

    /* the signature */

    twanon_fuzz_assert(HMAC(EVP_sha256(), grant.api_secret.data,
                            (int) grant.api_secret.len, token.data,
                            dot2 - token.data, md, &md_len)
                       != NULL);

    n = EVP_EncodeBlock(b64, md, (int) md_len);

    for (p = b64; p < b64 + n; p++) {
        if (*p == '+') {
            *p = '-';

        } else if (*p == '/') {
            *p = '_';

        } else if (*p == '=') {
            break;
        }
    }

    n = p - b64;

    twanon_fuzz_assert((size_t) (last - dot2 - 1) == n
                       && memcmp(dot2 + 1, b64, n) == 0);

    /* the header */

    header_json = decode_json(token.data, dot1 - token.data, 1);

    twanon_fuzz_assert(json_is_object(header_json));
    ngx_str_set(&want, "HS256");
    expect_string(header_json, "alg", &want);
    ngx_str_set(&want, "JWT");
    expect_string(header_json, "typ", &want);
    ngx_str_set(&want, "twilio-fpa;v=1");
    expect_string(header_json, "cty", &want);

    if (region.len) {
        expect_string(header_json, "twr", &region);
        twanon_fuzz_assert(json_object_size(header_json) == 4);

    } else {
        twanon_fuzz_assert(json_object_size(header_json) == 3);
    }

    json_decref(header_json);

    /* the payload: JSON, as long as the identity is UTF-8 */

    ok = twanon_fuzz_utf8_valid(grant.identity.data, grant.identity.len);

    payload = decode_json(dot1 + 1, dot2 - dot1 - 1, ok);

    if (payload == NULL) {
        goto done;
    }

    twanon_fuzz_assert(json_is_object(payload));

    expect_string(payload, "iss", &grant.api_key);
    expect_string(payload, "sub", &grant.account_sid);

    want.len = snprintf(jti, sizeof(jti), "%.*s-%lld",
                        (int) grant.api_key.len, grant.api_key.data,
                        (long long) grant.iat);
    want.data = (u_char *) jti;
    expect_string(payload, "jti", &want);

    v = json_object_get(payload, "iat");
    twanon_fuzz_assert(json_is_integer(v)
                       && json_integer_value(v) == (json_int_t) grant.iat);

    v = json_object_get(payload, "exp");
    twanon_fuzz_assert(json_is_integer(v)
                       && json_integer_value(v)
                          == (json_int_t) (grant.iat + grant.ttl));

    grants = json_object_get(payload, "grants");
    twanon_fuzz_assert(json_is_object(grants));
    expect_string(grants, "identity", &grant.identity);

    voice = json_object_get(grants, "voice");
    twanon_fuzz_assert(json_is_object(voice));

    v = json_object_get(voice, "incoming");
    twanon_fuzz_assert((v != NULL) == grant.incoming);

    if (v) {
        twanon_fuzz_assert(json_is_true(json_object_get(v, "allow")));
    }

    v = json_object_get(voice, "outgoing");
    twanon_fuzz_assert((v != NULL) == (grant.outgoing_application_sid.len
                                       != 0));

    if (v) {
        expect_string(v, "application_sid",
                      &grant.outgoing_application_sid);
        expect_params(pool, v, grant.outgoing_params);
    }

    if (grant.push_credential_sid.len) {
        expect_string(voice, "push_credential_sid",
                      &grant.push_credential_sid);

    } else {
        twanon_fuzz_assert(json_object_get(voice, "push_credential_sid")
                           == NULL);
    }

    json_decref(payload);

done:

    twanon_fuzz_pool_done(pool);

    return 0;
}
