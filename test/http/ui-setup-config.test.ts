import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/cli/create-logger.js';
import { setUpUi } from '../../src/cli/roles/ui-setup.js';
import { DEFAULT_SETTINGS, type Settings } from '../../src/config/settings.js';
import type { AppDeps } from '../../src/http/build-app.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { startServer } from '../../src/http/start-server.js';
import { tokenAuthenticator } from '../../src/http/token-auth.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { FileStore } from '../../src/storage/file-store.js';
import { rejected } from '../helpers/amber-errors.js';
import { LogSink } from '../helpers/log-sink.js';
import { ASSETS_DIR, TOKEN } from '../helpers/start-ui-app.js';

const settingsWith = (ui: Partial<Settings['ui']>, tls: Settings['tls'] = {}): Settings => ({
  ...DEFAULT_SETTINGS,
  tls,
  ui: { ...DEFAULT_SETTINGS.ui, ...ui },
});
const noStore = { store: undefined, jwks: { keys: [] } };

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-ui-setup-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The intake with this evidence browser, on a real socket; returns its URL. */
async function serve(t: { teardown(fn: () => unknown): void }, dir: string, ui: Pick<AppDeps, 'ui' | 'desk'>, name: string): Promise<string> {
  const queue = await FileQueue.open({ dir: join(dir, `journal-${name}`) });
  const server = await startServer(
    {
      log: createLogger('warn', new LogSink()),
      queue,
      policies: [],
      auth: tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
      metrics: new IntakeMetrics(),
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
      ...ui,
    },
    { listen: '127.0.0.1:0' },
  );
  t.teardown(async () => {
    await server.close();
    await queue.close();
  });
  return server.url;
}

t.test('a session key file shorter than 32 bytes is CONFIG_INVALID naming ui.sessionKeyFile', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'session.key');
  await writeFile(file, Buffer.alloc(31, 7));
  const e = await rejected(setUpUi(settingsWith({ sessionKeyFile: file }), createLogger('silent'), noStore, ASSETS_DIR));
  t.equal(e.code, 'CONFIG_INVALID');
  t.equal(e.details['setting'], 'ui.sessionKeyFile');
  t.match(e.message, /ui\.sessionKeyFile/);
  t.match(e.message, /31 bytes/);

  const missing = await rejected(setUpUi(settingsWith({ sessionKeyFile: join(dir, 'nope.key') }), createLogger('silent'), noStore, ASSETS_DIR));
  t.equal(missing.code, 'CONFIG_INVALID');
  t.equal(missing.details['setting'], 'ui.sessionKeyFile', 'an unreadable file too');

  await writeFile(file, Buffer.alloc(32, 7));
  const ok = await setUpUi(settingsWith({ sessionKeyFile: file }), createLogger('silent'), noStore, ASSETS_DIR);
  t.ok(ok.ui, '32 bytes are enough');
});

t.test('a bad trusted-proxy address is CONFIG_INVALID naming ui.proxyUser.from and the entry', async (t) => {
  for (const bad of ['not-an-address', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '::1/129', '10.0.0.0/8/9', '300.1.1.1']) {
    const e = await rejected(
      setUpUi(settingsWith({ proxyUser: { header: 'X-Forwarded-User', from: ['127.0.0.1', bad] } }), createLogger('silent'), noStore, ASSETS_DIR),
    );
    t.equal(e.code, 'CONFIG_INVALID', bad);
    t.equal(e.details['setting'], 'ui.proxyUser.from', bad);
    t.match(e.message, bad, `the message names ${bad}`);
  }
  const sink = new LogSink();
  const ok = await setUpUi(
    settingsWith({ proxyUser: { header: 'X-Forwarded-User', from: ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1'] } }),
    createLogger('info', sink),
    noStore,
    ASSETS_DIR,
  );
  t.ok(ok.ui, 'addresses and CIDRs of both families');
  t.match(
    sink.lines.find((l) => l['level'] === 40),
    { header: 'X-Forwarded-User', from: ['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1'] },
    'trusting a proxy is warned of',
  );
});

t.test('replicas sharing the key file accept each other’s sessions; TLS makes the cookie __Host-', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'session.key');
  await writeFile(file, Buffer.alloc(48, 3));
  const log = createLogger('silent');
  const evidence = { store: new FileStore(join(dir, 'evidence')), jwks: { keys: [] } };
  const a = await serve(t, dir, await setUpUi(settingsWith({ sessionKeyFile: file }), log, evidence, ASSETS_DIR), 'a');
  const b = await serve(t, dir, await setUpUi(settingsWith({ sessionKeyFile: file }), log, evidence, ASSETS_DIR), 'b');
  const c = await serve(t, dir, await setUpUi(settingsWith({}), log, evidence, ASSETS_DIR), 'c');
  const signIn = await fetch(`${a}/ui/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: TOKEN }),
  });
  t.equal(signIn.status, 200);
  const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
  t.match(cookie, /^amber-session=/);
  t.equal((await fetch(`${b}/v1/captures`, { headers: { cookie } })).status, 200, 'the replica with the same key');
  t.equal((await fetch(`${c}/v1/captures`, { headers: { cookie } })).status, 401, 'a server with its own random key');

  const secure = await setUpUi(settingsWith({ sessionKeyFile: file }, { cert: '/etc/amber/tls.crt', key: '/etc/amber/tls.key' }), log, noStore, ASSETS_DIR);
  t.equal(secure.ui?.sessions.cookieName, '__Host-amber-session');
  t.ok(secure.ui?.sessions.issue('token:1').setCookie.endsWith('; Secure'));
  t.equal((await setUpUi(settingsWith({}), log, noStore, ASSETS_DIR)).desk, undefined, 'no store: no desk, no evidence routes');
});

t.test('--ui false: no browser, the desk alone', async (t) => {
  const off = await setUpUi(settingsWith({ enabled: false, sessionKeyFile: '/nowhere' }), createLogger('silent'), noStore, ASSETS_DIR);
  t.equal(off.ui, undefined);
  t.notOk('ui' in off && off.ui);
});

t.test('the app refuses to start with CONFIG_INVALID when the page is not built', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'index.html'), '<!doctype html><div id="app"></div>');
  await writeFile(join(dir, 'app.js'), 'export {};');
  const ui = await setUpUi(settingsWith({}), createLogger('silent'), noStore, dir);
  const queue = await FileQueue.open({ dir: join(dir, 'journal') });
  t.teardown(() => queue.close());
  const e = await rejected(
    startServer(
      {
        log: createLogger('silent'),
        queue,
        policies: [],
        auth: tokenAuthenticator([TOKEN], { acceptClientCerts: false }),
        metrics: new IntakeMetrics(),
        bodyLimit: DEFAULT_SETTINGS.bodyLimit,
        labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
        version: 'test',
        ...ui,
      },
      { listen: '127.0.0.1:0' },
    ),
  );
  t.equal(e.code, 'CONFIG_INVALID');
  t.equal(e.details['setting'], 'ui.enabled');
  t.match(e.message, /app\.css/, 'names the missing file');
  t.match(e.message, /npm run build/);

  await writeFile(join(dir, 'app.css'), 'body{}');
  const url = await serve(t, dir, await setUpUi(settingsWith({}), createLogger('silent'), noStore, dir), 'built');
  const page = await fetch(`${url}/ui/assets/app.css`);
  t.equal(page.status, 200, 'with all three files it starts');
  t.equal(await page.text(), 'body{}', 'and serves the files of assetsDir');
});

t.test('by default the page is the built one (dist/ui), also when amber runs from its sources', async (t) => {
  const dir = await tempDir(t);
  const ui = await setUpUi(settingsWith({}), createLogger('silent'), noStore);
  t.match(ui.ui?.assetsDir, /[/\\]dist[/\\]ui[/\\]?$/);
  const url = await serve(t, dir, ui, 'default');
  const script = await fetch(`${url}/ui/assets/app.js`);
  t.equal(script.status, 200);
  t.ok((await script.text()).length > 1000, 'the bundled script');
});
