import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { FileStore } from '../../src/storage/file-store.js';
import { fixture } from '../helpers/fixtures.js';
import { startUiApp, TOKEN, type UiApp, type UiAppOptions } from '../helpers/start-ui-app.js';

/** The app with every route the page calls (an empty store behind the evidence routes). */
async function app(t: { teardown(fn: () => unknown): void }, options: UiAppOptions = {}): Promise<UiApp> {
  const a = await startUiApp({ evidence: { store: new FileStore(join(tmpdir(), 'amber-ui-no-store')), jwks: { keys: [] } }, ...options });
  t.teardown(() => a.close());
  return a;
}

/** The Set-Cookie attributes, lower-cased names → value ('' for a flag). */
function attributes(setCookie: string): Map<string, string> {
  const parts = setCookie.split(';').map((p) => p.trim());
  return new Map(parts.slice(1).map((p) => [p.split('=')[0]?.toLowerCase() ?? '', p.split('=')[1] ?? '']));
}

t.test('sign-in turns the bearer token into an HttpOnly, SameSite=Strict session cookie', async (t) => {
  const a = await app(t);
  const { reply, cookie, csrf } = await a.signIn();
  t.equal(reply.status, 200);
  t.match(reply.body, { user: 'token:1', via: 'session', csrf: /^[\w-]{40,}$/, expiresAt: String });
  const set = reply.headers['set-cookie'] ?? [];
  t.equal(set.length, 1);
  t.match(cookie, /^amber-session=[\w-]+\.[\w-]+$/);
  const attrs = attributes(set[0] as string);
  t.ok(attrs.has('httponly'), 'HttpOnly');
  t.equal(attrs.get('samesite'), 'Strict');
  t.equal(attrs.get('path'), '/');
  t.equal(attrs.get('max-age'), String(60 * 60), 'Max-Age is the session length');
  t.notOk(attrs.has('secure'), 'not Secure over plain HTTP');
  t.equal(reply.headers['cache-control'], 'no-store');
  t.not(csrf, '');

  const me = await a.call('GET', '/ui/api/session', { cookie });
  t.equal(me.status, 200);
  t.same(me.body, reply.body, 'the cookie is the same session');
  t.notMatch(a.logs.text(), new RegExp(TOKEN), 'the token is never logged');
});

t.test('over TLS the cookie is Secure and __Host- prefixed', async (t) => {
  const a = await app(t, { tls: true });
  t.match(a.url, /^https:/);
  const { reply, cookie } = await a.signIn();
  t.equal(reply.status, 200);
  t.match(cookie, /^__Host-amber-session=/);
  const attrs = attributes(reply.headers['set-cookie']?.[0] ?? '');
  t.ok(attrs.has('secure'), 'Secure');
  t.equal(attrs.get('path'), '/', '__Host- needs Path=/');
  t.notOk(attrs.has('domain'), '__Host- forbids Domain');
  t.equal((await a.call('GET', '/v1/captures', { cookie })).status, 200);
  const plainName = cookie.replace(/^__Host-/, '');
  t.equal((await a.call('GET', '/v1/captures', { cookie: plainName })).status, 401, 'the unprefixed name is not read');
});

t.test('the cookie reads the API; changes need the CSRF token', async (t) => {
  const a = await app(t);
  const { cookie, csrf } = await a.signIn();
  t.equal((await a.call('GET', '/v1/captures')).status, 401, 'nothing: 401');
  const list = await a.call('GET', '/v1/captures', { cookie });
  t.equal(list.status, 200);
  t.same(list.body, { captures: [], more: false });

  const alert = fixture('falco/terminal-shell.json');
  const missing = await a.call('POST', '/v1/alerts/falco', { cookie, json: alert });
  t.equal(missing.status, 403);
  t.equal(missing.body.error.code, 'UI_CSRF_MISMATCH');
  const wrong = await a.call('POST', '/v1/alerts/falco', { cookie, csrf: csrf.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')), json: alert });
  t.equal(wrong.status, 403);
  t.equal(wrong.body.error.code, 'UI_CSRF_MISMATCH');
  const short = await a.call('POST', '/v1/alerts/falco', { cookie, csrf: 'x', json: alert });
  t.equal(short.status, 403, 'a token of another length');
  // 'é' goes out as two UTF-8 bytes, read back as two latin1 characters: as many characters as the token, more bytes
  const accented = await a.call('POST', '/v1/alerts/falco', { cookie, csrf: `é${csrf.slice(2)}`, json: alert });
  t.equal(accented.status, 403, 'a non-ASCII token of the same length is a mismatch, not a 500');
  t.equal(accented.body.error.code, 'UI_CSRF_MISMATCH');
  t.equal((await a.queue.list()).length, 0, 'nothing was queued by the refused requests');

  const right = await a.call('POST', '/v1/alerts/falco', { cookie, csrf, json: alert });
  t.equal(right.status, 202, JSON.stringify(right.body));
  t.equal((await a.queue.list()).length, 1);

  const other = await a.signIn();
  const crossed = await a.call('POST', '/v1/alerts/falco', { cookie, csrf: other.csrf, json: alert });
  t.equal(crossed.status, 403, "another session's CSRF token does not fit this cookie");

  const bearer = await a.call('POST', '/v1/alerts/falco', { token: TOKEN, json: alert });
  t.equal(bearer.status, 200, 'a bearer token needs no CSRF token (a duplicate now)');
});

t.test('a wrong token at sign-in is 401 and sets no cookie', async (t) => {
  const a = await app(t);
  for (const token of ['wrong-token', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
    const { reply } = await a.signIn(token);
    t.equal(reply.status, 401, token);
    t.equal(reply.body.error.code, 'AUTH_REQUIRED');
    t.notOk(reply.headers['set-cookie'], 'no cookie');
  }
  const empty = await a.call('POST', '/ui/api/session', { json: { token: '' } });
  t.equal(empty.status, 422, 'an empty token is a bad body');
  t.equal(a.logs.find('sign-in refused: the token is not one of ours').length, 3);
  t.notMatch(a.logs.text(), /wrong-token/, 'a presented token is never logged');
});

t.test('a tampered, forged or expired cookie is 401', async (t) => {
  let now = Date.UTC(2026, 10, 28, 10, 0, 0);
  const a = await app(t, { now: () => now, minutes: 30 });
  const { cookie } = await a.signIn();
  t.equal((await a.call('GET', '/v1/captures', { cookie })).status, 200);
  const [name, value = ''] = cookie.split('=');
  const [payload = '', mac = ''] = value.split('.');

  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const forgedPayload = Buffer.from(
    JSON.stringify({ ...(JSON.parse(Buffer.from(payload, 'base64url').toString()) as object), u: 'admin', e: now + 10 * 24 * 3600_000 }),
  ).toString('base64url');
  const bad = {
    'a changed payload byte': `${name}=${flip(payload, 3)}.${mac}`,
    'a changed signature byte': `${name}=${payload}.${flip(mac, 5)}`,
    'another user and expiry, old signature': `${name}=${forgedPayload}.${mac}`,
    'no signature': `${name}=${payload}`,
    'a cookie of another key': `${name}=${payload}.${'A'.repeat(mac.length)}`,
  };
  for (const [what, c] of Object.entries(bad)) {
    const res = await a.call('GET', '/v1/captures', { cookie: c });
    t.equal(res.status, 401, what);
    t.equal(res.body.error.code, 'AUTH_REQUIRED', what);
  }

  now += 29 * 60_000;
  t.equal((await a.call('GET', '/v1/captures', { cookie })).status, 200, 'still valid a minute before the end');
  now += 60_000;
  t.equal((await a.call('GET', '/v1/captures', { cookie })).status, 401, 'expired after 30 minutes');
  t.equal((await a.call('GET', '/ui/api/session', { cookie })).status, 401);
});

t.test('sign-out revokes the cookie', async (t) => {
  const a = await app(t);
  const { cookie, csrf } = await a.signIn();
  const kept = await a.signIn();
  const refused = await a.call('DELETE', '/ui/api/session', { cookie });
  t.equal(refused.status, 403, 'sign-out without the CSRF token (a cross-site logout) is refused');
  t.equal(refused.body.error.code, 'UI_CSRF_MISMATCH');
  t.equal((await a.call('GET', '/v1/captures', { cookie })).status, 200, 'still signed in');

  const out = await a.call('DELETE', '/ui/api/session', { cookie, csrf });
  t.equal(out.status, 204);
  const cleared = out.headers['set-cookie']?.[0] ?? '';
  t.match(cleared, /^amber-session=;/);
  t.equal(attributes(cleared).get('max-age'), '0', 'the browser drops the cookie');
  t.equal(a.logs.find('signed out of the evidence browser')[0]?.['user'], 'token:1');

  t.equal((await a.call('GET', '/v1/captures', { cookie })).status, 401, 'a copy of the signed-out cookie is refused');
  t.equal((await a.call('GET', '/ui/api/session', { cookie })).status, 401);
  t.equal((await a.call('POST', '/v1/alerts/falco', { cookie, csrf, json: {} })).status, 401);
  t.equal((await a.call('GET', '/v1/captures', { cookie: kept.cookie })).status, 200, 'another session is not affected');
});

t.test('sign-in is rate limited per address: 429 with Retry-After', async (t) => {
  let now = Date.UTC(2026, 10, 28, 10, 0, 0);
  const a = await app(t, { now: () => now, signInPerMinute: 3 });
  t.equal((await a.signIn('wrong')).reply.status, 401);
  t.equal((await a.signIn('wrong')).reply.status, 401);
  t.equal((await a.signIn()).reply.status, 200, 'the third attempt goes ahead');
  now += 20_000;
  const limited = await a.signIn();
  t.equal(limited.reply.status, 429, 'the fourth attempt in the minute is refused, even with the right token');
  t.equal(limited.reply.body.error.code, 'SIGN_IN_RATE_LIMITED');
  t.equal(limited.reply.headers['retry-after'], '40');
  t.notOk(limited.reply.headers['set-cookie']);
  t.match(a.logs.find('sign-in refused: too many attempts from this address')[0], { ip: '127.0.0.1', retryAfterSeconds: 40 });
  now += 40_000;
  t.equal((await a.signIn()).reply.status, 200, 'a new minute, a new allowance');
});

t.test('the trusted proxy user header: honoured from a listed address only', async (t) => {
  await t.test('from 127.0.0.1 (listed)', async (t) => {
    const a = await app(t, { proxyUser: { header: 'X-Forwarded-User', from: ['127.0.0.1'] } });
    const headers = { 'x-forwarded-user': 'alice@example.org' };
    const me = await a.call('GET', '/ui/api/session', { headers });
    t.equal(me.status, 200);
    t.match(me.body, { user: 'proxy:alice@example.org', via: 'proxy', csrf: String });
    t.equal((await a.call('GET', '/v1/captures', { headers })).status, 200);
    const line = a.logs.find('evidence browser request').at(-1);
    t.match(line, { user: 'proxy:alice@example.org', via: 'proxy', method: 'GET', route: '/v1/captures', status: 200 });

    const alert = fixture('falco/terminal-shell.json');
    t.equal((await a.call('POST', '/v1/alerts/falco', { headers, json: alert })).status, 403, 'the proxy user needs the CSRF token too');
    t.equal((await a.call('POST', '/v1/alerts/falco', { headers, csrf: me.body.csrf, json: alert })).status, 202);
    const bob = await a.call('GET', '/ui/api/session', { headers: { 'x-forwarded-user': 'bob' } });
    t.not(bob.body.csrf, me.body.csrf, 'each user has their own CSRF token');
    t.equal((await a.call('GET', '/v1/captures', { headers: { 'x-forwarded-user': '  ' } })).status, 401, 'a blank name is nobody');
    t.equal((await a.call('GET', '/v1/captures')).status, 401, 'no header: nobody');
  });

  await t.test('from 127.0.0.1 when only 10.0.0.0/8 is trusted (unlisted)', async (t) => {
    const a = await app(t, { proxyUser: { header: 'X-Forwarded-User', from: ['10.0.0.0/8'] } });
    const headers = { 'x-forwarded-user': 'alice@example.org' };
    t.equal((await a.call('GET', '/ui/api/session', { headers })).status, 401);
    t.equal((await a.call('GET', '/v1/captures', { headers })).status, 401);
    t.equal(a.logs.find('evidence browser request').length, 0);
    const { cookie } = await a.signIn();
    const mine = await a.call('GET', '/ui/api/session', { cookie, headers });
    t.equal(mine.body.user, 'token:1', 'the header does not override the session from an untrusted address');
  });
});

t.test("each browser request is logged with its user; a bearer token's are not", async (t) => {
  const a = await app(t);
  const { cookie } = await a.signIn();
  await a.call('GET', '/v1/captures?phase=Sealed', { cookie });
  await a.call('GET', '/v1/captures/0000000000000000000000000z', { cookie });
  await a.call('GET', '/v1/captures', { token: TOKEN });
  const lines = a.logs.find('evidence browser request');
  t.equal(lines.length, 2);
  t.match(lines[0], { user: 'token:1', via: 'session', method: 'GET', route: '/v1/captures', status: 200 });
  t.match(lines[1], { user: 'token:1', route: '/v1/captures/:id', capture: '0000000000000000000000000z', status: 404 });
});

t.test('unauthenticated: /ui serves the page shell only, every /v1 route the page calls is 401', async (t) => {
  const a = await app(t);
  const page = await a.call('GET', '/ui');
  t.equal(page.status, 200);
  t.match(page.headers['content-type'], /^text\/html/);
  t.match(page.text, /<div id="app">/);
  t.match(page.text, /src="\/ui\/assets\/app.js"/);
  t.notMatch(page.text, /<script>|token:|capture/i, 'no inline script, no data');
  t.equal((await a.call('GET', '/ui/')).status, 200);
  for (const asset of ['app.js', 'app.css']) {
    const res = await a.call('GET', `/ui/assets/${asset}`);
    t.equal(res.status, 200, asset);
    t.match(res.headers['content-type'], asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
  }

  const id = '0000000000000000000000000z';
  const routes: [string, string, unknown?][] = [
    ['GET', '/ui/api/session'],
    ['GET', '/v1/captures'],
    ['GET', '/v1/captures?namespace=shop&limit=10'],
    ['GET', '/v1/captures/events'],
    ['GET', `/v1/captures/${id}`],
    ['GET', `/v1/captures/${id}/report`],
    ['POST', `/v1/captures/${id}/reveal`, { checkpoint: 0, pid: 1, field: 'env', index: 0 }],
    ['GET', `/v1/captures/${id}/verification`],
    ['GET', `/v1/captures/${id}/memory?q=secret`],
    ['GET', `/v1/captures/${id}/bundle.tar`],
  ];
  for (const [method, path, json] of routes) {
    const res = await a.call(method, path, json === undefined ? {} : { json });
    t.equal(res.status, 401, `${method} ${path}`);
    t.equal(res.body?.error?.code, 'AUTH_REQUIRED', `${method} ${path}`);
  }
});

t.test('the page and its assets carry a strict CSP without unsafe-inline', async (t) => {
  const a = await app(t);
  for (const path of ['/ui', '/ui/assets/app.js', '/ui/assets/app.css', '/ui/api/session']) {
    const res = await a.call('GET', path);
    const csp = String(res.headers['content-security-policy'] ?? '');
    t.not(csp, '', `${path} has a CSP`);
    t.notMatch(csp, /unsafe-inline|unsafe-eval|\*/, path);
    const directives = new Map(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/) as [string, ...string[]])
        .map(([k, ...v]) => [k, v.join(' ')]),
    );
    t.equal(directives.get('default-src'), "'none'", path);
    t.equal(directives.get('script-src'), "'self'", path);
    t.equal(directives.get('style-src'), "'self'", path);
    t.equal(directives.get('frame-ancestors'), "'none'", path);
    t.equal(res.headers['x-content-type-options'], 'nosniff', path);
    t.equal(res.headers['x-frame-options'], 'DENY', path);
  }
});
