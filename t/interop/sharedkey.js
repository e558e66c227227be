'use strict';

/*
 * Signs webhooks with Twilio's own helper library the way a shared key
 * signs them (twilio-node 6.3 and later), for t/twanon_webhook_keys.t.
 *
 * Usage: node sharedkey.js '<json>', the JSON an array of
 *   {id, secret, url, params, settings}
 * where "settings" is an X-Twilio-Webhooks-Signature-Settings value, or
 * null for a webhook signed with the Auth Token.  For each case it prints
 *   "sig <id> <algorithm> <signature>"
 * with the algorithm twilio.getSignatureAlgorithm() reads from the header
 * and the signature twilio.getExpectedTwilioSignature() computes under
 * it, after checking that twilio.validateRequest() accepts it under the
 * same secret and refuses it under another.  Prints "not ok - <detail>"
 * and exits with 1 if a check failed, 2 on bad input.
 */

const twilio = require('twilio');

let cases;

try {
    cases = JSON.parse(process.argv[2]);

    if (!Array.isArray(cases)) {
        throw new Error('not an array');
    }

} catch (e) {
    console.log('not ok - bad input: ' + e.message);
    process.exit(2);
}

let failed = 0;

for (const c of cases) {
    const algorithm = twilio.getSignatureAlgorithm(c.settings);
    const sig = twilio.getExpectedTwilioSignature(c.secret, c.url, c.params,
                                                  algorithm);

    if (!twilio.validateRequest(c.secret, sig, c.url, c.params, algorithm)) {
        console.log('not ok - validateRequest refuses ' + c.id);
        failed++;
    }

    if (twilio.validateRequest(c.secret + 'x', sig, c.url, c.params,
                               algorithm))
    {
        console.log('not ok - validateRequest accepts ' + c.id
                    + ' under another secret');
        failed++;
    }

    console.log('sig ' + c.id + ' ' + algorithm + ' ' + sig);
}

process.exit(failed ? 1 : 0);
