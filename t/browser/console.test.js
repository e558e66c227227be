/*
 * Browser test of the operator console (html/), in Debian's headless
 * Chromium driven by playwright-core. Run by t/twanon_console.t, which
 * starts nginx with the module, serves html/ and gets the TwiML of a
 * signed webhook from /incoming:
 *
 *   TWANON_BASE=http://127.0.0.1:PORT TWANON_TWIML_FILE=twiml.xml \
 *   TWANON_CALLER=+15559876543 node console.test.js
 *
 * The real SDK cannot reach Twilio here, so vendor/twilio.min.js is
 * replaced (page.route) by a test double: its Device records the tokens
 * it is given, registers at once and rings on window.__twanonTest.ring()
 * with a call whose customParameters are the <Parameter>s of the module's
 * TwiML and whose parameters.From is the caller's number, which the page
 * must never show.
 *
 * Prints one "ok - name" or "not ok - name" line per check, "#" lines for
 * diagnostics, and exits non-zero if a check failed. The ringing state is
 * saved to out/ringing.png (with waiting, in call, error, SDK error, demo,
 * Japanese and phone-sized views next to it); TWANON_DOCS_SCREENSHOT=1 also copies
 * it to docs/console.png, the README's picture (TWANON_DOCS_SCREENSHOT=
 * /some/file.png to another path). It is not copied by default, so that a
 * test run leaves the tracked file alone.
 */

'use strict';

const fs = require('fs');
const path = require('path');

const { chromium } = require('playwright-core');

const BASE = (process.env.TWANON_BASE || process.argv[2] || '')
    .replace(/\/+$/, '');
const TWIML_FILE = process.env.TWANON_TWIML_FILE || process.argv[3];
const CALLER = process.env.TWANON_CALLER || process.argv[4] || '+15559876543';
const CALLEE = process.env.TWANON_CALLEE || '+15550100';
const CHROMIUM = process.env.TWANON_CHROMIUM || '/usr/bin/chromium';
const CSP = process.env.TWANON_CSP || '';
const TO = process.env.TWANON_TO || '+15557654321';
const OUT = path.join(__dirname, 'out');
const DOCS_SHOT = process.env.TWANON_DOCS_SCREENSHOT === '1'
    ? path.join(__dirname, '..', '..', 'docs', 'console.png')
    : (process.env.TWANON_DOCS_SCREENSHOT || '');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

const WAIT = 8000;

let failed = 0;
let checks = 0;

function say(line)
{
    process.stdout.write(line + '\n');
}

function diag(text)
{
    for (const line of String(text).split('\n')) {
        say('# ' + line);
    }
}

function ok(cond, name, why)
{
    checks++;
    say((cond ? 'ok' : 'not ok') + ' - ' + name);

    if (!cond) {
        failed++;

        if (why !== undefined) {
            diag(why);
        }
    }

    return !!cond;
}

/* a check that passes when fn() resolves; a throw fails it */

async function check(name, fn)
{
    try {
        const r = await fn();

        if (r === false) {
            return ok(false, name, 'condition false');
        }

        return ok(true, name);

    } catch (e) {
        return ok(false, name, e && e.stack ? e.stack : String(e));
    }
}

function assert(cond, message)
{
    if (!cond) {
        throw new Error(message);
    }
}

/* ------------------------------------------------------------------------
 * The TwiML: <Parameter name value> of the first <Client>
 */

function xmlUnescape(s)
{
    return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g,
        (m, e) => {
            if (e[0] === '#') {
                return String.fromCodePoint(e[1] === 'x'
                    ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
            }

            return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[e];
        });
}

function twimlParameters(twiml)
{
    const client = /<Client>([\s\S]*?)<\/Client>/.exec(twiml);
    const params = {};

    assert(client, 'no <Client> in the TwiML');

    for (const m of client[1].matchAll(/<Parameter\s([^>]*?)\/?>/g)) {
        const attrs = {};

        for (const a of m[1].matchAll(/([\w:-]+)\s*=\s*"([^"]*)"/g)) {
            attrs[a[1]] = xmlUnescape(a[2]);
        }

        if (attrs.name !== undefined) {
            params[attrs.name] = attrs.value;
        }
    }

    return params;
}

/* ------------------------------------------------------------------------
 * The caller's number: its digits must appear nowhere, with or without
 * separators between them
 */

const DIGITS = CALLER.replace(/\D/g, '');

const CALLER_PATTERNS = [
    DIGITS,
    DIGITS.slice(-10),
    DIGITS.slice(-7),
].filter((d, i, all) => d.length >= 7 && all.indexOf(d) === i)
    .map((d) => new RegExp(d.split('').join('\\D{0,3}')));

async function pageText(page)
{
    return page.evaluate(() => [
        document.documentElement.outerHTML,
        document.body.innerText,
        document.title,
        Array.from(document.querySelectorAll('select'))
            .map((s) => s.value).join(' '),
    ].join('\n'));
}

/* the customer's number on a callback, which the page never gets */

const CALLEE_DIGITS = CALLEE.replace(/\D/g, '');

const CALLEE_PATTERNS = [CALLEE_DIGITS, CALLEE_DIGITS.slice(-7)]
    .filter((d, i, all) => d.length >= 7 && all.indexOf(d) === i)
    .map((d) => new RegExp(d.split('').join('\\D{0,3}')));

async function noCalleeDigits(page)
{
    const text = await pageText(page) + '\n'
        + await page.evaluate(() => document.body.innerHTML);
    const hits = CALLEE_PATTERNS.filter((re) => re.test(text));

    assert(hits.length === 0, 'customer digits found: '
        + hits.map((re) => re.source).join('; '));
}

async function noCallerDigits(page)
{
    const text = await pageText(page);
    const hits = CALLER_PATTERNS.filter((re) => re.test(text));

    assert(hits.length === 0, 'caller digits found: '
        + hits.map((re) => re.source + ' at "'
            + text.slice(Math.max(0, text.search(re) - 40),
                         text.search(re) + 40) + '"').join('; '));
}

/* ------------------------------------------------------------------------
 * The test double for vendor/twilio.min.js
 */

const FAKE_SDK = `(function () {
'use strict';

class Emitter {
    constructor() { this._h = {}; }
    on(n, f) { (this._h[n] = this._h[n] || []).push(f); return this; }
    off(n, f) { this._h[n] = (this._h[n] || []).filter((g) => g !== f); return this; }
    emit(n, ...a) { for (const f of (this._h[n] || []).slice()) f(...a); }
}

const rec = { tokens: [], options: [], updates: [], registers: 0,
              destroyed: 0, inputs: [], speakers: [], ringtones: [],
              calls: [], connects: [] };

function dev(kind, deviceId, label) {
    return { kind, deviceId, label, groupId: deviceId };
}

class FakeAudio extends Emitter {
    constructor() {
        super();
        this.availableInputDevices = new Map([
            ['default', dev('audioinput', 'default', 'Default - Test headset microphone')],
            ['mic-usb', dev('audioinput', 'mic-usb', 'USB headset microphone')]]);
        this.availableOutputDevices = new Map([
            ['default', dev('audiooutput', 'default', 'Default - Test speakers')],
            ['spk-usb', dev('audiooutput', 'spk-usb', 'USB headset earpiece')]]);
        this.isOutputSelectionSupported = true;
        this.inputDevice = null;
        const speakers = new Set([this.availableOutputDevices.get('default')]);
        this.speakerDevices = {
            get: () => speakers,
            set: async (ids) => {
                rec.speakers.push([].concat(ids));
                speakers.clear();
                for (const id of [].concat(ids)) {
                    speakers.add(this.availableOutputDevices.get(id));
                }
            },
        };
        const ringtones = new Set([this.availableOutputDevices.get('default')]);
        this.ringtoneDevices = {
            get: () => ringtones,
            set: async (ids) => {
                rec.ringtones.push([].concat(ids));
                ringtones.clear();
                for (const id of [].concat(ids)) {
                    const d = this.availableOutputDevices.get(id);
                    if (!d) throw new Error('Devices not found: ' + id);
                    ringtones.add(d);
                }
            },
        };
    }
    async setInputDevice(id) {
        rec.inputs.push(id);
        const d = this.availableInputDevices.get(id);
        if (!d) throw new Error('no such device');
        this.inputDevice = d;
    }
}

class FakeCall extends Emitter {
    constructor(custom, from) {
        super();
        this.customParameters = new Map(Object.entries(custom));
        this.parameters = { From: from, To: 'client:operator1',
                            CallSid: 'CA' + '0123456789abcdef'.repeat(2) };
        this._status = 'pending';
        this._muted = false;
        this.accepted = 0;
        this.rejected = 0;
        this.ignored = 0;
        this.disconnected = 0;
    }
    accept() {
        this.accepted++;
        this._status = 'open';
        setTimeout(() => this.emit('accept', this), 20);
    }
    reject() { this.rejected++; this._status = 'closed'; this.emit('reject'); }
    /* like the SDK's: closed locally, Twilio is told nothing, no event */
    ignore() { this.ignored++; this._status = 'closed'; }
    disconnect() {
        this.disconnected++;
        this._status = 'closed';
        this.emit('disconnect', this);
    }
    mute(m) { this._muted = m !== false; this.emit('mute', this._muted, this); }
    isMuted() { return this._muted; }
    status() { return this._status; }
}

class FakeDevice extends Emitter {
    constructor(token, options) {
        super();
        rec.tokens.push(token);
        rec.options.push(options);
        this.state = 'unregistered';
        this.audio = new FakeAudio();
        rec.device = this;
    }
    async register() {
        rec.registers++;
        await new Promise((r) => setTimeout(r, 20));
        this.state = 'registered';
        this.emit('registered');
    }
    async unregister() { this.state = 'unregistered'; this.emit('unregistered'); }
    updateToken(token) { rec.updates.push(token); }
    destroy() { rec.destroyed++; this.state = 'destroyed'; this.emit('destroyed'); }
    /*
     * an outgoing call: its parameters hold the customer's number here
     * (the SDK's do not), which the page must not read
     */
    async connect(opts) {
        rec.connects.push(JSON.parse(JSON.stringify(opts)));
        const call = new FakeCall((opts && opts.params) || {},
                                  'client:operator1');
        call.parameters.To = ${JSON.stringify(CALLEE)};
        call._status = 'connecting';
        rec.calls.push(call);
        return call;
    }
}

FakeDevice.isSupported = true;

window.Twilio = { Device: FakeDevice, Call: FakeCall };

const last = () => rec.calls[rec.calls.length - 1];

window.__twanonTest = {
    rec,
    ring(params, from) {
        const call = new FakeCall(params, from);
        rec.calls.push(call);
        rec.device.emit('incoming', call);
        return rec.calls.length - 1;
    },
    call(i) {
        const c = rec.calls[i === undefined ? rec.calls.length - 1 : i];
        return { accepted: c.accepted, rejected: c.rejected,
                 ignored: c.ignored, disconnected: c.disconnected,
                 muted: c._muted, status: c._status };
    },
    connects() { return rec.connects.slice(); },
    outRinging() { last()._status = 'ringing'; last().emit('ringing', false); },
    outAnswer() { last()._status = 'open'; last().emit('accept', last()); },
    outEnd() { last()._status = 'closed'; last().emit('disconnect', last()); },
    outError(code) {
        const e = new Error('test error ' + code);
        e.code = code;
        last().emit('error', e);
        last()._status = 'closed';
        last().emit('disconnect', last());
    },
    cancel(i) {
        const c = i === undefined ? last() : rec.calls[i];
        c._status = 'closed';
        c.emit('cancel');
    },
    registered() { rec.device.state = 'registered'; rec.device.emit('registered'); },
    reconnecting() { last().emit('reconnecting', { code: 53405 }); },
    reconnected() { last().emit('reconnected'); },
    tokenWillExpire() { rec.device.emit('tokenWillExpire', rec.device); },
    error(code) {
        const e = new Error('test error ' + code);
        e.code = code;
        rec.device.emit('error', e);
    },
    dropRegistration() {
        rec.device.state = 'unregistered';
        rec.device.emit('unregistered');
    },
    unplug() {
        const a = rec.device.audio;
        const lost = [];
        if (a.inputDevice && a.inputDevice.deviceId === 'mic-usb') {
            lost.push(a.inputDevice);
            a.inputDevice = a.availableInputDevices.get('default');
        }
        a.availableInputDevices.delete('mic-usb');
        a.emit('deviceChange', lost);
    },
    summary() {
        return { tokens: rec.tokens.slice(), options: rec.options.slice(),
                 updates: rec.updates.slice(), registers: rec.registers,
                 destroyed: rec.destroyed, inputs: rec.inputs.slice(),
                 speakers: rec.speakers.slice(),
                 ringtones: rec.ringtones.slice(), calls: rec.calls.length };
    },
};
})();
`;

/* ------------------------------------------------------------------------
 * Helpers over pages
 */

function jwtPayload(token)
{
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')
        .toString('utf8'));
}

async function newContext(browser, opts)
{
    const context = await browser.newContext(Object.assign({
        viewport: { width: 1000, height: 700 },
        locale: 'en-US',
    }, opts || {}));

    const requests = [];

    await context.grantPermissions(['microphone'], { origin: BASE });
    await context.route('**/vendor/twilio.min.js', (route) => route.fulfill({
        status: 200,
        contentType: 'application/javascript',
        body: FAKE_SDK,
    }));

    context.on('request', (req) => {
        requests.push(new URL(req.url()));
    });

    context.count = (pathname) =>
        requests.filter((u) => u.pathname === pathname).length;
    context.requests = requests;

    return context;
}

async function open(context, uri, setup)
{
    const page = await context.newPage();
    const errors = [];

    if (setup) {
        await setup(page);
    }

    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
        if (m.type() === 'error' && !/twilio\.min\.js|404/.test(m.text())) {
            errors.push(m.text());
        }
    });

    page.jsErrors = errors;

    await page.goto(BASE + uri);
    await page.waitForSelector('#start-button:not([disabled])',
                               { timeout: WAIT });

    return page;
}

async function state(page, name, timeout)
{
    await page.waitForSelector('body.state-' + name,
                               { timeout: timeout || WAIT });
}

async function text(page, selector)
{
    return (await page.textContent(selector)) || '';
}

async function visibleText(page, selector, pattern, timeout)
{
    await page.waitForFunction(([sel, source]) => {
        const el = document.querySelector(sel);

        return el && !el.hidden && el.offsetParent !== null
            && new RegExp(source).test(el.textContent);
    }, [selector, pattern.source], { timeout: timeout || WAIT });
}

async function shot(page, name)
{
    fs.mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, name) });
}

async function fake(page, fn, ...args)
{
    return page.evaluate(([name, a]) => window.__twanonTest[name](...a),
                         [fn, args]);
}

async function until(fn, timeout, what)
{
    const end = Date.now() + (timeout || WAIT);

    for ( ;; ) {
        if (await fn()) {
            return;
        }

        if (Date.now() > end) {
            throw new Error('timed out waiting for ' + (what || 'condition'));
        }

        await new Promise((r) => setTimeout(r, 100));
    }
}

/* ------------------------------------------------------------------------
 * The scenarios
 */

async function mainScenario(browser, params)
{
    const context = await newContext(browser);
    const page = await open(context, '/');

    await check('page loads with a Start button', async () => {
        assert(await text(page, '#start-button') === 'Start', 'no Start');
        assert(await page.isVisible('#start-button'), 'Start not visible');
    });

    await check('start asks for the microphone, registers, waits for calls',
        async () => {
            await page.click('#start-button');
            await state(page, 'waiting');
            await shot(page, 'waiting.png');
            assert(/Waiting for calls/.test(await text(page, '#panel-title')),
                   'title: ' + await text(page, '#panel-title'));
        });

    await check('the device got a token for operator1 with logLevel error',
        async () => {
            const s = await fake(page, 'summary');

            assert(s.tokens.length === 1, 'tokens: ' + s.tokens.length);
            assert(jwtPayload(s.tokens[0]).grants.identity === 'operator1',
                   'identity');
            assert(s.options[0].logLevel === 'error', 'logLevel');
            assert(s.options[0].closeProtection === true, 'closeProtection');
            assert(s.options[0].allowIncomingWhileBusy === true,
                   'allowIncomingWhileBusy');
            assert(s.registers === 1, 'registers: ' + s.registers);

            const tok = context.requests.filter((u) => u.pathname === '/token');

            assert(tok.length === 1
                   && tok[0].searchParams.get('identity') === 'operator1',
                   'token requests: ' + tok.map(String).join(' '));
        });

    await check('microphone and speaker pickers list the devices',
        async () => {
            const mics = await page.$$eval('#mic-select option',
                                           (o) => o.map((x) => x.value));
            const spk = await page.$$eval('#speaker-select option',
                                          (o) => o.map((x) => x.value));

            assert(mics.join() === 'default,mic-usb', 'mics: ' + mics);
            assert(spk.join() === 'default,spk-usb', 'speakers: ' + spk);
            assert(!(await page.isDisabled('#mic-select')), 'mic disabled');
        });

    /* ringing (the module's own parameters, whatever twanonRinging says) */

    await fake(page, 'ring', params, CALLER);

    await check('incoming call shows ringing with name and ID', async () => {
        await state(page, 'ringing');
        assert(await text(page, '#ring-name') === 'Hanako Yamada',
               'name: ' + await text(page, '#ring-name'));
        assert(await text(page, '#ring-id') === 'ID: C-1001',
               'id: ' + await text(page, '#ring-id'));
        assert(await page.isVisible('#answer-button'), 'no Answer');
        assert(await page.isVisible('#reject-button'), 'no Decline');
        assert(/Decline/.test(await text(page, '#reject-button')), 'label');
        assert(await page.isHidden('#ring-verify'), 'badge without verdict');
    });

    await check('aria-live region announces the incoming call', async () => {
        await page.waitForFunction(() => document.getElementById('announcer')
            .textContent === 'Incoming: Hanako Yamada (ID: C-1001)',
            null, { timeout: WAIT });
        assert(await page.getAttribute('#announcer', 'aria-live')
               === 'assertive', 'not assertive');
    });

    await check('focus moves to Answer', async () => {
        assert(await page.evaluate(() => document.activeElement.id)
               === 'answer-button', 'focus elsewhere');
    });

    await check('document title flashes while ringing', async () => {
        const seen = new Set();

        for (let i = 0; i < 12; i++) {
            seen.add(await page.title());
            await page.waitForTimeout(150);
        }

        assert([...seen].some((s) => /INCOMING CALL/.test(s)),
               'titles: ' + [...seen].join(' | '));
        assert(seen.size >= 2, 'title does not change: ' + [...seen]);
    });

    await check('no caller digits in the page while ringing',
                () => noCallerDigits(page));

    await check('screenshot of the ringing state saved', async () => {
        fs.mkdirSync(OUT, { recursive: true });

        const file = path.join(OUT, 'ringing.png');

        await page.mouse.move(0, 0);
        await page.screenshot({ path: file });

        assert(fs.statSync(file).size > 1000, 'empty screenshot');

        if (DOCS_SHOT) {
            fs.copyFileSync(file, DOCS_SHOT);
            diag('screenshot copied to ' + DOCS_SHOT);
        }
    });

    await check('keyboard: Tab reaches Reject with a visible focus ring',
        async () => {
            await page.keyboard.press('Tab');

            const f = await page.evaluate(() => {
                const el = document.activeElement;
                const cs = getComputedStyle(el);

                return { id: el.id, outline: cs.outlineStyle,
                         width: parseFloat(cs.outlineWidth) };
            });

            assert(f.id === 'reject-button', 'focus on ' + f.id);
            assert(f.outline !== 'none' && f.width >= 2,
                   'outline ' + f.outline + ' ' + f.width);

            await page.keyboard.press('Shift+Tab');
        });

    /* answer with the keyboard: timer, mute, reconnecting, hang up */

    await check('Enter on Answer accepts: in call, timer runs', async () => {
        assert(await page.evaluate(() => document.activeElement.id)
               === 'answer-button', 'focus not on Answer');
        await page.keyboard.press('Enter');
        await state(page, 'incall');
        assert((await fake(page, 'call')).accepted === 1, 'not accepted');
        assert(await text(page, '#call-name') === 'Hanako Yamada', 'name');
        assert(/^00:0[0-1]$/.test(await text(page, '#call-timer')),
               'timer: ' + await text(page, '#call-timer'));
        await page.waitForFunction(() => /^00:0[1-9]$/.test(
            document.getElementById('call-timer').textContent), null,
            { timeout: 3000 });
        assert(await page.evaluate(() => document.activeElement.id)
               === 'hangup-button', 'focus not on Hang up');
    });

    await check('title stops flashing once answered', async () => {
        await page.waitForTimeout(800);
        assert(!/INCOMING/.test(await page.title()), await page.title());
    });

    await check('mute and unmute', async () => {
        await page.click('#mute-button');
        assert(await text(page, '#mute-button') === 'Unmute', 'label');
        assert(await page.isVisible('#muted-flag'), 'no muted flag');
        assert((await fake(page, 'call')).muted === true, 'call not muted');

        await page.click('#mute-button');
        assert(await text(page, '#mute-button') === 'Mute', 'label again');
        assert(!(await page.isVisible('#muted-flag')), 'muted flag stays');
        assert((await fake(page, 'call')).muted === false, 'still muted');
    });

    await check('reconnecting and reconnected are shown', async () => {
        await page.click('#mute-button');
        await fake(page, 'reconnecting');
        await visibleText(page, '#reconnect-flag', /Reconnecting/);
        await page.waitForTimeout(300);
        await shot(page, 'incall.png');
        await page.click('#mute-button');
        await fake(page, 'reconnected');
        await visibleText(page, '#reconnect-flag', /^Reconnected\.$/);
    });

    /* call waiting: a second call during this one is shown */

    await check('a second call while in a call shows call waiting',
        async () => {
            const focus = await page.evaluate(() =>
                document.activeElement.id);

            await fake(page, 'ring', { customerName: 'Second Caller',
                                       customerId: 'C-2002',
                                       twanonRinging: '3' }, CALLER);
            await visibleText(page, '#waiting-panel', /Call waiting/);
            assert(await text(page, '#waiting-name') === 'Second Caller',
                   'name: ' + await text(page, '#waiting-name'));
            assert(await text(page, '#waiting-id') === 'ID: C-2002', 'id');
            assert(await page.isHidden('#waiting-verify'), 'badge');
            await state(page, 'incall');
            assert(await text(page, '#call-name') === 'Hanako Yamada',
                   'current call name');

            const c = await fake(page, 'call');

            assert(c.rejected === 0 && c.ignored === 0, JSON.stringify(c));
            assert(await page.evaluate(() => document.activeElement.id)
                   === focus, 'focus moved off ' + focus);
            await page.waitForFunction(() => document.getElementById(
                'announcer').textContent === 'Call waiting: Second Caller',
                null, { timeout: WAIT });
            await shot(page, 'waiting-call.png');
        });

    await check('no caller digits in the page with a call waiting',
                () => noCallerDigits(page));

    await check('call waiting, Decline with others ringing: ignore()',
        async () => {
            await page.click('#waiting-decline-button');
            await page.waitForSelector('#waiting-panel', { state: 'hidden',
                                                           timeout: WAIT });

            const c = await fake(page, 'call');

            assert(c.ignored === 1 && c.rejected === 0, JSON.stringify(c));
            await state(page, 'incall');
            assert((await fake(page, 'call', 0)).disconnected === 0,
                   'current call ended');
        });

    await check('call waiting, Decline when rung alone: reject()',
        async () => {
            await fake(page, 'ring', { customerName: 'Third',
                                       twanonRinging: '1' }, CALLER);
            await visibleText(page, '#waiting-name', /^Third$/);
            await page.click('#waiting-decline-button');
            await page.waitForSelector('#waiting-panel', { state: 'hidden',
                                                           timeout: WAIT });

            const c = await fake(page, 'call');

            assert(c.rejected === 1 && c.ignored === 0, JSON.stringify(c));
            await state(page, 'incall');
        });

    await check('call waiting: the caller hangs up, the panel goes away',
        async () => {
            const i = await fake(page, 'ring', { customerName: 'Fourth',
                                                 callerVerification:
                                                     'unverified' }, CALLER);

            await visibleText(page, '#waiting-name', /^Fourth$/);
            await visibleText(page, '#waiting-verify',
                              /Caller ID not verified/);
            await fake(page, 'cancel', i);
            await page.waitForSelector('#waiting-panel', { state: 'hidden',
                                                           timeout: WAIT });
            await state(page, 'incall');
            assert(await text(page, '#call-name') === 'Hanako Yamada',
                   'name');
        });

    await check('a third call while one waits is declined', async () => {
        const w = await fake(page, 'ring', { customerName: 'Fifth' }, CALLER);

        await visibleText(page, '#waiting-name', /^Fifth$/);

        await fake(page, 'ring', { customerName: 'Sixth' }, CALLER);

        const c = await fake(page, 'call');

        assert(c.ignored === 1 && c.rejected === 0, JSON.stringify(c));
        assert(await text(page, '#waiting-name') === 'Fifth', 'replaced');
        await fake(page, 'cancel', w);
        await page.waitForSelector('#waiting-panel', { state: 'hidden',
                                                       timeout: WAIT });
    });

    await check('no caller digits in the page during the call',
                () => noCallerDigits(page));

    await check('hang up returns to waiting', async () => {
        await page.click('#hangup-button');
        await state(page, 'waiting');
        assert((await fake(page, 'call', 0)).disconnected === 1,
               'not disconnected');
    });

    /* call waiting: end the current call and answer */

    await check('End current and answer: hangs up, takes the waiting call',
        async () => {
            await fake(page, 'ring', params, CALLER);
            await state(page, 'ringing');
            await page.click('#answer-button');
            await state(page, 'incall');

            const first = (await fake(page, 'summary')).calls - 1;

            await fake(page, 'ring', { customerName: 'Next Customer',
                                       customerId: 'C-3003' }, CALLER);
            await visibleText(page, '#waiting-name', /^Next Customer$/);
            await page.click('#waiting-answer-button');
            await page.waitForSelector('#waiting-panel', { state: 'hidden',
                                                           timeout: WAIT });
            await state(page, 'incall');
            await visibleText(page, '#call-name', /^Next Customer$/);
            assert((await fake(page, 'call', first)).disconnected === 1,
                   'first call not disconnected');
            assert((await fake(page, 'call')).accepted === 1,
                   'waiting call not accepted');
            assert(await text(page, '#call-id') === 'ID: C-3003', 'id');
            await page.click('#hangup-button');
            await state(page, 'waiting');
        });

    await check('the current call ends: the waiting call rings', async () => {
        await fake(page, 'ring', params, CALLER);
        await state(page, 'ringing');
        await page.click('#answer-button');
        await state(page, 'incall');
        await fake(page, 'ring', { customerName: 'Patient Customer' },
                   CALLER);
        await visibleText(page, '#waiting-name', /^Patient Customer$/);
        await page.click('#hangup-button');
        await state(page, 'ringing');
        assert(await text(page, '#ring-name') === 'Patient Customer',
               'name: ' + await text(page, '#ring-name'));
        await fake(page, 'cancel');
        await state(page, 'waiting');
    });

    /* Decline: ignore() unless this operator is the only one rung */

    const ringing = (n) => {
        const p = Object.assign({}, params);

        delete p.twanonRinging;

        if (n !== undefined) {
            p.twanonRinging = n;
        }

        return p;
    };

    await check('Decline with twanonRinging "3": ignore(), others ring on',
        async () => {
            await fake(page, 'ring', ringing('3'), CALLER);
            await state(page, 'ringing');
            await page.click('#reject-button');
            await state(page, 'waiting');

            const c = await fake(page, 'call');

            assert(c.ignored === 1 && c.rejected === 0, JSON.stringify(c));
            assert(/Declined: left ringing for others/.test(
                await text(page, '#log li:first-child')), 'log');
        });

    await check('Decline without twanonRinging: ignore()', async () => {
        await fake(page, 'ring', ringing(), CALLER);
        await state(page, 'ringing');
        await page.click('#reject-button');
        await state(page, 'waiting');

        const c = await fake(page, 'call');

        assert(c.ignored === 1 && c.rejected === 0, JSON.stringify(c));
    });

    await check('Decline with twanonRinging "1": reject(), caller moves on',
        async () => {
            await fake(page, 'ring', ringing('1'), CALLER);
            await state(page, 'ringing');
            await page.click('#reject-button');
            await state(page, 'waiting');

            const c = await fake(page, 'call');

            assert(c.rejected === 1 && c.ignored === 0, JSON.stringify(c));
            assert(/Declined: the caller moves on/.test(
                await text(page, '#log li:first-child')), 'log');
        });

    await check('a second call while one rings: declined by the same rule',
        async () => {
            const first = await fake(page, 'ring', ringing('2'), CALLER);

            await state(page, 'ringing');

            const alone = await fake(page, 'ring', ringing('1'), CALLER);
            const group = await fake(page, 'ring', ringing('4'), CALLER);

            /* rung alone: reject() at once; ignore() stops the SDK's
               one ring sound, so it waits for the ringing call */

            assert((await fake(page, 'call', alone)).rejected === 1,
                   'rung alone not rejected');

            let g = await fake(page, 'call', group);

            assert(g.ignored === 0 && g.rejected === 0,
                   'ignored while the other rings: ' + JSON.stringify(g));
            await state(page, 'ringing');
            assert(await text(page, '#ring-name') === 'Hanako Yamada',
                   'ringing call replaced');

            await page.click('#answer-button');
            await state(page, 'incall');
            g = await fake(page, 'call', group);
            assert(g.ignored === 1 && g.rejected === 0, JSON.stringify(g));
            assert(await page.isHidden('#waiting-panel'), 'shown as waiting');
            assert((await fake(page, 'call', first)).accepted === 1,
                   'first not accepted');
            await page.click('#hangup-button');
            await state(page, 'waiting');
        });

    /* the caller-ID verdict */

    await check('Caller ID not verified badge for "failed" and "unverified"',
        async () => {
            for (const v of ['failed', 'unverified']) {
                await fake(page, 'ring', Object.assign({}, params,
                    { callerVerification: v }), CALLER);
                await state(page, 'ringing');
                await visibleText(page, '#ring-verify',
                                  /^\s*i\s+Caller ID not verified\s*$/);
                await fake(page, 'cancel');
                await state(page, 'waiting');
            }

            await fake(page, 'ring', Object.assign({}, params,
                { callerVerification: 'failed' }), CALLER);
            await state(page, 'ringing');
            await shot(page, 'ringing-unverified.png');
            await page.click('#answer-button');
            await state(page, 'incall');
            assert(await page.isVisible('#call-verify'), 'not in call');
            await page.click('#hangup-button');
            await state(page, 'waiting');
        });

    await check('no badge without a verdict or for "passed"', async () => {
        for (const v of [undefined, 'passed', '']) {
            const p = Object.assign({}, params);

            if (v !== undefined) {
                p.callerVerification = v;
            }

            await fake(page, 'ring', p, CALLER);
            await state(page, 'ringing');
            assert(await page.isHidden('#ring-verify'),
                   'badge for ' + JSON.stringify(v));
            await fake(page, 'cancel');
            await state(page, 'waiting');
        }
    });

    await check('caller hangs up while ringing: ringing UI cleared',
        async () => {
            await fake(page, 'ring', params, CALLER);
            await state(page, 'ringing');
            await fake(page, 'cancel');
            await state(page, 'waiting');
            assert(!(await page.isVisible('#view-ringing')), 'still ringing');
            await page.waitForTimeout(800);
            assert(!/INCOMING/.test(await page.title()), await page.title());
            await page.waitForFunction(() => document.getElementById(
                'announcer').textContent === 'The caller hung up.', null,
                { timeout: WAIT });
        });

    await check('a phone number in the name or ID is never shown',
        async () => {
            await fake(page, 'ring', {
                customerName: 'Call back on +1 (555) 987-6543 please',
                customerId: '+1 555 987 6543',
                phone: CALLER,
            }, CALLER);
            await state(page, 'ringing');

            const name = await text(page, '#ring-name');
            const id = await text(page, '#ring-id');

            assert(name === 'Call back on ••• please', 'name: ' + name);
            assert(/hidden/.test(id) && !/\d{3}/.test(id), 'id: ' + id);
            await noCallerDigits(page);
            await fake(page, 'cancel');
            await state(page, 'waiting');
        });

    await check('a numeric customer ID is shown', async () => {
        await fake(page, 'ring', { customerName: '山田 花子',
                                   customerId: '20481234' }, CALLER);
        await state(page, 'ringing');
        assert(await text(page, '#ring-name') === '山田 花子', 'name');
        assert(await text(page, '#ring-id') === 'ID: 20481234', 'id');
        await fake(page, 'cancel');
        await state(page, 'waiting');
    });

    await check('activity log has events, no names, IDs or numbers',
        async () => {
            const log = await text(page, '#log');

            for (const k of ['Incoming call', 'Answered', 'Call ended',
                'Declined: the caller moves on',
                'Declined: left ringing for others', 'Call waiting',
                'Waiting caller hung up',
                'Ended the call to answer the waiting one',
                'Caller hung up before answer', 'Muted',
                'Unmuted', 'Reconnecting', 'Registered'])
            {
                assert(log.includes(k), 'missing "' + k + '" in ' + log);
            }

            for (const bad of ['Hanako', 'Yamada', 'C-1001', '山田',
                '20481234', '555', 'Second', 'C-2002', 'Next Customer'])
            {
                assert(!log.includes(bad), '"' + bad + '" in the log');
            }
        });

    /* audio devices */

    await check('choosing a microphone and a speaker', async () => {
        await page.selectOption('#mic-select', 'mic-usb');
        await page.selectOption('#speaker-select', 'spk-usb');
        await until(async () => {
            const s = await fake(page, 'summary');

            return s.inputs.includes('mic-usb')
                && s.speakers.some((x) => x[0] === 'spk-usb');
        }, WAIT, 'setInputDevice and speakerDevices.set');
    });

    await check('the ring sounds on the chosen speaker and the default',
        async () => {
            await until(async () =>
                (await fake(page, 'summary')).ringtones.length >= 1,
                WAIT, 'ringtoneDevices.set');

            const s = await fake(page, 'summary');
            const last = s.ringtones[s.ringtones.length - 1];

            assert(last.join() === 'spk-usb,default',
                   'ringtoneDevices: ' + JSON.stringify(s.ringtones));
            assert(s.speakers[s.speakers.length - 1].join() === 'spk-usb',
                   'speakerDevices: ' + JSON.stringify(s.speakers));
            assert(!(await page.isVisible('#info')), 'error shown');

            await page.selectOption('#speaker-select', 'default');
            await until(async () =>
                (await fake(page, 'summary')).ringtones.length >= 2,
                WAIT, 'ringtoneDevices.set again');

            const t = await fake(page, 'summary');

            assert(t.ringtones[t.ringtones.length - 1].join() === 'default',
                   'default: ' + JSON.stringify(t.ringtones));
        });

    await check('unplugged microphone: list refreshed, operator told',
        async () => {
            await fake(page, 'unplug');
            await visibleText(page, '#info-text', /unplugged/);

            const mics = await page.$$eval('#mic-select option',
                                           (o) => o.map((x) => x.value));

            assert(mics.join() === 'default', 'mics: ' + mics);
            assert(await page.inputValue('#mic-select') === 'default',
                   'selected ' + await page.inputValue('#mic-select'));
        });

    /* tokens and registration */

    await check('tokenWillExpire: /token fetched again, updateToken called',
        async () => {
            const before = context.count('/token');

            await fake(page, 'tokenWillExpire');
            await until(async () =>
                (await fake(page, 'summary')).updates.length === 1,
                WAIT, 'updateToken');
            assert(context.count('/token') === before + 1,
                   'token requests: ' + context.count('/token'));
        });

    await check('registration lost: shown, then registers again', async () => {
        await fake(page, 'dropRegistration');
        await state(page, 'offline');
        await visibleText(page, '#notice-text', /not receiving calls/);
        await state(page, 'waiting', 6000);
        assert(await page.isHidden('#notice'), 'error still shown');
        assert((await fake(page, 'summary')).registers === 2, 'registers');
    });

    /* a second tab */

    const page2 = await open(context, '/');

    await check('second tab is told which tab is live', async () => {
        await state(page2, 'elsewhere');
        await visibleText(page2, '#info-text', /live in another tab/);
        await page2.click('#start-button');
        await page2.waitForTimeout(300);
        assert((await fake(page2, 'summary')).tokens.length === 0,
               'second tab created a device');
        assert(await page2.isVisible('#takeover-button'), 'no takeover');
    });

    await check('taking over moves the calls to the second tab', async () => {
        await page2.click('#takeover-button');
        await state(page2, 'waiting');
        await state(page, 'elsewhere');
        await visibleText(page, '#info-text', /now ring in another tab/);
        assert((await fake(page, 'summary')).destroyed === 1,
               'first tab did not destroy its device');
        assert(/Live/.test(await page2.title()), await page2.title());
        assert(/Not live/.test(await page.title()), await page.title());
    });

    await check('closing the live tab tells the other one', async () => {
        await page2.goto('about:blank');
        await page2.close();
        await state(page, 'idle');
        await visibleText(page, '#info-text', /other tab was closed/);
    });

    await check('outgoing off: no dialer, no Call back', async () => {
        assert(await page.isHidden('#out-panel'), 'outgoing panel shown');
        assert(await page.$$eval('#out-recent li', (l) => l.length) === 0,
               'recent calls listed');
        assert(await page.$('.callback-button') === null, 'Call back');
        assert((await fake(page, 'connects')).length === 0, 'connect');
    });

    await check('no script errors on the page', async () => {
        assert(page.jsErrors.length === 0, page.jsErrors.join('\n'));
    });

    await context.close();
}

async function phoneScenario(browser, params)
{
    const context = await newContext(browser, {
        viewport: { width: 375, height: 740 }, isMobile: true,
        hasTouch: true, deviceScaleFactor: 2,
    });
    const page = await open(context, '/');

    await check('phone-sized screen: no sideways scrolling, big buttons',
        async () => {
            await page.click('#start-button');
            await state(page, 'waiting');
            await fake(page, 'ring', params, CALLER);
            await state(page, 'ringing');

            const m = await page.evaluate(() => ({
                scroll: document.documentElement.scrollWidth,
                width: window.innerWidth,
                answer: document.getElementById('answer-button')
                    .getBoundingClientRect(),
                reject: document.getElementById('reject-button')
                    .getBoundingClientRect(),
            }));

            assert(m.scroll <= m.width, 'scrollWidth ' + m.scroll);
            assert(m.answer.width >= 300 && m.answer.height >= 60,
                   'answer ' + JSON.stringify(m.answer));
            assert(m.answer.bottom <= 740, 'Answer below the fold');

            fs.mkdirSync(OUT, { recursive: true });
            await page.screenshot({ path: path.join(OUT, 'ringing-phone.png') });
        });

    await context.close();
}

async function refreshScenario(browser)
{
    const context = await newContext(browser);
    const page = await open(context, '/refresh/');

    await check('scheduled refresh from exp: /token_short again, updateToken',
        async () => {
            await page.click('#start-button');
            await state(page, 'waiting');

            await until(async () =>
                (await fake(page, 'summary')).updates.length >= 1,
                12000, 'updateToken');

            const s = await fake(page, 'summary');
            const first = jwtPayload(s.tokens[0]);
            const next = jwtPayload(s.updates[0]);

            assert(context.count('/token_short') >= 2,
                   'requests: ' + context.count('/token_short'));
            assert(first.exp - first.iat === 64, 'ttl ' + (first.exp - first.iat));
            assert(next.exp > first.exp, 'new token does not expire later');
            assert((await text(page, '#log')).includes('Token renewed'),
                   'not logged');
        });

    await context.close();
}

async function errorScenarios(browser)
{
    let context = await newContext(browser);
    let page = await open(context, '/fail/');

    await check('token server error shown in plain words and retried',
        async () => {
            await page.click('#start-button');
            await visibleText(page, '#notice-text',
                /token server had a problem \(HTTP 500\).*Trying again in/);
            await shot(page, 'error.png');
            await until(async () => context.count('/token_500') >= 2, 6000,
                        'a retry');
            assert(await page.isVisible('#retry-button'), 'no retry button');

            const before = context.count('/token_500');

            await page.click('#retry-button');
            await until(async () => context.count('/token_500') > before,
                        2000, 'the retry button');
            assert((await fake(page, 'summary')).tokens.length === 0,
                   'device created without a token');
        });

    await check('cancel stops the retries', async () => {
        await page.click('#cancel-button');
        await state(page, 'idle');

        const n = context.count('/token_500');

        await page.waitForTimeout(1500);
        assert(context.count('/token_500') === n, 'still retrying');
    });

    await context.close();

    context = await newContext(browser);
    page = await open(context, '/auth/');

    await check('token 401 says to sign in again', async () => {
        await page.click('#start-button');
        await visibleText(page, '#notice-text', /Sign in again/);
    });

    await context.close();

    context = await newContext(browser);
    await context.route('**/token_net*', (route) => route.abort('failed'));
    page = await open(context, '/net/');

    await check('network failure says to check the connection', async () => {
        await page.click('#start-button');
        await visibleText(page, '#notice-text', /Check your network/);
    });

    await context.close();

    context = await newContext(browser);
    await context.addInitScript(() => {
        navigator.mediaDevices.getUserMedia = () => Promise.reject(
            new DOMException('Permission denied', 'NotAllowedError'));
    });
    page = await open(context, '/');

    await check('microphone denied: told how to allow it, no token asked',
        async () => {
            await page.click('#start-button');
            await visibleText(page, '#notice-text',
                              /Allow the microphone for this site/);
            await state(page, 'idle');
            assert(context.count('/token') === 0, 'token fetched');
            assert(await page.evaluate(() => document.activeElement.id)
                   === 'start-button', 'focus not back on Start');
        });

    await context.close();
}

/*
 * Twilio refuses the token again and again: the page waits 1 s, 2 s, 4 s
 * ... up to 60 s before each new token, says so, and starts again from
 * 1 s once a token works. Time is the page's fake clock (page.clock),
 * paused and moved on by the test; the token requests are real.
 */

async function backoffScenario(browser)
{
    const context = await newContext(browser);
    const page = await open(context, '/', (p) => p.clock.install());

    const notice = async () => (await page.isVisible('#notice'))
        ? await text(page, '#notice-text') : '';

    /* a refusal: the delay shown, nothing fetched until it is over */

    const refusal = async (code, most) => {
        const before = (await fake(page, 'summary')).updates.length;
        const requests = context.count('/token');

        await fake(page, 'error', code);

        let shown = '';

        await until(async () => /^Sign-in expired, retrying in \d+ s\./
            .test(shown = await notice()), WAIT, 'the notice');

        const n = Number(/retrying in (\d+) s/.exec(shown)[1]);

        assert(n <= most && n >= Math.floor(most * 0.9),
               'delay ' + n + ' s, expected about ' + most + ' s');
        assert(/\(Twilio error \d+\)$/.test(shown), 'notice: ' + shown);

        /* more refusals, or tokenWillExpire, during the wait add nothing */

        await fake(page, 'error', 20104);
        await fake(page, 'tokenWillExpire');

        if (n > 1) {
            await page.clock.runFor((n - 1) * 1000);
        }

        await page.waitForTimeout(150);
        assert(context.count('/token') === requests,
               'token fetched before the delay was over');
        assert((await fake(page, 'summary')).updates.length === before,
               'updateToken before the delay was over');

        await page.clock.runFor(1000);
        await until(async () =>
            (await fake(page, 'summary')).updates.length === before + 1,
            WAIT, 'updateToken after ' + n + ' s');
        assert(context.count('/token') === requests + 1,
               'token requests: ' + (context.count('/token') - requests));

        return n;
    };

    await check('token refused: start, then the clock is the test\'s',
        async () => {
            await page.click('#start-button');
            await until(async () => await page.evaluate(() =>
                document.body.classList.contains('state-waiting')),
                WAIT, 'waiting');
            await page.clock.pauseAt(Date.now() + 1000);
        });

    await check('refused again and again: 1, 2, 4 ... 60 s, then 60 s',
        async () => {
            const seen = [];
            const codes = [20101, 20104, 31204, 31205, 20101, 20101, 20101,
                20101];
            const expect = [1, 2, 4, 8, 16, 32, 60, 60];

            for (let i = 0; i < expect.length; i++) {
                seen.push(await refusal(codes[i], expect[i]));
            }

            diag('delays: ' + seen.join(' '));

            /* growing until the cap (each shortened by up to a tenth) */

            for (let i = 1; i < seen.length; i++) {
                assert(seen[i] <= 60 && (expect[i] === expect[i - 1]
                                         || seen[i] > seen[i - 1]),
                       'delays ' + seen.join(' '));
            }

            assert(/Sign-in refused: new token in \d+ s/.test(
                await text(page, '#log')), 'not in the activity log');
            await shot(page, 'sign-in-retry.png');
        });

    await check('registered: the backoff starts again from 1 s', async () => {
        await fake(page, 'registered');
        assert(await notice() === '', 'notice stays: ' + await notice());
        await refusal(20101, 1);
        await refusal(20101, 2);
    });

    await check('a token not refused for 10 s resets the backoff too',
        async () => {
            await page.clock.runFor(10500);
            assert(await notice() === '', 'notice stays: ' + await notice());
            await refusal(31205, 1);
        });

    await check('token refused: no script errors', async () => {
        assert(page.jsErrors.length === 0, page.jsErrors.join('\n'));
    });

    await context.close();
}

/* config.json names the verdict's parameter: callerVerificationParameter */

async function verifyScenario(browser, params)
{
    const context = await newContext(browser);
    const page = await open(context, '/verify/');

    await check('callerVerificationParameter names the verdict',
        async () => {
            await page.click('#start-button');
            await state(page, 'waiting');

            await fake(page, 'ring', Object.assign({}, params,
                { stirVerdict: 'Failed' }), CALLER);
            await state(page, 'ringing');
            await visibleText(page, '#ring-verify', /Caller ID not verified/);
            await page.waitForFunction(() => /Caller ID not verified$/.test(
                document.getElementById('announcer').textContent), null,
                { timeout: WAIT });
            await fake(page, 'cancel');
            await state(page, 'waiting');

            await fake(page, 'ring', Object.assign({}, params,
                { callerVerification: 'failed' }), CALLER);
            await state(page, 'ringing');
            assert(await page.isHidden('#ring-verify'),
                   'the default name still read');
            await fake(page, 'cancel');
            await state(page, 'waiting');
        });

    await context.close();
}

async function japaneseScenario(browser, params)
{
    const context = await newContext(browser);
    const page = await open(context, '/ja/');

    await check('Japanese strings with language "ja"', async () => {
        assert(await text(page, '#start-button') === '開始',
               'start: ' + await text(page, '#start-button'));
        assert(await page.getAttribute('html', 'lang') === 'ja', 'lang');

        await page.click('#start-button');
        await state(page, 'waiting');
        assert(await text(page, '#panel-title') === '着信を待っています',
               'title: ' + await text(page, '#panel-title'));

        await fake(page, 'ring', params, CALLER);
        await state(page, 'ringing');
        assert(/応答/.test(await text(page, '#answer-button')), 'answer');
        assert(/拒否/.test(await text(page, '#reject-button')), 'reject');
        await page.waitForFunction(() => document.getElementById('announcer')
            .textContent === '着信: Hanako Yamada 様(ID: C-1001)', null,
            { timeout: WAIT });

        fs.mkdirSync(OUT, { recursive: true });
        await page.screenshot({ path: path.join(OUT, 'ringing-ja.png') });
    });

    await context.close();
}

async function demoScenario(browser)
{
    const context = await newContext(browser);
    const page = await open(context, '/demo/');

    await check('demo mode: DemoDevice registers with a real token',
        async () => {
            assert(await page.isVisible('#demo-panel'), 'no demo panel');
            assert(await page.isDisabled('#simulate-button'),
                   'simulate enabled before start');
            await page.click('#start-button');
            await state(page, 'waiting');
            assert((await fake(page, 'summary')).tokens.length === 0,
                   'Twilio.Device used in demo mode');
            assert(context.count('/token') === 1, 'no token fetched');
        });

    await check('demo mode: simulated call rings with the TwiML parameters',
        async () => {
            await page.selectOption('#demo-caller', '1');
            await page.click('#simulate-button');
            await state(page, 'ringing');
            assert(context.count('/demo/simulate') === 1, 'not fetched');
            assert(await text(page, '#ring-name') === 'Hanako Yamada',
                   'name: ' + await text(page, '#ring-name'));
            assert(await text(page, '#ring-id') === 'ID: C-1001', 'id');
            assert(!await page.isDisabled('#demo-ringout-button'),
                   'ring out disabled while ringing');
            await noCallerDigits(page);
            await shot(page, 'demo.png');
        });

    await check('demo mode: answer, then the caller hangs up', async () => {
        await page.click('#answer-button');
        await state(page, 'incall');
        assert(await page.isDisabled('#demo-ringout-button'),
               'ring out enabled in a call');
        await page.click('#mute-button');
        assert(await text(page, '#mute-button') === 'Unmute', 'mute');
        await page.click('#demo-hangup-button');
        await state(page, 'waiting');
    });

    await check('demo mode: an unknown caller is not routed', async () => {
        await page.selectOption('#demo-caller', '2');
        await page.click('#simulate-button');
        await visibleText(page, '#info-text', /not routed/);
        await state(page, 'waiting');
    });

    /*
     * the whole call: rings, rings out (attempt=1: a <Dial> of two
     * operators), rings again, rings out (attempt=2: a <Record>)
     */

    const attempts = () => context.requests
        .filter((u) => u.pathname === '/demo/simulate')
        .map((u) => u.searchParams.get('caller') + ':'
             + (u.searchParams.get('attempt') || ''));

    const logText = async () => text(page, '#log');

    await check('demo mode: ring out rings the next group', async () => {
        await page.selectOption('#demo-caller', '1');
        await page.click('#simulate-button');
        await state(page, 'ringing');
        assert(await page.isHidden('#demo-step'), 'step shown before');

        await page.click('#demo-ringout-button');
        await visibleText(page, '#demo-step',
            /^Nobody answered: ringing the next group \(2 operators\)$/);
        await state(page, 'ringing');

        assert(attempts().slice(-2).join(' ') === '1: 1:1',
               'requests: ' + attempts().join(' '));
        assert(await text(page, '#ring-name') === 'Hanako Yamada',
               'name: ' + await text(page, '#ring-name'));
        assert(await text(page, '#ring-id') === 'ID: C-1001', 'id');
        assert(!await page.isDisabled('#demo-ringout-button'),
               'ring out disabled on the second ring');

        const log = await logText();

        assert(/Nobody answered: the ring ended/.test(log), 'log: ' + log);
        assert(/Next group rung \(2 operators\)/.test(log), 'log: ' + log);
        assert(!/Caller hung up/.test(log.split('Simulated')[0]),
               'ring out logged as a hang-up');
        await noCallerDigits(page);
    });

    await check('demo mode: second ring out offers voicemail', async () => {
        await page.click('#demo-ringout-button');
        await visibleText(page, '#demo-step',
            /^Nobody answered: the caller is offered voicemail$/);
        await state(page, 'waiting');

        assert(attempts().slice(-1)[0] === '1:2',
               'requests: ' + attempts().join(' '));
        assert(await page.isDisabled('#demo-ringout-button'),
               'ring out enabled after the voicemail');
        assert(/Caller offered voicemail/.test(await logText()),
               'log: ' + await logText());

        /* the TwiML's callerId is a number: never shown */

        const to = TO.replace(/\D/g, '').slice(-10);
        const html = await pageText(page);

        assert(!new RegExp(to.split('').join('\\D{0,3}')).test(html),
               'the <Dial> callerId is on the page');
        assert(!/callerId|<Record|<Dial/.test(await text(page, '#main')),
               'raw TwiML on the page');
        await noCallerDigits(page);
        await shot(page, 'demo-ringout.png');
    });

    await check('demo mode: a new simulated call clears the step',
        async () => {
            await page.click('#simulate-button');
            await state(page, 'ringing');
            assert(await page.isHidden('#demo-step'), 'step still shown');
            await page.click('#reject-button');
            await state(page, 'waiting');
        });

    await check('demo mode: a <Hangup/> after the ring ends the call',
        async () => {
            await page.selectOption('#demo-caller', '3');
            await page.click('#simulate-button');
            await state(page, 'ringing');
            assert(await text(page, '#ring-name') === 'Kenji Sato', 'name');

            await page.click('#demo-ringout-button');
            await visibleText(page, '#demo-step', /^Call ended$/);
            await state(page, 'waiting');

            assert(attempts().slice(-2).join(' ') === '3: 3:1',
                   'requests: ' + attempts().join(' '));
            assert(/Call ended by the TwiML/.test(await logText()),
                   'log: ' + await logText());
        });

    await check('demo mode: a <Dial> with no action ends at its ring out',
        async () => {
            await page.selectOption('#demo-caller', '4');
            await page.click('#simulate-button');
            await state(page, 'ringing');

            const before = attempts().length;

            await page.click('#demo-ringout-button');
            await visibleText(page, '#demo-step', /^Call ended$/);
            await state(page, 'waiting');

            assert(attempts().length === before,
                   'requests: ' + attempts().join(' '));
            await noCallerDigits(page);
        });

    await check('demo mode: no script errors', async () => {
        assert(page.jsErrors.length === 0, page.jsErrors.join('\n'));
    });

    await context.close();
}

/*
 * The masked callback: Call back and Call customer send only the
 * customer ID; the outcome is told in plain words; no number anywhere
 */

async function outgoingScenario(browser, params)
{
    const context = await newContext(browser);
    const page = await open(context, '/out/');

    const lastConnect = async () => {
        const all = await fake(page, 'connects');

        return JSON.stringify(all[all.length - 1]);
    };

    const placeById = async (id) => {
        await page.fill('#out-id', id);
        await page.click('#out-call-button');
    };

    await check('outgoing: Call customer shown, enabled once available',
        async () => {
            assert(await page.isVisible('#out-panel'), 'no outgoing panel');
            assert(await page.isDisabled('#out-call-button'),
                   'enabled before start');
            await page.click('#start-button');
            await state(page, 'waiting');
            await page.waitForSelector('#out-call-button:not([disabled])',
                                       { timeout: WAIT });

            const s = await fake(page, 'summary');

            /* removed in SDK 2.0, where ringing is always reported */
            assert(!('enableRingingState' in s.options[0]),
                   'enableRingingState passed');
        });

    await check('outgoing: a finished incoming call offers Call back',
        async () => {
            await fake(page, 'ring', params, CALLER);
            await state(page, 'ringing');
            await page.click('#answer-button');
            await state(page, 'incall');
            assert(await page.isDisabled('#out-call-button'),
                   'Call customer enabled in a call');
            await page.click('#hangup-button');
            await state(page, 'waiting');
            await visibleText(page, '#out-recent li',
                              /Hanako Yamada · ID: C-1001.*Finished/);
            assert(await page.isVisible(
                '#out-recent li:first-child .callback-button'), 'no button');
            assert(await text(page,
                '#out-recent li:first-child .callback-button')
                === 'Call back', 'label');
        });

    await check('outgoing: missed and declined calls offer Call back',
        async () => {
            await fake(page, 'ring', { customerName: 'Missed Caller',
                                       customerId: 'C-3003',
                                       twanonRinging: '3' }, CALLER);
            await state(page, 'ringing');
            await fake(page, 'cancel');
            await visibleText(page, '#out-recent li',
                              /Missed Caller · ID: C-3003.*Missed/);
            assert(await page.isVisible(
                '#out-recent li:first-child .callback-button'), 'missed');

            await fake(page, 'ring', { customerName: 'Left Ringing',
                                       customerId: 'C-4004',
                                       twanonRinging: '3' }, CALLER);
            await state(page, 'ringing');
            await page.click('#reject-button');
            await state(page, 'waiting');
            await visibleText(page, '#out-recent li',
                              /Left Ringing · ID: C-4004.*Declined/);
            assert(await page.isVisible(
                '#out-recent li:first-child .callback-button'), 'declined');
        });

    await check('outgoing: no Call back for a call without a usable ID',
        async () => {
            await fake(page, 'ring', { customerName: 'No Id',
                                       twanonRinging: '1' }, CALLER);
            await state(page, 'ringing');
            await page.click('#reject-button');
            await visibleText(page, '#out-recent li', /No Id.*Declined/);
            assert(await page.$('#out-recent li:first-child button')
                   === null, 'button without an ID');
            assert(/cannot call back/.test(await text(page,
                '#out-recent li:first-child')), 'no note');

            /* an ID that looks like a number is hidden: no Call back */

            await fake(page, 'ring', { customerName: 'Phone Id',
                                       customerId: CALLER.slice(1),
                                       twanonRinging: '3' }, CALLER);
            await state(page, 'ringing');
            await fake(page, 'cancel');
            await visibleText(page, '#out-recent li', /Phone Id.*Missed/);
            assert(await page.$('#out-recent li:first-child button')
                   === null, 'button with a phone-like ID');
            await noCallerDigits(page);
        });

    await check('outgoing: Call back connects with only the customer ID',
        async () => {
            await page.click('#out-recent li:has-text("C-1001") '
                             + '.callback-button');
            await state(page, 'incall');
            assert(await lastConnect()
                   === '{"params":{"customerId":"C-1001"}}',
                   'connect: ' + await lastConnect());
            assert(await text(page, '#call-name') === 'Hanako Yamada',
                   'name: ' + await text(page, '#call-name'));
            assert(await text(page, '#call-id') === 'ID: C-1001', 'id');
            await visibleText(page, '#out-flag', /Calling the customer/);
            assert(await page.evaluate(() => document.activeElement.id)
                   === 'hangup-button', 'focus not on Hang up');
            await noCalleeDigits(page);
            await noCallerDigits(page);
        });

    await check('outgoing: ringing, answered, timer, mute, hang up',
        async () => {
            await fake(page, 'outRinging');
            await visibleText(page, '#out-flag', /phone is ringing/);
            await fake(page, 'outAnswer');
            await page.waitForSelector('#out-flag', { state: 'hidden',
                                                      timeout: WAIT });
            await page.waitForFunction(() => /^00:0[1-9]$/.test(
                document.getElementById('call-timer').textContent), null,
                { timeout: 3000 });
            await page.click('#mute-button');
            assert((await fake(page, 'call')).muted === true, 'not muted');
            await shot(page, 'outgoing.png');
            await noCalleeDigits(page);
            await page.click('#hangup-button');
            await state(page, 'waiting');
            assert((await fake(page, 'call')).disconnected === 1,
                   'not disconnected');
            assert(await page.isHidden('#notice'), 'error shown: '
                   + await text(page, '#notice-text'));
        });

    await check('outgoing: Call customer validates the ID', async () => {
        const before = (await fake(page, 'connects')).length;

        for (const bad of ['', 'C 1001', 'C-1001!', CALLER, 'x'.repeat(65),
                           '顧客1'])
        {
            await page.evaluate((v) => {
                document.getElementById('out-id').value = v;
            }, bad);
            await page.click('#out-call-button');
            await visibleText(page, '#out-error', /1 to 64 letters/);
            assert(await page.getAttribute('#out-id', 'aria-invalid')
                   === 'true', 'not marked invalid: ' + bad);
        }

        assert((await fake(page, 'connects')).length === before,
               'connect called for a bad ID');
        await page.fill('#out-id', 'C-2002');
        assert(await page.isHidden('#out-error'), 'error stays on input');
    });

    await check('outgoing: Call customer connects with only that ID',
        async () => {
            await placeById('C-2002');
            await state(page, 'incall');
            assert(await lastConnect()
                   === '{"params":{"customerId":"C-2002"}}',
                   'connect: ' + await lastConnect());
            assert(await text(page, '#call-name') === 'Customer', 'name');
            assert(await text(page, '#call-id') === 'ID: C-2002', 'id');
            await page.click('#hangup-button');
            await state(page, 'waiting');
            assert(await page.isHidden('#notice'), 'hang up while calling: '
                   + await text(page, '#notice-text'));
        });

    await check('outgoing: refused by policy, in plain words', async () => {
        await placeById('C-9999');
        await state(page, 'incall');
        await fake(page, 'outAnswer');
        await page.waitForTimeout(300);
        await fake(page, 'outEnd');
        await state(page, 'waiting');
        await visibleText(page, '#notice-text',
                          /^The call could not be placed \(refused\)\.$/);
    });

    await check('outgoing: busy (31486), in plain words', async () => {
        await placeById('C-1001');
        await state(page, 'incall');
        await fake(page, 'outRinging');
        await fake(page, 'outError', 31486);
        await state(page, 'waiting');
        await visibleText(page, '#notice-text', /line is busy.*31486/);
    });

    await check('outgoing: no answer, in plain words', async () => {
        await placeById('C-1001');
        await state(page, 'incall');
        await fake(page, 'outRinging');
        await fake(page, 'outEnd');
        await state(page, 'waiting');
        await visibleText(page, '#info-text',
                          /^The customer did not answer\.$/);
        await placeById('C-1001');
        await state(page, 'incall');
        await fake(page, 'outError', 31480);
        await state(page, 'waiting');
        await visibleText(page, '#notice-text', /did not answer.*31480/);
    });

    await check('outgoing: failed, with the SDK error explained', async () => {
        await placeById('C-1001');
        await state(page, 'incall');
        await fake(page, 'outError', 31005);
        await state(page, 'waiting');
        await visibleText(page, '#notice-text',
            /could not be placed\. The connection to Twilio broke off.*31005/);
    });

    await check('outgoing: no customer number in the page or the log',
        async () => {
            await noCalleeDigits(page);
            await noCallerDigits(page);

            const log = await page.$$eval('#log li',
                                          (li) => li.map((x) => x.textContent));

            assert(log.some((l) => /Outgoing call refused/.test(l)),
                   'no refusal logged');
            assert(!log.some((l) => /C-\d{4}|Hanako/.test(l)),
                   'ID or name logged');
        });

    await check('outgoing: no script errors', async () => {
        assert(page.jsErrors.length === 0, page.jsErrors.join('\n'));
    });

    await context.close();

    const ja = await newContext(browser, { locale: 'ja-JP' });
    const jaPage = await open(ja, '/out-ja/');

    await check('outgoing: Japanese strings', async () => {
        assert(await text(jaPage, '#out-call-button') === '発信',
               await text(jaPage, '#out-call-button'));
        assert(await text(jaPage, '#out-title') === 'お客様に発信', 'title');
    });

    await ja.close();
}

async function outgoingDemoScenario(browser)
{
    const context = await newContext(browser);
    const page = await open(context, '/outdemo/');

    await check('outgoing demo: Call back after a simulated call',
        async () => {
            await page.click('#start-button');
            await state(page, 'waiting');
            await page.selectOption('#demo-caller', '1');
            await page.click('#simulate-button');
            await state(page, 'ringing');
            await page.click('#answer-button');
            await state(page, 'incall');
            await page.click('#demo-hangup-button');
            await state(page, 'waiting');
            await visibleText(page, '#out-recent li',
                              /Hanako Yamada · ID: C-1001.*Finished/);
        });

    await check('outgoing demo: Call back shows "Dialling customer"',
        async () => {
            await page.click('#out-recent li:first-child .callback-button');
            await visibleText(page, '#info-text',
                              /^Dialling customer C-1001$/);
            assert(context.count('/outdemo/callback') === 1, 'not posted');
            assert(context.requests.some((u) => u.pathname
                   === '/outdemo/callback'
                   && u.searchParams.get('customer') === 'C-1001'),
                   'customer not sent');
            await state(page, 'waiting');
            await noCalleeDigits(page);
            await noCallerDigits(page);
            await shot(page, 'outgoing-demo.png');
        });

    await check('outgoing demo: an unknown customer is refused', async () => {
        await page.waitForSelector('#out-call-button:not([disabled])',
                                   { timeout: WAIT });
        await page.fill('#out-id', 'C-9999');
        await page.click('#out-call-button');
        await visibleText(page, '#info-text',
                          /^Refused: this call cannot be placed$/);
        await noCalleeDigits(page);
    });

    await check('outgoing demo: no script errors', async () => {
        assert(page.jsErrors.length === 0, page.jsErrors.join('\n'));
    });

    await context.close();
}

async function sdkErrorScenario(browser)
{
    const context = await newContext(browser);
    const page = await open(context, '/');

    await page.click('#start-button');
    await state(page, 'waiting');

    await check('SDK error 31005 explained in plain words with what to do',
        async () => {
            await fake(page, 'error', 31005);
            await visibleText(page, '#notice-text',
                /^The connection to Twilio broke off\. Check your network connection.*firewall.*\(Twilio error 31005\)$/);
        });

    await check('activity log says what error 31005 means, counted',
        async () => {
            await fake(page, 'error', 31005);

            const first = await text(page, '#log li:first-child');

            assert(/Error 31005: The connection to Twilio broke off\. ×2$/
                   .test(first), 'log: ' + first);
            assert(/Check your network/.test(await page.getAttribute(
                '#log li:first-child', 'title')), 'no what-to-do title');
            await shot(page, 'sdk-error.png');
        });

    await check('SDK error 53405 points at the audio and the firewall',
        async () => {
            await fake(page, 'error', 53405);
            await visibleText(page, '#notice-text',
                /audio could not get through.*UDP.*\(Twilio error 53405\)/);
        });

    await check('unknown SDK error code: fallback with the code',
        async () => {
            await fake(page, 'error', 39999);
            await visibleText(page, '#notice-text',
                /error 39999, which this console does not know.*twilio\.com\/docs\/api\/errors\/39999/);
            assert(/Error 39999: /.test(await text(page, '#log')),
                   'log: ' + await text(page, '#log'));
        });

    await check('SDK errors: no script errors', async () => {
        assert(page.jsErrors.length === 0, page.jsErrors.join('\n'));
    });

    await context.close();
}

/*
 * The Content-Security-Policy that docs/console.md recommends, sent by
 * nginx for /csp/ (TWANON_CSP is the same string): loading, starting and
 * ringing report no violation. /csp-old/ sends the policy it replaced,
 * which blocked the page's own data: favicon.
 */

async function cspViolations(context, uri)
{
    const page = await context.newPage();
    const messages = [];

    await page.addInitScript(() => {
        window.__csp = [];
        document.addEventListener('securitypolicyviolation', (e) => {
            window.__csp.push(e.effectiveDirective + ' '
                              + String(e.blockedURI).slice(0, 40));
        });
    });

    page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) {
            messages.push(m.text().slice(0, 200));
        }
    });

    const res = await page.goto(BASE + uri);

    await page.waitForSelector('#start-button:not([disabled])',
                               { timeout: WAIT });

    page.cspHeader = res.headers()['content-security-policy'] || '';
    page.cspReport = async () => (await page.evaluate(() => window.__csp))
        .concat(messages);

    return page;
}

async function cspScenario(browser, params)
{
    if (!CSP) {
        ok(false, 'TWANON_CSP given');
        return;
    }

    let context = await newContext(browser);
    let page = await cspViolations(context, '/csp/');

    await check('console served with the documented CSP header', async () => {
        assert(page.cspHeader === CSP, 'header: ' + page.cspHeader);
    });

    await check('documented CSP: no violation loading, starting, ringing',
        async () => {
            await page.click('#start-button');
            await state(page, 'waiting');
            await fake(page, 'ring', params, CALLER);
            await state(page, 'ringing');
            await page.waitForTimeout(300);

            const v = await page.cspReport();

            assert(v.length === 0, 'violations: ' + v.join('; '));
        });

    await context.close();

    context = await newContext(browser);
    page = await cspViolations(context, '/csp-old/');

    await check('the old CSP blocked the data: favicon', async () => {
        await page.waitForTimeout(300);

        const v = await page.cspReport();

        assert(v.some((x) => /^img-src data/.test(x)),
               'violations: ' + v.join('; '));
    });

    await context.close();
}

/*
 * https://user:pass@host/: fetch() refuses URLs with credentials, so the
 * page says to open it without them instead of blaming config.json
 */

async function credentialsScenario(browser)
{
    const context = await newContext(browser);
    const page = await context.newPage();
    const url = new URL(BASE + '/');

    url.username = 'operator';
    url.password = 'pa55word';

    await page.goto(url.href);

    await check('credentials in the address: told to open it without them',
        async () => {
            await visibleText(page, '#notice-text',
                /opened with a user name and password in its address.*Open it without them: http:\/\/127\.0\.0\.1:\d+\/$/);

            const notice = await text(page, '#notice-text');

            assert(!/config\.json/.test(notice), 'blames config.json');
            assert(!/pa55word/.test(notice), 'shows the password');
            assert(await page.isDisabled('#start-button'), 'Start enabled');
            assert(context.count('/config.json') === 0,
                   'config.json requested');
        });

    const seen = await page.evaluate(() => ({
        href: /@/.test(location.href), url: /@/.test(document.URL),
        base: /@/.test(document.baseURI) }));

    diag('chromium keeps the credentials in: location.href ' + seen.href
         + ', document.URL ' + seen.url + ', document.baseURI ' + seen.base);

    await context.close();
}

/* ------------------------------------------------------------------------ */

async function main()
{
    if (!BASE || !TWIML_FILE) {
        say('usage: TWANON_BASE=http://127.0.0.1:PORT '
            + 'TWANON_TWIML_FILE=file [TWANON_CALLER=+1...] node '
            + path.basename(__filename));
        process.exit(2);
    }

    const twiml = fs.readFileSync(TWIML_FILE, 'utf8');
    let params = {};

    await check('module TwiML has the customer parameters', async () => {
        params = twimlParameters(twiml);
        assert(params.customerName === 'Hanako Yamada', 'customerName');
        assert(params.customerId === 'C-1001', 'customerId');
        assert(!CALLER_PATTERNS.some((re) => re.test(twiml)),
               'caller number in the TwiML');
    });

    /*
     * launch() runs Chromium on a new, empty profile of its own (a fresh
     * temporary user-data dir, removed on close); every scenario gets a
     * new context on top of it
     */

    let browser;

    try {
        browser = await chromium.launch({
            executablePath: CHROMIUM,
            args: ARGS,
            timeout: 30000,
        });

    } catch (e) {
        ok(false, 'chromium starts', e.message);
        return;
    }

    try {
        await mainScenario(browser, params);
        await phoneScenario(browser, params);
        await refreshScenario(browser);
        await backoffScenario(browser);
        await verifyScenario(browser, params);
        await errorScenarios(browser);
        await japaneseScenario(browser, params);
        await demoScenario(browser);
        await outgoingScenario(browser, params);
        await outgoingDemoScenario(browser);
        await sdkErrorScenario(browser);
        await cspScenario(browser, params);
        await credentialsScenario(browser);

    } catch (e) {
        ok(false, 'scenarios ran to the end', e && e.stack);

    } finally {
        await browser.close();
    }
}

const watchdog = setTimeout(() => {
    ok(false, 'finished in time');
    process.exit(1);
}, Number(process.env.TWANON_TIMEOUT || 150) * 1000);

main().then(() => {
    clearTimeout(watchdog);
    diag(checks + ' checks, ' + failed + ' failed');
    process.exit(failed ? 1 : 0);

}, (e) => {
    ok(false, 'test script', e && e.stack);
    process.exit(1);
});
