/**
 * The evidence browser in a real browser (Debian's Chromium, headless, through playwright-core)
 * against the real `amber serve` process and the simulated cluster: sign-in, the live list, a
 * capture's page compared with `amber inspect --json` and `amber verify --json`, memory search,
 * download, tampering, sign-out, keyboard and labels. Attacker-controlled strings are checked in
 * browser-hostile.test.ts. With AMBER_UI_SCREENSHOTS=DIR the main pages are saved there
 * (`npm run screenshots` writes docs/ui-*.png).
 */
import { execFileSync } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { renderCheck } from '../../src/cli/verify-command.js';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { runCliHere } from '../helpers/run-amber.js';
import { startRegistry } from '../helpers/start-registry.js';
import { startUiStack } from '../helpers/ui-stack.js';
import { controlsWithoutNames, screenshot } from '../helpers/ui-page.js';

t.setTimeout(240_000);

t.test('an analyst signs in, watches a capture seal, reads, searches, downloads and verifies it, then signs out', { skip: chromiumMissing() }, async (t) => {
  const context = await launchChromium(t);
  const registry = await startRegistry();
  t.teardown(() => registry.close());
  const stack = await startUiStack(t, 'ui', {
    config: `ui:\n  restore:\n    image: ${registry.address}/forensics/restores\n    namespace: amber-sandbox\n    insecureRegistry: true\n    node: node-a\n`,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  const ui = `${stack.url}/ui/`;
  let id = '';

  await t.test('unauthenticated, the page offers only the sign-in, and a wrong token is refused', async (t) => {
    await page.goto(ui);
    await page.getByLabel('Access token').waitFor();
    t.equal(await page.getByRole('heading', { name: 'Captures' }).count(), 0, 'no captures before signing in');
    await page.getByLabel('Access token').fill('not-our-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    t.equal(await page.getByRole('alert').textContent(), 'That token is not accepted.');
  });

  await t.test('signed in, a capture appears and moves to Sealed live', async (t) => {
    await page.getByLabel('Access token').fill(stack.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Captures' }).waitFor();
    await page.getByText('live', { exact: true }).waitFor();
    t.ok(await page.getByText('No captures yet.').isVisible());
    // slow enough to be seen checkpointing; big enough that a search takes a moment
    stack.sim.faults.checkpointDelayMs = 2500;
    stack.sim.archive = { ...stack.sim.archive, pagesBytes: 64 * 1024 * 1024 };
    id = await stack.alert({ namespace: 'shop', name: 'web-1' });
    const row = page.locator(`tr[data-capture="${id}"]`);
    await row.locator('.phase', { hasText: 'Checkpointing' }).waitFor({ timeout: 15_000 });
    t.pass('seen Checkpointing without reloading');
    await row.locator('.phase', { hasText: 'Sealed' }).waitFor({ timeout: 60_000 });
    t.pass('seen Sealed without reloading');
    await row.locator('.sev-high').waitFor({ timeout: 30_000 });
    t.match(await row.locator('.indicator-ids').textContent(), /executable-added/, 'the indicators arrive with the report');
    stack.sim.faults.checkpointDelayMs = 0;
  });
  const capture = await stack.get(`/v1/captures/${id}`);
  const bundleDir = fileURLToPath(capture.status.bundle.uri as string);
  const jwks = join(stack.dataDir, 'signing', 'jwks.json');
  await screenshot(page, 'ui-captures.png');

  await t.test('the keyboard opens the capture; its page agrees with amber inspect --json', async (t) => {
    const link = page.locator(`tr[data-capture="${id}"] a`);
    for (let i = 0; i < 40 && !(await link.evaluate((a: any) => a === a.ownerDocument.activeElement)); i++) await page.keyboard.press('Tab');
    t.ok(await link.evaluate((a: any) => a === a.ownerDocument.activeElement), 'the capture link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /shop\/web-1\/app/ }).waitFor();
    t.equal(new URL(page.url()).hash, `#/captures/${id}`);
    await page.locator('li[data-pid]').first().waitFor({ timeout: 30_000 });
    await page.getByText('Its conditions (all held), as loaded now from interactive-shell.yaml').waitFor();
    t.match(
      await page.locator('section[aria-labelledby="trigger-title"]').textContent(),
      /interactive-shell — Someone opened an interactive shell/,
      'why: the policy, as described',
    );

    const inspected = JSON.parse((await runCliHere(['inspect', bundleDir, '--json'])).stdout) as {
      processes: { pid: number; comm: string; cmdline: string[] }[];
      indicators: { id: string; severity: string }[];
      rootfsDiff: { added: { path: string; sha256?: string }[] };
    };
    const shownPids = await page.locator('li[data-pid]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-pid'))));
    t.same(
      shownPids.sort((a, b) => a - b),
      inspected.processes.map((p) => p.pid).sort((a, b) => a - b),
      'the process tree holds the processes inspect finds',
    );
    for (const p of inspected.processes) {
      const summary = page.locator(`li[data-pid="${p.pid}"] > details > summary`);
      t.equal(await summary.locator('.comm').textContent(), p.comm, `pid ${p.pid}'s name`);
      t.equal(await summary.locator('.cmdline').textContent(), p.cmdline.join(' '), `pid ${p.pid}'s command line`);
    }
    const shownIndicators = await page
      .locator('.indicators > li')
      .evaluateAll((els) => els.map((e) => `${e.querySelector('.sev')?.textContent ?? ''} ${e.querySelector('strong')?.textContent ?? ''}`));
    t.same(
      shownIndicators,
      inspected.indicators.map((i) => `${i.severity} ${i.id}`),
      "the indicators are inspect's, in its order",
    );
    t.ok(inspected.indicators.length > 0);
    const shownFiles = await page
      .locator('table.files tbody tr')
      .evaluateAll((rows) =>
        rows.filter((r) => r.children[0]?.textContent !== 'deleted').map((r) => `${r.children[1]?.textContent ?? ''} ${r.children[5]?.textContent ?? ''}`),
      );
    t.same(
      shownFiles,
      inspected.rootfsDiff.added.map((f) => `${f.path} ${f.sha256 ?? '—'}`),
      "the filesystem changes and their hashes are inspect's",
    );
    const custody = await page.locator('ol.custody > li').count();
    t.equal(custody, capture.status.custody.length, 'every custody entry is on the timeline');
    t.equal(await page.locator('ol.custody > li.broken').count(), 0, 'each entry links to the one before');
    t.same(await controlsWithoutNames(page), [], 'every control of the capture page has a label');
    await screenshot(page, 'ui-report.png', page.locator('#report-title'));
  });

  await t.test('the verification computed by the server says what amber verify says', async (t) => {
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.locator('.verdict').waitFor({ timeout: 30_000 });
    const cli = JSON.parse((await runCliHere(['verify', bundleDir, '--jwks', jwks, '--json'])).stdout) as {
      valid: boolean;
      checks: Parameters<typeof renderCheck>[0][];
    };
    t.ok(cli.valid);
    t.match(await page.locator('.verdict').textContent(), /^VALID: all \d+ checks passed/);
    t.same(await page.locator('ul.checks > li').allTextContents(), cli.checks.map(renderCheck), "check by check, the CLI's words");
    await screenshot(page, 'ui-capture.png', page.locator('#capture-title'), 1400);
  });

  await t.test('a memory search streams what amber inspect --search finds, and can be cancelled', async (t) => {
    await page.getByLabel('Pattern (text, or /regex/flags)').fill('stratum+tcp');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText(/^\d+ matches/).waitFor({ timeout: 60_000 });
    const cli = JSON.parse((await runCliHere(['inspect', bundleDir, '--search', 'stratum+tcp', '--json'])).stdout) as {
      matches: { pid: number; address: string }[];
    };
    t.ok(cli.matches.length > 0);
    const shown = await page
      .locator('table.matches tbody tr')
      .evaluateAll((rows) => rows.map((r) => `${r.children[1]?.textContent ?? ''} ${r.children[2]?.textContent ?? ''}`));
    t.same(shown.sort(), cli.matches.map((m) => `${m.pid} ${m.address}`).sort(), 'the same pids and addresses');
    await screenshot(page, 'ui-search.png', page.locator('#search-title'), 420);

    // a regex that has to look at every byte of 64 MiB: long enough to cancel
    const aborted = new Promise<string>((resolve) => page.on('requestfailed', (r) => r.url().includes('/memory?') && resolve(r.failure()?.errorText ?? '')));
    await page.getByLabel('Pattern (text, or /regex/flags)').fill('/[a-h][^\\n]{0,400}QQQ/');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText(/^Searching/).waitFor();
    await page.getByRole('button', { name: 'Cancel search' }).click();
    await page.getByText(/^Cancelled after \d+ matches/).waitFor();
    t.match(await aborted, /ABORTED/, 'the browser dropped the request, which stops the server reading');
  });

  await t.test('the downloaded tar verifies with the CLI, offline', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'amber-download-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /Download the bundle/ }).click()]);
    t.equal(download.suggestedFilename(), `amber-${id}.tar`);
    const tar = join(dir, download.suggestedFilename());
    await download.saveAs(tar);
    execFileSync('tar', ['-xf', tar, '-C', dir]);
    const verified = await runCliHere(['verify', join(dir, `amber-${id}`, id), '--jwks', join(dir, `amber-${id}`, 'jwks.json')]);
    t.equal(verified.code, 0, verified.stdout + verified.stderr);
    t.match(verified.stdout, /VALID/);
  });

  await t.test('the restore button makes a fenced sandbox pod and a signed record that amber verify accepts', async (t) => {
    await page.getByRole('button', { name: 'Restore in a sandbox…' }).click();
    const confirm = page.getByRole('group', { name: 'Confirm the restore' });
    t.match(await confirm.textContent(), /namespace amber-sandbox/, 'the page says where before anything starts');
    t.equal(stack.sim.createdObjects('Pod').length, 0, 'nothing is made before the confirmation');
    await confirm.getByRole('button', { name: 'Restore now' }).click();
    const done = page.getByRole('status').filter({ hasText: 'Restored' });
    await done.waitFor({ timeout: 90_000 });
    const pods = stack.sim.createdObjects('Pod');
    const policies = stack.sim.createdObjects('NetworkPolicy');
    t.equal(pods.length, 1, 'one sandbox pod');
    t.equal(policies.length, 1, 'and its NetworkPolicy');
    const pod = pods[0] as Record<string, any>;
    t.equal(pod.metadata.namespace, 'amber-sandbox');
    t.match(await done.textContent(), `amber-sandbox/${pod.metadata.name}`, 'the page names the pod the cluster has');
    t.match(pod.spec.containers[0].image, new RegExp(`^${registry.address}/forensics/restores@sha256:[0-9a-f]{64}$`));
    t.same(policies[0]?.spec.policyTypes, ['Ingress', 'Egress']);
    const selector = Object.entries((policies[0]?.spec.podSelector.matchLabels ?? {}) as Record<string, string>);
    t.ok(selector.length > 0 && selector.every(([k, v]) => pod.metadata.labels[k] === v), 'the NetworkPolicy selects the pod');

    const verified = await runCliHere(['verify', bundleDir, '--jwks', join(stack.dataDir, 'signing', 'jwks.json'), '--json']);
    t.equal(verified.code, 0, verified.stderr);
    const checks = (JSON.parse(verified.stdout) as { checks: { check: string; ok: boolean; artifact?: string }[] }).checks;
    for (const name of ['restore signature', 'restore custody'])
      t.ok(
        checks.some((c) => c.check === name && c.artifact?.startsWith('restore-1.') && c.ok),
        `verify passes the record's ${name}`,
      );
    const record = JSON.parse(await readFile(join(bundleDir, 'restore-1.json'), 'utf8')) as Record<string, any>;
    const session = (await page.evaluate(() => fetch('/ui/api/session').then((r) => r.json()))) as { user: string };
    t.equal(record.restoredBy.user, session.user, 'the record names the signed-in user');
    const verifiedStep = (record.custody.entries as { action: string; actor: { component: string }; details: Record<string, unknown> }[]).find(
      (e) => e.action === 'restore.verified',
    );
    t.equal(verifiedStep?.details['via'], 'the evidence browser');
    t.equal(verifiedStep?.actor.component, 'amber serve (evidence browser)');
    await page.getByText(new RegExp(`#1 .* by ${session.user}@`)).waitFor({ timeout: 10_000 });
    t.pass('the capture lists its restore, live');
  });

  await t.test('a tampered bundle fails verification, naming the artifact', async (t) => {
    await appendFile(join(bundleDir, 'signals.json'), ' ');
    await page.getByRole('button', { name: 'Verify again' }).click();
    await page.locator('.verdict.invalid').waitFor({ timeout: 30_000 });
    t.match(await page.locator('.verdict').textContent(), /^INVALID: 1 of \d+ checks failed/);
    const failed = await page.locator('ul.checks > li.fail').allTextContents();
    t.equal(failed.length, 1);
    t.match(failed[0], /^FAIL artifact signals\.json: /, 'the failing artifact is named');
  });

  await t.test('the captures page has a label on every control', async (t) => {
    await page.getByRole('link', { name: '← All captures' }).click();
    await page.getByRole('heading', { name: 'Captures' }).waitFor();
    t.same(await controlsWithoutNames(page), []);
    await page.getByLabel('Namespace').fill('nowhere');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No captures match these filters.').waitFor();
    await page.getByLabel('Namespace').fill('shop');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.locator(`tr[data-capture="${id}"]`).waitFor();
    t.pass('filters narrow the list');
  });

  await t.test('signing out returns to the sign-in, and the old cookie opens nothing', async (t) => {
    const cookies = await context.cookies(stack.url);
    const session = cookies.find((c) => c.name === 'amber-session');
    t.ok(session?.httpOnly, 'the session cookie is HttpOnly');
    t.equal(session?.sameSite, 'Strict');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Access token').waitFor();
    const res = await fetch(`${stack.url}/v1/captures`, { headers: { cookie: `amber-session=${session?.value ?? ''}` } });
    t.equal(res.status, 401, 'the signed-out session is refused');
    await page.goto(`${ui}#/captures/${id}`);
    await page.getByLabel('Access token').waitFor();
    t.equal(await page.locator('li[data-pid]').count(), 0, 'a capture link shows only the sign-in');
  });

  t.same(problems, [], 'no page errors and no dialogs');
});
