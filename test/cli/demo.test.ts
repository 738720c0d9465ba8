import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runAmber } from '../helpers/run-amber.js';

t.test('amber demo seals a bundle against the simulated cluster, verifies it, and exits 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-demo-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { code, stdout, stderr } = await runAmber(['demo', '--data-dir', dir]);
  t.equal(code, 0, stderr);
  t.match(stdout, /202: capture [0-9a-z]{26} queued by policy interactive-shell/);
  t.match(stdout, /ok {3}signature/);
  t.match(stdout, /the sealed bundle VERIFIES/);
  const bundle = /bundle: (\S+)/.exec(stdout)?.[1] as string;
  t.ok(bundle.startsWith(join(dir, 'evidence')), 'everything lives under --data-dir');
  t.same((await readdir(bundle)).sort(), ['checkpoint-checkout.tar', 'custody.jsonl', 'logs-checkout.txt', 'manifest.json', 'manifest.jws', 'pod.json', 'signals.json']);
  t.same((await readdir(dir)).sort(), ['auth-token', 'evidence', 'journal', 'signing', 'sim']);
  const verify = await runAmber(['verify', bundle, '--jwks', join(dir, 'signing', 'jwks.json')]);
  t.equal(verify.code, 0, verify.stdout);
});
