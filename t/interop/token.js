'use strict';

/*
 * Cross-check one Access Token issued by ngx_http_twanon_module against
 * the token that Twilio's own helper library (twilio.jwt.AccessToken with
 * a VoiceGrant) builds for the same inputs.
 *
 * Usage:
 *   node token.js '<json>'
 *   echo '<json>' | node token.js
 *
 * The JSON object holds:
 *   token                   the JWT returned by the module (required)
 *   identity                the identity that was requested (required)
 *   accountSid              twanon_account_sid (required)
 *   apiKey                  twanon_api_key (required)
 *   apiSecret               twanon_api_secret (required)
 *   ttl                     twanon_token_ttl in seconds (default 3600)
 *   region                  twanon_token_region (optional)
 *   outgoingApplicationSid  twanon_token_outgoing_application_sid (optional)
 *   outgoingApplicationParams
 *                           the twanon_token_outgoing_param names and
 *                           their values for this request, an object of
 *                           strings (optional)
 *   pushCredentialSid       twanon_token_push_credential_sid (optional)
 *   incoming                twanon_token_incoming (default true)
 *
 * Prints one line per check, "ok - name" or "not ok - name: detail", and
 * exits with 0 only if every check passed (1 if one failed, 2 on bad
 * input).
 *
 * Time-dependent claims are compared by difference: the module's iat must
 * lie within 5 seconds of the reference iat, exp - iat must be the same in
 * both tokens, and jti must be "<apiKey>-<iat>" of the same token.  Every
 * other header field and claim must be equal, with no key missing or added
 * on either side.
 */

const fs = require('fs');
const util = require('util');
const jwt = require('jsonwebtoken');
const twilio = require('twilio');

const AccessToken = twilio.jwt.AccessToken;
const VoiceGrant = AccessToken.VoiceGrant;

const IAT_SLACK = 5;
const TIME_CLAIMS = ['iat', 'exp', 'jti'];

let failed = 0;


function report(name, ok, detail) {
    if (ok) {
        console.log('ok - ' + name);

    } else {
        failed++;
        console.log('not ok - ' + name + (detail ? ': ' + detail : ''));
    }
}


function show(v) {
    return v === undefined ? '(absent)' : JSON.stringify(v);
}


function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}


/*
 * Lists every path at which two decoded JSON values differ, as
 * "path: module X, reference Y".  Key order is not significant.
 */

function differences(mod, ref, path, skip, out) {
    if (isObject(mod) && isObject(ref)) {
        const keys = new Set(Object.keys(mod).concat(Object.keys(ref)));

        for (const k of [...keys].sort()) {
            if (path === '' && skip.includes(k)) {
                continue;
            }

            differences(mod[k], ref[k], path === '' ? k : path + '.' + k,
                        [], out);
        }

        return out;
    }

    if (!util.isDeepStrictEqual(mod, ref)) {
        out.push((path || '(root)') + ': module ' + show(mod)
                 + ', reference ' + show(ref));
    }

    return out;
}


function compare(name, mod, ref, skip) {
    const diff = differences(mod, ref, '', skip, []);

    report(name, diff.length === 0, diff.join('; '));
}


/*
 * Decodes one base64url segment strictly: the alphabet of RFC 7515
 * section 2 with no padding, and JSON that parses to an object.
 */

function segment(s, what) {
    if (!/^[A-Za-z0-9_-]+$/.test(s)) {
        throw new Error(what + ' is not unpadded base64url');
    }

    if (s.length % 4 === 1) {
        throw new Error(what + ' has an impossible base64url length');
    }

    const text = Buffer.from(s, 'base64url').toString('utf8');
    let value;

    try {
        value = JSON.parse(text);

    } catch (e) {
        throw new Error(what + ' is not JSON: ' + e.message);
    }

    if (!isObject(value)) {
        throw new Error(what + ' is not a JSON object');
    }

    return value;
}


function readInput() {
    const text = process.argv.length > 2 ? process.argv[2]
                                         : fs.readFileSync(0, 'utf8');
    const input = JSON.parse(text);

    for (const k of ['token', 'identity', 'accountSid', 'apiKey',
                     'apiSecret'])
    {
        if (typeof input[k] !== 'string' || input[k] === '') {
            throw new Error('"' + k + '" must be a non-empty string');
        }
    }

    if (input.ttl === undefined) {
        input.ttl = 3600;
    }

    if (!Number.isInteger(input.ttl) || input.ttl <= 0) {
        throw new Error('"ttl" must be a positive integer');
    }

    if (input.incoming === undefined) {
        input.incoming = true;
    }

    if (typeof input.incoming !== 'boolean') {
        throw new Error('"incoming" must be a boolean');
    }

    const params = input.outgoingApplicationParams;

    if (params !== undefined
        && (!isObject(params)
            || Object.values(params).some(v => typeof v !== 'string')))
    {
        throw new Error('"outgoingApplicationParams" must be an object of '
                        + 'strings');
    }

    return input;
}


function reference(input) {
    const options = {identity: input.identity, ttl: input.ttl};

    if (input.region) {
        options.region = input.region;
    }

    const token = new AccessToken(input.accountSid, input.apiKey,
                                  input.apiSecret, options);

    token.addGrant(new VoiceGrant({
        incomingAllow: input.incoming,
        outgoingApplicationSid: input.outgoingApplicationSid,
        outgoingApplicationParams: input.outgoingApplicationParams,
        pushCredentialSid: input.pushCredentialSid,
    }));

    return token.toJwt();
}


function checkTimes(who, payload, apiKey) {
    const ok = Number.isInteger(payload.iat) && Number.isInteger(payload.exp);

    report(who + ' iat and exp are integers', ok,
           'iat ' + show(payload.iat) + ', exp ' + show(payload.exp));

    /*
     * The module takes jti and iat from one clock reading.  Twilio's
     * helper reads the clock for jti and jsonwebtoken reads it again for
     * iat, so its two may straddle a second boundary: allow it 1 s.
     */

    const slack = (who === 'reference') ? 1 : 0;
    const m = typeof payload.jti === 'string'
              && payload.jti.startsWith(apiKey + '-')
              ? Number(payload.jti.slice(apiKey.length + 1)) : NaN;

    report(who + ' jti is api key and iat',
           Number.isInteger(m) && Math.abs(m - payload.iat) <= slack,
           'jti ' + show(payload.jti) + ', expected '
           + show(apiKey + '-' + payload.iat));

    return ok;
}


function main() {
    let input;

    try {
        input = readInput();

    } catch (e) {
        console.log('not ok - input: ' + e.message);
        process.exit(2);
    }

    /* the module's token: shape, then the decoded parts */

    const parts = input.token.split('.');
    let modHeader, modPayload;

    try {
        if (parts.length !== 3) {
            throw new Error(parts.length + ' parts instead of 3');
        }

        modHeader = segment(parts[0], 'header');
        modPayload = segment(parts[1], 'payload');

        if (!/^[A-Za-z0-9_-]{43}$/.test(parts[2])) {
            throw new Error('signature is not 32 bytes of unpadded base64url');
        }

        report('token is a compact jws', true);

    } catch (e) {
        report('token is a compact jws', false, e.message);
        return;
    }

    const mod = jwt.decode(input.token, {complete: true});

    report('jsonwebtoken decodes the token', mod !== null
           && util.isDeepStrictEqual(mod.header, modHeader)
           && util.isDeepStrictEqual(mod.payload, modPayload),
           'decode gave ' + show(mod));

    if (mod === null) {
        return;
    }

    /* the reference token for the same inputs */

    const refToken = reference(input);
    const ref = jwt.decode(refToken, {complete: true});

    /* header: every field equal (alg, typ, cty and twr when a region is set) */

    compare('header matches twilio', mod.header, ref.header, []);

    /* payload: every claim but the time-dependent ones equal */

    compare('payload matches twilio', mod.payload, ref.payload, TIME_CLAIMS);

    /* time-dependent claims */

    const modTimes = checkTimes('module', mod.payload, input.apiKey);
    const refTimes = checkTimes('reference', ref.payload, input.apiKey);

    if (modTimes && refTimes) {
        const skew = mod.payload.iat - ref.payload.iat;

        report('iat within ' + IAT_SLACK + 's of twilio',
               Math.abs(skew) <= IAT_SLACK,
               'module iat ' + mod.payload.iat + ', reference iat '
               + ref.payload.iat);

        report('exp - iat matches twilio',
               mod.payload.exp - mod.payload.iat
               === ref.payload.exp - ref.payload.iat,
               'module ' + (mod.payload.exp - mod.payload.iat)
               + ', reference ' + (ref.payload.exp - ref.payload.iat));
    }

    /* signature */

    try {
        jwt.verify(input.token, input.apiSecret, {algorithms: ['HS256']});
        report('signature verifies with api secret', true);

    } catch (e) {
        report('signature verifies with api secret', false,
               e.name + ': ' + e.message);
    }

    try {
        jwt.verify(input.token, input.apiSecret + 'x',
                   {algorithms: ['HS256']});
        report('wrong secret is rejected', false, 'token verified');

    } catch (e) {
        report('wrong secret is rejected', e.message === 'invalid signature',
               e.name + ': ' + e.message);
    }
}


try {
    main();

} catch (e) {
    report('internal error', false, e.stack);
}

process.exitCode = failed === 0 ? 0 : 1;
