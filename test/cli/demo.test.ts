import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
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
  t.match(stdout, /^triage report: .*reverse-shell.*executable-added/m, 'the newcomer sees what the report found');
  t.match(stdout, /^triage report: .*yara-match/m, 'the sample YARA rules (yara/) found the simulated miner');
  const bundle = /bundle: (\S+)/.exec(stdout)?.[1] as string;
  t.ok(bundle.startsWith(join(dir, 'evidence')), 'everything lives under --data-dir');
  t.same((await readdir(bundle)).sort(), [
    'addendum.json',
    'addendum.jws',
    'checkpoint-checkout.tar',
    'custody.jsonl',
    'logs-checkout.txt',
    'manifest.json',
    'manifest.jws',
    'pod.json',
    'report.json',
    'signals.json',
  ]);
  t.same((await readdir(dir)).sort(), ['auth-token', 'evidence', 'journal', 'signing', 'sim']);
  const verify = await runAmber(['verify', bundle, '--jwks', join(dir, 'signing', 'jwks.json')]);
  t.equal(verify.code, 0, verify.stdout);
  t.match(verify.stdout, /ok {3}addendum signature/, 'the triage report is sealed by a signed addendum');

  // What an analyst sees in a minute: the processes, the connections, the dropped file.
  const inspect = await runAmber(['inspect', bundle]);
  t.equal(inspect.code, 0, inspect.stderr);
  t.match(
    inspect.stdout,
    /^ {4}7 kworkerd uid=1000 threads=2: \/tmp\/\.x\/kworkerd -o stratum\+tcp:\/\/198\.51\.100\.7:3333/m,
    'the miner in the process tree',
  );
  t.match(inspect.stdout, /fd 3: tcp ipv4 ESTABLISHED [\d.]+:\d+ -> 198\.51\.100\.7:3333/, 'its connection to the pool');
  t.match(inspect.stdout, /fd 0: tcp ipv4 ESTABLISHED [\d.]+:\d+ -> 203\.0\.113\.50:4444/, "the reverse shell's socket");
  t.match(inspect.stdout, /\+ \/tmp\/\.x\/kworkerd +file 0755 49152 B sha256 [0-9a-f]{16}… EXECUTABLE/, 'the dropped executable');
  t.match(inspect.stdout, /\[high\] reverse-shell: bash \(pid 9\)/);
  const report = JSON.parse(await readFile(join(bundle, 'report.json'), 'utf8')) as {
    checkpoints: { processes: { pid: number }[]; indicators: { id: string }[] }[];
  };
  t.same(
    report.checkpoints[0]?.processes.map((p) => p.pid),
    [1, 7, 9],
    'report.json holds the same reading',
  );
  t.ok(report.checkpoints[0]?.indicators.some((i) => i.id === 'executable-added'));

  // Restored as a checkpoint image: the layer skopeo reads is the sealed archive, and the restore is on record.
  const layout = join(dir, 'restored');
  const restore = await runAmber(['restore', bundle, '--oci-layout', layout, '--data-dir', dir]);
  t.equal(restore.code, 0, restore.stderr);
  const manifest = JSON.parse(await readFile(join(bundle, 'manifest.json'), 'utf8')) as { captureId: string; artifacts: { name: string; sha256: string }[] };
  const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:restore-${manifest.captureId}`], { encoding: 'utf8' })) as {
    layers: { digest: string }[];
  };
  t.equal(
    raw.layers[0]?.digest,
    `sha256:${manifest.artifacts.find((a) => a.name === 'checkpoint-checkout.tar')?.sha256}`,
    "the image's layer digest is the manifest's archive hash",
  );
  const again = await runAmber(['verify', bundle, '--jwks', join(dir, 'signing', 'jwks.json')]);
  t.equal(again.code, 0, again.stdout);
  t.match(again.stdout, /ok {3}restore custody restore-1\.json \(2 entries continue the chain\)/);
  const record = JSON.parse(await readFile(join(bundle, 'restore-1.json'), 'utf8')) as { custody: { continues: string } };
  t.equal(record.custody.continues, 'addendum', 'the restore continues the custody after the report addendum');
});
