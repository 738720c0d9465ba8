/**
 * Evidence is written by the attacker: command lines, file names, environment values and alert
 * fields carry `<script>`, an `onerror` image and `javascript:` URLs. The page must show each as
 * text and run none of them, under a CSP without 'unsafe-inline'; secrets stay masked until
 * revealed, and a reveal is logged with the user. Every API the page calls refuses a caller
 * without a session.
 */
import t from 'tap';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { startUiStack } from '../helpers/ui-stack.js';

t.setTimeout(180_000);

const SCRIPT_CMD = '<script>window.__pwned="cmdline"</script>';
const JS_CMD = 'javascript:window.__pwned="cmdline-url"';
const IMG_FILE = 'tmp/<img src=x onerror="window.__pwned=1">.sh';
const JS_FILE = 'tmp/javascript:window.__pwned=2';
const SCRIPT_ENV = 'EVIL=<script>window.__pwned="env"</script>';
// alert fields are shown as the alert's JSON text was received: no double quotes, so they stay verbatim in it
const SCRIPT_OUTPUT = "<script>window.__pwned='output'</script> shell in <img src=x onerror='window.__pwned=3'>";
const JS_FIELD = "javascript:window.__pwned='alert-field'";

t.test('attacker-controlled strings are shown as text and nothing they hold runs', { skip: chromiumMissing() }, async (t) => {
  const context = await launchChromium(t);
  const stack = await startUiStack(t, 'ui-hostile');
  const id = await stack.alert(
    {
      namespace: 'shop',
      name: 'web-evil',
      container: {
        command: ['/bin/sh', '-c', SCRIPT_CMD, JS_CMD],
        writes: [
          { path: IMG_FILE, body: 'x' },
          { path: JS_FILE, body: 'y' },
        ],
      },
      env: [
        { name: 'EVIL', value: SCRIPT_ENV.slice('EVIL='.length) },
        { name: 'DB_PASSWORD', value: 'hunter2-not-for-eyes' },
      ],
    },
    { 'proc.cmdline': JS_FIELD, 'user.name': "<b onmouseover='window.__pwned=4'>root</b>" },
    SCRIPT_OUTPUT,
  );

  await t.test('every API the page calls refuses a caller without a session', async (t) => {
    for (const [method, path] of [
      ['GET', '/v1/captures'],
      ['GET', '/v1/captures/events'],
      ['GET', `/v1/captures/${id}`],
      ['GET', `/v1/captures/${id}/report`],
      ['GET', `/v1/captures/${id}/verification`],
      ['GET', `/v1/captures/${id}/memory?q=x`],
      ['GET', `/v1/captures/${id}/bundle.tar`],
      ['POST', `/v1/captures/${id}/reveal`],
    ] as const) {
      const res = await fetch(`${stack.url}${path}`, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}) });
      t.equal(res.status, 401, `${method} ${path}`);
    }
  });

  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  // injected by the browser itself (not subject to the page's CSP): counts what the CSP had to stop
  await page.addInitScript(() => {
    const w = globalThis as any;
    w.__violations = [];
    w.document.addEventListener('securitypolicyviolation', (e: any) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const answer = await page.goto(`${stack.url}/ui/`);
  const csp = answer?.headers()['content-security-policy'] ?? '';
  t.match(csp, /script-src 'self'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'the CSP allows no inline script or style');
  await page.getByLabel('Access token').fill(stack.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const row = page.locator(`tr[data-capture="${id}"]`);
  await row.locator('.phase', { hasText: 'Sealed' }).waitFor({ timeout: 60_000 });
  await row.locator('.sev-high').waitFor({ timeout: 30_000 });
  await row.locator('a').click();
  await page.locator('li[data-pid="1"]').waitFor({ timeout: 30_000 });

  await t.test('command lines, file names, environment values and alert fields are text', async (t) => {
    const body = (await page.locator('body').textContent()) ?? '';
    for (const s of [SCRIPT_CMD, JS_CMD, IMG_FILE, JS_FILE, SCRIPT_ENV, SCRIPT_OUTPUT, JS_FIELD]) t.ok(body.includes(s), `shown as text: ${s}`);
    const dom = await page.evaluate(() => {
      const doc = (globalThis as any).document;
      return {
        pwned: (globalThis as any).__pwned,
        violations: (globalThis as any).__violations as string[],
        scripts: doc.scripts.length as number,
        images: doc.images.length as number,
        bold: doc.querySelectorAll('b').length as number,
        hrefs: Array.from(doc.querySelectorAll('a[href]')).map((a: any) => a.getAttribute('href') as string),
        handlers: Array.from(doc.querySelectorAll('*')).filter((e: any) => Array.from(e.attributes).some((a: any) => a.name.startsWith('on'))).length,
      };
    });
    t.equal(dom.pwned, undefined, 'no payload ran');
    t.same(dom.violations, [], 'the CSP never had to block anything: no payload even became markup');
    t.equal(dom.scripts, 1, 'the only script is the bundle');
    t.equal(dom.images, 0, 'no <img> from evidence');
    t.equal(dom.bold, 0, 'no markup from alert fields');
    t.equal(dom.handlers, 0, 'no element has an event-handler attribute');
    for (const href of dom.hrefs) t.match(href, /^(#|\/v1\/)/, `links stay on amber: ${href}`);
    await page.locator('li[data-pid="1"] > details > summary').hover();
    t.equal(await page.evaluate(() => (globalThis as any).__pwned), undefined, 'hovering runs nothing either');
  });

  await t.test('a secret-looking value is masked until revealed, and the reveal is logged with the user', async (t) => {
    const pid1 = page.locator('li[data-pid="1"] > details > dl');
    t.ok((await pid1.textContent())?.includes('DB_PASSWORD=••••••••'), 'masked');
    t.notOk((await page.locator('body').textContent())?.includes('hunter2-not-for-eyes'), 'the value is nowhere on the page');
    await page.getByRole('button', { name: 'Reveal DB_PASSWORD of process 1' }).click();
    await pid1.getByText('hunter2-not-for-eyes').waitFor();
    const logged = await stack.amber.waitForLog('a masked value of the evidence was revealed');
    t.equal(logged['user'], 'token:1');
    t.match(logged['secret'], { pid: 1, field: 'env' });
    const browserRequests = () =>
      stack.amber.stdout.filter((l) => l.includes('"evidence browser request"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    // the request line is written when the answer has gone out, after the handler's own line: it may follow a moment later
    for (let i = 0; i < 100 && !browserRequests().some((r) => r['route'] === '/v1/captures/:id/reveal'); i++) await new Promise((r) => setTimeout(r, 50));
    const requests = browserRequests();
    t.ok(requests.length > 0 && requests.every((r) => r['user'] === 'token:1'), 'every browser request is logged with the user');
    t.ok(
      requests.some((r) => r['route'] === '/v1/captures/:id/reveal' && r['capture'] === id),
      'the reveal request among them',
    );
  });

  t.same(problems, [], 'no page errors and no dialogs');
});
