'use strict';

/*
 * Cross-checks the incoming-call webhook of ngx_http_twanon_module against
 * Twilio's own helper library.
 *
 * Usage:
 *   node webhook.js '<json>'
 *   echo '<json>' | node webhook.js
 *
 * The JSON object holds one of:
 *
 *   sign    an array of {id, authToken, url, params}: for each, prints
 *           "sig <id> <signature>" with the signature that
 *           twilio.getExpectedTwilioSignature() computes (params values
 *           may be arrays, for a name given several times), and checks
 *           that twilio.validateRequest() accepts it for the same url and
 *           params and refuses it under another auth token.
 *
 *   authToken, url and params: the same for one request, whose id is
 *           "request".
 *
 *   resolve an array of {base, ref}: for each, prints "url <resolved>",
 *           ref resolved against base by the WHATWG URL parser, as
 *           Twilio resolves a relative <Dial> action against the URL it
 *           requested.
 *
 *   twiml   the TwiML document the module sent, with
 *   expect  what it should hold, built here with twilio.twiml.VoiceResponse:
 *             {dial: {<attributes passed to response.dial()>},
 *              clients: [{identity, parameters: [{name, value}, ...]}]}
 *           or
 *             {say: {attributes: {...}, text}}
 *           or
 *             {hangup: true}
 *           or
 *             {dial: {<attributes>}, number: '+15550100'}
 *           Both documents are parsed (by the small strict XML parser
 *           below) and compared: the XML declaration, element names,
 *           attributes as sets, text, and the order of children.
 *
 * Prints one line per check, "ok - name" or "not ok - name: detail", and
 * exits with 0 only if every check passed (1 if one failed, 2 on bad
 * input).
 */

const fs = require('fs');
const twilio = require('twilio');

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


/* signatures */

function sign(cases) {
    for (const c of cases) {
        if (typeof c.id !== 'string' || typeof c.authToken !== 'string'
            || typeof c.url !== 'string' || typeof c.params !== 'object')
        {
            throw new Error('a "sign" case needs id, authToken, url and '
                            + 'params');
        }

        const sig = twilio.getExpectedTwilioSignature(c.authToken, c.url,
                                                       c.params);

        console.log('sig ' + c.id + ' ' + sig);

        report('validateRequest accepts ' + c.id,
               twilio.validateRequest(c.authToken, sig, c.url, c.params));

        report('validateRequest refuses ' + c.id + ' under another token',
               !twilio.validateRequest(c.authToken + 'x', sig, c.url,
                                       c.params));
    }
}


/*
 * A small strict XML parser, enough for TwiML: a declaration, elements,
 * attributes, text, character and the five predefined entity references,
 * comments and CDATA.  No DTD, no processing instructions but the
 * declaration.  Returns {declaration: {...}, root: element}, where an
 * element is {name, attributes: {name: value}, children: [...]} and a
 * text node is {text}.  Attribute values are normalized as XML 1.0
 * section 3.3.3 says (literal whitespace becomes a space, references are
 * kept as they are).
 */

const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*/;
const ENTITIES = {lt: '<', gt: '>', amp: '&', quot: '"', apos: "'"};


function parseXml(s) {
    let pos = 0;

    function fail(what) {
        throw new Error(what + ' at offset ' + pos + ': '
                        + JSON.stringify(s.slice(pos, pos + 20)));
    }

    function skipSpace() {
        while (pos < s.length && ' \t\r\n'.includes(s[pos])) {
            pos++;
        }
    }

    function name() {
        const m = NAME.exec(s.slice(pos));

        if (m === null) {
            fail('name expected');
        }

        pos += m[0].length;
        return m[0];
    }

    function reference() {
        const end = s.indexOf(';', pos);

        if (end < 0) {
            fail('unterminated reference');
        }

        const ref = s.slice(pos + 1, end);
        let ch;

        if (/^#x[0-9A-Fa-f]+$/.test(ref)) {
            ch = String.fromCodePoint(parseInt(ref.slice(2), 16));

        } else if (/^#[0-9]+$/.test(ref)) {
            ch = String.fromCodePoint(parseInt(ref.slice(1), 10));

        } else if (Object.prototype.hasOwnProperty.call(ENTITIES, ref)) {
            ch = ENTITIES[ref];

        } else {
            fail('unknown reference');
        }

        pos = end + 1;
        return ch;
    }

    function attributes() {
        const attrs = {};

        for ( ;; ) {
            const before = pos;
            skipSpace();

            if (s[pos] === '>' || s.startsWith('/>', pos)
                || s.startsWith('?>', pos))
            {
                return attrs;
            }

            if (pos === before) {
                fail('space expected before an attribute');
            }

            const n = name();

            skipSpace();

            if (s[pos] !== '=') {
                fail('"=" expected');
            }

            pos++;
            skipSpace();

            const quote = s[pos];

            if (quote !== '"' && quote !== "'") {
                fail('quote expected');
            }

            pos++;

            let value = '';

            while (s[pos] !== quote) {
                if (pos >= s.length || s[pos] === '<') {
                    fail('bad attribute value');
                }

                if (s[pos] === '&') {
                    value += reference();

                } else {
                    value += '\t\r\n'.includes(s[pos]) ? ' ' : s[pos];
                    pos++;
                }
            }

            pos++;

            if (Object.prototype.hasOwnProperty.call(attrs, n)) {
                fail('duplicate attribute "' + n + '"');
            }

            attrs[n] = value;
        }
    }

    function element() {
        if (s[pos] !== '<') {
            fail('element expected');
        }

        pos++;

        const el = {name: name(), attributes: attributes(), children: []};

        if (s.startsWith('/>', pos)) {
            pos += 2;
            return el;
        }

        if (s[pos] !== '>') {
            fail('">" expected');
        }

        pos++;

        let text = '';

        function flush() {
            if (text !== '') {
                el.children.push({text: text});
                text = '';
            }
        }

        for ( ;; ) {
            if (pos >= s.length) {
                fail('unterminated element "' + el.name + '"');
            }

            if (s.startsWith('</', pos)) {
                pos += 2;

                if (name() !== el.name) {
                    fail('mismatched end tag for "' + el.name + '"');
                }

                skipSpace();

                if (s[pos] !== '>') {
                    fail('">" expected');
                }

                pos++;
                flush();
                return el;
            }

            if (s.startsWith('<!--', pos)) {
                const end = s.indexOf('-->', pos + 4);

                if (end < 0) {
                    fail('unterminated comment');
                }

                pos = end + 3;

            } else if (s.startsWith('<![CDATA[', pos)) {
                const end = s.indexOf(']]>', pos + 9);

                if (end < 0) {
                    fail('unterminated CDATA');
                }

                text += s.slice(pos + 9, end);
                pos = end + 3;

            } else if (s[pos] === '<') {
                flush();
                el.children.push(element());

            } else if (s[pos] === '&') {
                text += reference();

            } else if (s.startsWith(']]>', pos)) {
                fail('"]]>" in text');

            } else {
                text += s[pos];
                pos++;
            }
        }
    }

    function misc() {
        for ( ;; ) {
            skipSpace();

            if (!s.startsWith('<!--', pos)) {
                return;
            }

            const end = s.indexOf('-->', pos + 4);

            if (end < 0) {
                fail('unterminated comment');
            }

            pos = end + 3;
        }
    }

    let declaration = null;

    if (s.startsWith('<?xml', pos)) {
        pos += 5;
        declaration = attributes();

        if (!s.startsWith('?>', pos)) {
            fail('"?>" expected');
        }

        pos += 2;
    }

    misc();

    const root = element();

    misc();

    if (pos !== s.length) {
        fail('content after the root element');
    }

    return {declaration: declaration, root: root};
}


/*
 * Every difference between two parsed elements, as "path: module X,
 * reference Y".  Attributes are compared as sets; children in order.
 */

function differences(mod, ref, path, out) {
    path = path + '/' + ref.name;

    if (mod.name !== ref.name) {
        out.push(path + ': module element ' + show(mod.name));
        return out;
    }

    const names = new Set(Object.keys(mod.attributes)
                          .concat(Object.keys(ref.attributes)));

    for (const n of [...names].sort()) {
        if (mod.attributes[n] !== ref.attributes[n]) {
            out.push(path + '@' + n + ': module '
                     + show(mod.attributes[n]) + ', reference '
                     + show(ref.attributes[n]));
        }
    }

    const count = Math.max(mod.children.length, ref.children.length);

    for (let i = 0; i < count; i++) {
        const m = mod.children[i];
        const r = ref.children[i];
        const at = path + '[' + i + ']';

        if (m === undefined || r === undefined) {
            out.push(at + ': module ' + describe(m) + ', reference '
                     + describe(r));

        } else if ('text' in m || 'text' in r) {
            if (m.text !== r.text) {
                out.push(at + ': module ' + describe(m) + ', reference '
                         + describe(r));
            }

        } else {
            differences(m, r, at, out);
        }
    }

    return out;
}


function describe(node) {
    if (node === undefined) {
        return '(absent)';
    }

    return 'text' in node ? 'text ' + show(node.text)
                          : 'element ' + show(node.name);
}


function reference(expect) {
    const response = new twilio.twiml.VoiceResponse();

    if (expect.say) {
        response.say(expect.say.attributes || {}, expect.say.text);
        return response.toString();
    }

    if (expect.hangup) {
        response.hangup();
        return response.toString();
    }

    if (expect.number) {
        response.dial(expect.dial).number(expect.number);
        return response.toString();
    }

    if (!expect.dial || !Array.isArray(expect.clients)) {
        throw new Error('"expect" needs "say", or "dial" and "clients"');
    }

    const dial = response.dial(expect.dial);

    for (const c of expect.clients) {
        const client = dial.client();

        client.identity(c.identity);

        for (const p of c.parameters || []) {
            client.parameter({name: p.name, value: p.value});
        }
    }

    return response.toString();
}


function twiml(input) {
    if (typeof input.twiml !== 'string' || typeof input.expect !== 'object') {
        throw new Error('"twiml" must be a string and "expect" an object');
    }

    const ref = reference(input.expect);
    let mod, refDoc;

    try {
        mod = parseXml(input.twiml);
        report('module twiml is well-formed', true);

    } catch (e) {
        report('module twiml is well-formed', false, e.message);
        return;
    }

    try {
        refDoc = parseXml(ref);
        report('twilio twiml is well-formed', true);

    } catch (e) {
        report('twilio twiml is well-formed', false, e.message + ' in ' + ref);
        return;
    }

    const decl = JSON.stringify(mod.declaration);

    report('declaration matches twilio',
           decl === JSON.stringify(refDoc.declaration),
           'module ' + decl + ', reference '
           + JSON.stringify(refDoc.declaration));

    const diff = differences(mod.root, refDoc.root, '', []);

    report('document matches twilio', diff.length === 0,
           diff.join('; ') + ' (reference ' + ref + ')');
}


function main() {
    let input;

    try {
        const text = process.argv.length > 2 ? process.argv[2]
                                             : fs.readFileSync(0, 'utf8');
        input = JSON.parse(text);

        if (input === null || typeof input !== 'object') {
            throw new Error('not a JSON object');
        }

    } catch (e) {
        console.log('not ok - input: ' + e.message);
        process.exit(2);
    }

    try {
        if (Array.isArray(input.sign)) {
            sign(input.sign);

        } else if (Array.isArray(input.resolve)) {
            for (const c of input.resolve) {
                console.log('url ' + new URL(c.ref, c.base).href);
            }

        } else if (input.authToken !== undefined) {
            sign([{id: 'request', authToken: input.authToken,
                   url: input.url, params: input.params}]);

        } else {
            twiml(input);
        }

    } catch (e) {
        console.log('not ok - input: ' + e.message);
        process.exit(2);
    }
}


try {
    main();

} catch (e) {
    report('internal error', false, e.stack);
}

process.exitCode = failed === 0 ? 0 : 1;
