import t from 'tap';
import { copyFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/cli/create-logger.js';
import { DEFAULT_SETTINGS } from '../../src/config/settings.js';
import { IntakeMetrics } from '../../src/http/intake-metrics.js';
import { startServer } from '../../src/http/start-server.js';
import { tokenAuthenticator } from '../../src/http/token-auth.js';
import { loadPolicies } from '../../src/policy/load-policies.js';
import { FileQueue } from '../../src/queue/file/file-queue.js';
import { LogSink } from '../helpers/log-sink.js';
import { makeTestPki } from '../helpers/make-certs.js';

/** The fingerprint of the certificate the server presents to a new connection. */
function presented(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.end();
    });
    s.on('error', reject);
  });
}

async function until(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (await check()) return true;
  return false;
}

t.test('a renewed certificate written over the files is served without a restart; a broken pair is refused', async (t) => {
  const first = makeTestPki();
  const renewed = makeTestPki();
  t.teardown(() => Promise.all([first.dir, renewed.dir].map((d) => rm(d, { recursive: true, force: true }))));
  const cert = join(first.dir, 'live.crt');
  const key = join(first.dir, 'live.key');
  copyFileSync(first.serverCert, cert);
  copyFileSync(first.serverKey, key);
  const sink = new LogSink();
  const queue = await FileQueue.open({ dir: join(first.dir, 'journal') });
  const server = await startServer(
    {
      log: createLogger('info', sink),
      queue,
      policies: await loadPolicies('policies'),
      auth: tokenAuthenticator(['tok'], { acceptClientCerts: false }),
      metrics: new IntakeMetrics(),
      bodyLimit: DEFAULT_SETTINGS.bodyLimit,
      labelKeys: DEFAULT_SETTINGS.alertmanager.labels,
      version: 'test',
    },
    { listen: '127.0.0.1:0', tls: { cert, key }, tlsReloadMs: 50 },
  );
  t.teardown(async () => {
    await server.close();
    await queue.close();
  });
  const before = await presented(server.url);

  copyFileSync(renewed.serverCert, cert);
  copyFileSync(renewed.serverKey, key);
  t.ok(await until(async () => (await presented(server.url)) !== before), 'the renewed certificate is presented');
  const after = await presented(server.url);
  t.ok(
    sink.lines.some((l) => l['msg'] === 'TLS certificate reloaded'),
    'the reload is logged',
  );

  // a certificate whose key is not (yet) the matching one: keep serving the current pair
  copyFileSync(first.serverCert, cert);
  t.ok(await until(async () => sink.lines.some((l) => String(l['msg']).startsWith('TLS files changed but could not be loaded'))), 'the refusal is logged');
  t.equal(await presented(server.url), after, 'the current certificate stays in place');
  writeFileSync(key, first.read(first.serverKey));
  t.ok(await until(async () => (await presented(server.url)) === before), 'the matching pair, once complete, is served');
});
