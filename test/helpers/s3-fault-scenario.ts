import { ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { storeSource } from '../../src/evidence/bundle-source.js';
import { verifyBundle } from '../../src/evidence/verify-bundle.js';
import { createS3Client } from '../../src/storage/s3-client.js';
import { S3Store } from '../../src/storage/s3-store.js';
import { startFaultProxy, type FaultCounts } from './fault-proxy.js';
import { startStack } from './start-stack.js';

const MiB = 1024 * 1024;

export interface FaultScenarioResult {
  readonly phases: Record<string, number>;
  readonly verified: number;
  readonly s3: Readonly<FaultCounts>;
  readonly kubelet: Readonly<FaultCounts>;
  /** keys with more than one stored version (only where the server keeps versions) */
  readonly duplicates: string[];
  readonly failures: string[];
}

/**
 * N captures through amber with a fault-injecting proxy in front of the S3 server (30 % of
 * requests: 500/503, SlowDown, connection reset mid-part, stall) and one in front of the kubelet
 * (503s and resets). Returns what happened, for the caller to assert and print.
 */
export async function runS3FaultScenario(opts: {
  readonly upstream: string;
  readonly bucket: string;
  readonly captures: number;
  readonly archiveBytes: number;
  readonly policyYaml: string;
  /** a client straight to the server (no faults), to verify what was stored */
  readonly directClient: S3Client;
  /** count stored versions of every key (servers with versioning: a retry must not add one) */
  readonly countVersions?: boolean;
  readonly seed?: number;
}): Promise<FaultScenarioResult> {
  const s3Proxy = await startFaultProxy({
    target: opts.upstream,
    s3: true,
    seed: opts.seed ?? 7,
    faults: { error5xx: 0.1, slowDown: 0.08, resetMidBody: 0.08, stall: 0.04, stallMs: 5_000 },
  });
  // Short timeouts so a stalled request is retried quickly; many attempts, as in production.
  const client = createS3Client({ endpoint: s3Proxy.url, forcePathStyle: true, maxAttempts: 12, retryBaseMs: 20, requestTimeoutMs: 1_000 });
  const store = new S3Store({ client, bucket: opts.bucket, partSize: 5 * MiB, queueSize: 2 });
  const stack = await startStack({ policyYaml: opts.policyYaml, store: { store, prefix: 'faults' }, capture: { maxAttempts: 8 } });
  const kubeletProxy = await startFaultProxy({
    target: `https://127.0.0.1:${stack.sim.kubeletPort('node-a')}`,
    tls: stack.sim.kubeletTls('node-a'),
    upstreamCa: stack.sim.caCert,
    seed: (opts.seed ?? 7) + 1,
    // 503 (overloaded, retried) and resets after the answer; a 500 would be the runtime failing, which ends the capture
    faults: { error5xx: 0.15, error5xxStatus: 503, resetMidBody: 0.05 },
  });
  stack.sim.advertiseKubeletPort('node-a', kubeletProxy.port);
  stack.sim.archive.pagesBytes = opts.archiveBytes;
  try {
    const ids: string[] = [];
    for (let i = 0; i < opts.captures; i++) {
      const res = await stack.postFalco(stack.podWithAlert(`faulty-${i}`));
      if (res.status !== 202) throw new Error(`intake answered ${res.status}`);
      ids.push(res.body.captures[0].id as string);
    }
    const phases: Record<string, number> = {};
    const failures: string[] = [];
    const duplicates: string[] = [];
    let verified = 0;
    for (const id of ids) {
      const done = await stack.worker.settled(id, 240_000);
      phases[done.status.phase] = (phases[done.status.phase] ?? 0) + 1;
      if (done.status.phase !== 'Sealed') {
        failures.push(`${id}: ${done.status.phase} ${done.status.reason ?? ''} ${done.status.message ?? ''}`);
        continue;
      }
      const dir = (done.status.bundle?.uri ?? '').slice(`s3://${opts.bucket}/`.length, -1);
      // verified straight against the server, not through the faults
      const report = await verifyBundle(storeSource(new S3Store({ client: opts.directClient, bucket: opts.bucket, partSize: 5 * MiB, queueSize: 2 }), dir), {
        jwks: { keys: [stack.key.publicJwk] },
      });
      if (report.valid) verified++;
      else failures.push(`${id}: does not verify: ${JSON.stringify(report.checks.filter((c) => !c.ok))}`);
      if (opts.countVersions === true) {
        const v = await opts.directClient.send(new ListObjectVersionsCommand({ Bucket: opts.bucket, Prefix: `${dir}/` }));
        const seen = new Map<string, number>();
        for (const x of v.Versions ?? []) seen.set(x.Key ?? '', (seen.get(x.Key ?? '') ?? 0) + 1);
        for (const [k, n] of seen) if (n > 1) duplicates.push(`${k} ×${n}`);
        if ((v.DeleteMarkers ?? []).length > 0) duplicates.push(`${dir}: delete markers`);
      }
    }
    return { phases, verified, s3: { ...s3Proxy.counts }, kubelet: { ...kubeletProxy.counts }, duplicates, failures };
  } finally {
    await stack.close();
    await kubeletProxy.close();
    await s3Proxy.close();
    client.destroy();
  }
}
