'use strict';

/*
 * Self-test for token.js, run by "npm test" without nginx.
 *
 * Builds tokens by hand in the exact format that twanon's token endpoint
 * documents (header and payload JSON as literal strings, HMAC-SHA256,
 * base64url without padding), and checks that token.js accepts them and
 * rejects each kind of deviation: the comparison must be able to fail.
 */

const crypto = require('crypto');
const path = require('path');
const {spawnSync} = require('child_process');

const SCRIPT = path.join(__dirname, 'token.js');

const BASE = {
    identity: 'alice',
    accountSid: 'AC' + '0123456789abcdef'.repeat(2),
    apiKey: 'SK' + 'fedcba9876543210'.repeat(2),
    apiSecret: 'selftest-secret-0123456789',
    ttl: 3600,
    incoming: true,
};

let failed = 0;
let count = 0;


function b64url(s) {
    return Buffer.from(s).toString('base64url');
}


/*
 * The token as the spec writes it: header
 * {"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"[,"twr":R]} and payload
 * {"jti":K-iat,"grants":{"identity":I,"voice":{...}},"iat":N,"exp":N+ttl,
 *  "iss":K,"sub":A}.  Overrides replace pieces to break one thing at a time.
 */

function spec(input, o) {
    o = o || {};

    const iat = Math.floor(Date.now() / 1000) + (o.iatShift || 0);
    const exp = iat + input.ttl + (o.expShift || 0);

    let header = '{"alg":"HS256","typ":"JWT","cty":"twilio-fpa;v=1"';

    if (input.region) {
        header += ',"twr":' + JSON.stringify(input.region);
    }

    header += (o.headerExtra || '') + '}';

    const voice = [];

    if (input.incoming) {
        voice.push('"incoming":{"allow":' + (o.allow || 'true') + '}');
    }

    if (input.outgoingApplicationSid) {
        voice.push('"outgoing":{"application_sid":'
                   + JSON.stringify(input.outgoingApplicationSid) + '}');
    }

    if (input.pushCredentialSid) {
        voice.push('"push_credential_sid":'
                   + JSON.stringify(input.pushCredentialSid));
    }

    const grants = '{"identity":' + JSON.stringify(o.identity
                                                   || input.identity)
                   + ',"voice":{' + voice.join(',') + '}}';

    const payload = '{"jti":' + JSON.stringify(o.jti || input.apiKey + '-'
                                                         + iat)
                    + ',"grants":' + grants
                    + ',"iat":' + iat + ',"exp":' + exp
                    + ',"iss":' + JSON.stringify(input.apiKey)
                    + ',"sub":' + JSON.stringify(o.sub || input.accountSid)
                    + (o.payloadExtra || '') + '}';

    const signed = b64url(header) + '.' + b64url(payload);
    const mac = crypto.createHmac('sha256', o.secret || input.apiSecret)
                      .update(signed).digest('base64url');

    return signed + '.' + mac + (o.suffix || '');
}


function run(name, input, token, expectOk, expectLine) {
    const arg = JSON.stringify(Object.assign({}, input, {token: token}));
    const res = spawnSync(process.execPath, [SCRIPT, arg], {encoding: 'utf8'});
    const out = res.stdout + res.stderr;
    let ok;

    if (expectOk) {
        ok = res.status === 0 && !/^not ok/m.test(out)
             && /^ok - signature verifies/m.test(out);

    } else {
        ok = res.status === 1 && out.includes('not ok - ' + expectLine);
    }

    count++;

    if (ok) {
        console.log('ok ' + count + ' - ' + name);

    } else {
        failed++;
        console.log('not ok ' + count + ' - ' + name);
        console.log(out.replace(/^/mg, '# '));
    }
}


const FULL = Object.assign({}, BASE, {
    identity: 'user_001',
    ttl: 600,
    region: 'ie1',
    outgoingApplicationSid: 'AP' + 'a1b2c3d4e5f60718'.repeat(2),
    pushCredentialSid: 'CR' + '0f1e2d3c4b5a6978'.repeat(2),
});

const NOIN = Object.assign({}, BASE, {incoming: false});
const LONG = Object.assign({}, BASE, {identity: 'x'.repeat(121)});

/* tokens in the spec's format agree with twilio */

run('plain token agrees', BASE, spec(BASE), true);
run('full token agrees', FULL, spec(FULL), true);
run('token without incoming agrees', NOIN, spec(NOIN), true);
run('121-char identity agrees', LONG, spec(LONG), true);
run('iat 4s early agrees', BASE, spec(BASE, {iatShift: -4}), true);

/* each deviation is caught by the check it concerns */

run('wrong identity', BASE, spec(BASE, {identity: 'bob'}), false,
    'payload matches twilio: grants.identity');
run('wrong sub', BASE, spec(BASE, {sub: 'AC' + '1'.repeat(32)}), false,
    'payload matches twilio: sub');
run('incoming allow false', BASE, spec(BASE, {allow: 'false'}), false,
    'payload matches twilio: grants.voice.incoming.allow');
run('incoming on when off', NOIN, spec(BASE), false,
    'payload matches twilio: grants.voice.incoming');
run('missing region', FULL, spec(Object.assign({}, FULL, {region: ''})),
    false, 'header matches twilio: twr');
run('region when none', BASE, spec(Object.assign({}, BASE, {region: 'ie1'})),
    false, 'header matches twilio: twr');
run('missing outgoing', FULL,
    spec(Object.assign({}, FULL, {outgoingApplicationSid: ''})), false,
    'payload matches twilio: grants.voice.outgoing');
run('missing push credential', FULL,
    spec(Object.assign({}, FULL, {pushCredentialSid: ''})), false,
    'payload matches twilio: grants.voice.push_credential_sid');
run('extra header field', BASE, spec(BASE, {headerExtra: ',"kid":"x"'}),
    false, 'header matches twilio: kid');
run('extra claim', BASE, spec(BASE, {payloadExtra: ',"nbf":1'}), false,
    'payload matches twilio: nbf');
run('wrong ttl', BASE, spec(BASE, {expShift: 1}), false,
    'exp - iat matches twilio');
run('iat 10s early', BASE, spec(BASE, {iatShift: -10}), false,
    'iat within 5s of twilio');
run('wrong jti', BASE, spec(BASE, {jti: BASE.apiKey + '-1'}), false,
    'module jti is api key and iat');
run('wrong secret', BASE, spec(BASE, {secret: 'other'}), false,
    'signature verifies with api secret');
run('padded signature', BASE, spec(BASE, {suffix: '='}), false,
    'token is a compact jws');

console.log('1..' + count);
console.log((count - failed) + ' passed, ' + failed + ' failed');

process.exitCode = failed === 0 ? 0 : 1;
