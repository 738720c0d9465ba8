// Storage faults and crashes against a real Ceph RGW (`npm run test:s3`).
import { ListMultipartUploadsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { storeSource } from '../../src/evidence/bundle-source.js';
import { verifyBundle } from '../../src/evidence/verify-bundle.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { createBucket, rgwClient, rgwEnv } from '../helpers/rgw.js';
import { spawnAmber, type AmberProcess } from '../helpers/run-amber.js';
import { runS3FaultScenario } from '../helpers/s3-fault-scenario.js';
import { startSimCluster } from '../sim/sim-cluster.js';

const MiB = 1024 * 1024;
const env = rgwEnv();
if (env === undefined) throw new Error('AMBER_S3_ENDPOINT and AWS_* are not set: run this suite with `npm run test:s3`');
const client = rgwClient();
t.teardown(() => client.destroy());

const LOCKED = `apiVersion: forensics.amber.dev/v1alpha1
kind: CapturePolicy
metadata: { name: shell-locked }
spec:
  description: a shell in a container, evidence under compliance retention
  match: { sources: [falco], rules: ["Terminal shell in container"] }
  capture: { cooldown: 1s, include: [podSpec, logs] }
  evidence: { retentionDays: 1, lock: compliance }
`;

t.test('under 30 % S3 faults (5xx, SlowDown, resets mid-part, stalls) every capture is Sealed, verifies, and no object is stored twice', async (t) => {
  const bucket = await createBucket(client, 'amber-faults', true);
  const r = await runS3FaultScenario({
    upstream: env['AMBER_S3_ENDPOINT'] as string,
    bucket,
    captures: 6,
    archiveBytes: 12 * MiB,
    policyYaml: LOCKED,
    directClient: client,
    countVersions: true,
    seed: 11,
  });
  t.comment(`captures: ${JSON.stringify(r.phases)}; verified ${r.verified} of 6`);
  t.comment(`S3 proxy: ${JSON.stringify(r.s3)}`);
  t.comment(`kubelet proxy: ${JSON.stringify(r.kubelet)}`);
  t.same(r.failures, []);
  t.same(r.phases, { Sealed: 6 });
  t.equal(r.verified, 6);
  t.same(r.duplicates, [], 'one version per key: retries never wrote a second original');
  if (r.duplicates.length > 0) t.comment(`duplicates: ${r.duplicates.join(', ')}`);
  const injected = r.s3.injected5xx + r.s3.slowDown + r.s3.resets + r.s3.stalls;
  t.ok(injected / r.s3.requests > 0.2, `faults were injected: ${injected} of ${r.s3.requests} requests`);
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  t.same(uploads.Uploads ?? [], [], 'no unfinished multipart upload left behind');
});

t.test(
  'amber killed at random points of uploads, 20 times: every accepted capture ends Sealed or Failed with a reason, nothing is lost, no upload is orphaned',
  async (t) => {
    const RUNS = Number(process.env['AMBER_KILL_RUNS'] ?? 20);
    const bucket = await createBucket(client, 'amber-kills', true);
    const root = await mkdtemp(join(tmpdir(), 'amber-kills-'));
    const sim = await startSimCluster({ nodes: ['node-a'], root: join(root, 'sim') });
    t.teardown(async () => {
      await sim.close();
      await rm(root, { recursive: true, force: true });
    });
    sim.archive.pagesBytes = 16 * MiB; // several 5 MiB parts: a kill lands inside a multipart upload
    const policies = join(root, 'policies');
    await (await import('node:fs/promises')).mkdir(policies);
    await (await import('node:fs/promises')).writeFile(join(policies, 'locked.yaml'), LOCKED);
    const dataDir = join(root, 'data');
    const args = [
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--policies',
      policies,
      '--store',
      `s3://${bucket}/kills`,
      '--kubeconfig',
      sim.kubeconfigPath,
      '--kubelet-ca',
      sim.caFile,
      '--checkpoint-dir',
      sim.checkpointDir('node-a'),
      '--min-free-bytes',
      '0',
      '--cluster',
      'sim',
      '--log-level',
      'info',
    ];
    const procEnv = { ...env, AMBER_S3_PART_SIZE_MIB: '5', AMBER_S3_QUEUE_SIZE: '2' };
    const start = async (): Promise<{ proc: AmberProcess; url: string; auth: Record<string, string> }> => {
      const proc = spawnAmber(args, procEnv);
      const url = (await proc.waitForLog('amber is serving', 30_000))['url'] as string;
      const token = (await readFile(join(dataDir, 'auth-token'), 'utf8')).trim();
      return { proc, url, auth: { authorization: `Bearer ${token}` } };
    };
    const phaseOf = async (url: string, auth: Record<string, string>, id: string): Promise<string> => {
      const c = (await (await fetch(`${url}/v1/captures/${id}`, { headers: auth })).json()) as { status: { phase: string } };
      return c.status.phase;
    };
    const accepted: string[] = [];
    const killedIn: Record<string, number> = {};
    const final: Record<string, { phase: string; reason?: string; bundle?: { uri: string } }> = {};
    /** Waits until every accepted capture is Sealed or Failed (the restarted amber resumes them). */
    const settleAll = async (url: string, auth: Record<string, string>) => {
      const deadline = Date.now() + 120_000;
      for (const id of accepted) {
        for (;;) {
          const c = (await (await fetch(`${url}/v1/captures/${id}`, { headers: auth })).json()) as {
            status: { phase: string; reason?: string; bundle?: { uri: string } };
          };
          if (c.status.phase === 'Sealed' || c.status.phase === 'Failed' || Date.now() > deadline) {
            final[id] = c.status;
            break;
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < RUNS; run++) {
      const t0 = Date.now();
      const { proc, url, auth } = await start();
      const t1 = Date.now();
      // the capture killed in the previous run resumes here and must finish before the next kill,
      // so every capture is killed exactly once, at a random point of its upload
      await settleAll(url, auth);
      const pod = sim.addPod({ namespace: 'shop', name: `kill-${run}`, node: 'node-a', containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0' }] }) as any;
      const full = String(pod.status.containerStatuses[0].containerID).replace(/^[a-z-]+:\/\//, '');
      const res = await fetch(`${url}/v1/alerts/falco`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          time: new Date().toISOString(),
          rule: 'Terminal shell in container',
          priority: 'Notice',
          output: 'shell',
          source: 'syscall',
          tags: [],
          output_fields: { 'container.id': full.slice(0, 12), 'container.name': 'app', 'k8s.ns.name': 'shop', 'k8s.pod.name': `kill-${run}` },
        }),
      });
      t.equal(res.status, 202, `run ${run}: accepted`);
      const id = ((await res.json()) as { captures: { id: string }[] }).captures[0]?.id as string;
      accepted.push(id);
      let phase = '';
      for (let i = 0; i < 4000 && phase !== 'Uploading' && phase !== 'Sealed' && phase !== 'Failed'; i++) {
        phase = await phaseOf(url, auth, id);
        if (phase !== 'Uploading') await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, Math.floor(random() * 1000)));
      const at = await phaseOf(url, auth, id).catch(() => 'unknown');
      killedIn[at] = (killedIn[at] ?? 0) + 1;
      proc.child.kill('SIGKILL');
      await proc.exited();
      t.comment(`run ${run}: start ${t1 - t0} ms, settle+alert+upload ${Date.now() - t1} ms`);
    }
    t.comment(`killed ${RUNS} times; phase of the capture at the kill: ${JSON.stringify(killedIn)}`);

    const { proc, url, auth } = await start();
    t.teardown(() => proc.child.kill('SIGKILL'));
    await settleAll(url, auth);
    const phases: Record<string, number> = {};
    for (const s of Object.values(final)) phases[s.phase] = (phases[s.phase] ?? 0) + 1;
    t.comment(`after the restarts: ${JSON.stringify(phases)} of ${accepted.length} accepted captures`);
    t.equal(Object.keys(final).length, accepted.length, 'every accepted capture is still known');
    const store = new S3Store({ client, bucket, partSize: 5 * MiB, queueSize: 2 });
    const jwks = JSON.parse(await readFile(join(dataDir, 'signing', 'jwks.json'), 'utf8')) as { keys: [] };
    let verified = 0;
    for (const [id, s] of Object.entries(final)) {
      t.ok(s.phase === 'Sealed' || (s.phase === 'Failed' && (s.reason ?? '') !== ''), `${id}: ${s.phase} ${s.reason ?? ''}`);
      if (s.phase !== 'Sealed') continue;
      const dir = (s.bundle?.uri ?? '').slice(`s3://${bucket}/`.length, -1);
      const report = await verifyBundle(storeSource(store, dir), { jwks });
      if (report.valid) verified++;
      else t.fail(`${id} does not verify: ${JSON.stringify(report.checks.filter((c) => !c.ok))}`);
    }
    t.comment(`verified ${verified} sealed bundles`);
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    t.same(
      (uploads.Uploads ?? []).map((u) => u.Key),
      [],
      'no orphaned multipart upload',
    );
    const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
    const seen = new Map<string, number>();
    for (const v of versions.Versions ?? []) seen.set(v.Key ?? '', (seen.get(v.Key ?? '') ?? 0) + 1);
    t.same(
      [...seen].filter(([, n]) => n > 1),
      [],
      'no object stored twice',
    );
    proc.child.kill('SIGTERM');
    t.equal(await proc.exited(), 0);
  },
);
