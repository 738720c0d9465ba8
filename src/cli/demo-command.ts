import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyBundle } from '../evidence/verify-bundle.js';
import { openBundleTarget } from './bundle-target.js';
import { EXIT, parseFlags, type Io } from './cli-support.js';
import { startServe } from './roles/serve-command.js';

export const DEMO_HELP = `Usage: amber demo [--data-dir DIR] [--policies DIR] [--yara DIR] [--store URI] [--log-level LEVEL] [--keep-serving [--listen HOST:PORT]]

Runs the whole flow on this machine, no cluster needed: starts a simulated Kubernetes API server
and kubelet (HTTPS, real paths and answers, CRIU-format checkpoint archives), starts amber on the
embedded defaults, sends a Falco alert for a shell in a container, waits until the capture is
Sealed, verifies the bundle, and prints where it is.

  --data-dir DIR   everything (evidence, keys, journal, simulated node) goes under DIR (./amber-demo)
  --policies DIR   policy set (./policies)
  --yara DIR       YARA rules the triage report scans with (./yara, the sample rules)
  --store URI      evidence store (file://<data-dir>/evidence), or s3://bucket/prefix with the
                   S3 settings from the environment (AMBER_S3_ENDPOINT, AMBER_S3_FORCE_PATH_STYLE,
                   AWS_ACCESS_KEY_ID…), as for serve
  --log-level L    amber's own log lines (warn)
  --keep-serving   afterwards, keep amber and the simulated cluster running (until Ctrl-C) and
                   print where the evidence browser is: open it and sign in with the token
  --listen H:P     where amber listens (127.0.0.1:8080 with --keep-serving, else any free port)
Exit 0 only when the sealed bundle verifies.
`;

const FLAGS = {
  'data-dir': { type: 'string' },
  policies: { type: 'string' },
  yara: { type: 'string' },
  store: { type: 'string' },
  'log-level': { type: 'string' },
  'keep-serving': { type: 'boolean' },
  listen: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface SimModule {
  startSimCluster(opts: { nodes?: string[]; root?: string }): Promise<{
    readonly kubeconfigPath: string;
    readonly caFile: string;
    checkpointDir(node: string): string;
    addPod(spec: { namespace: string; name: string; node: string; containers: { name: string; image: string }[] }): object;
    setLogs(namespace: string, pod: string, container: string, lines: string[]): void;
    close(): Promise<void>;
  }>;
}

/** `amber demo`: the simulated cluster, amber, one alert, one sealed and verified bundle. */
export async function demoCommand(args: readonly string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(DEMO_HELP);
    return EXIT.OK;
  }
  const dataDir = resolve(values['data-dir'] ?? './amber-demo');
  const store = values.store ?? `file://${join(dataDir, 'evidence')}`;
  // The simulated cluster ships beside the CLI in dist/sim (its source is test/sim).
  const sim = (await import(new URL('../sim/sim-cluster.js', import.meta.url).href)) as SimModule;
  const cluster = await sim.startSimCluster({ nodes: ['node-a'], root: join(dataDir, 'sim', randomBytes(4).toString('hex')) });
  try {
    const pod = cluster.addPod({
      namespace: 'shop',
      name: 'checkout-7d9f8b6c5-x2x9q',
      node: 'node-a',
      containers: [{ name: 'checkout', image: 'ghcr.io/acme-shop/checkout:1.14.2' }],
    }) as {
      metadata: { uid: string };
      status: { containerStatuses: { name: string; containerID: string }[] };
    };
    cluster.setLogs('shop', 'checkout-7d9f8b6c5-x2x9q', 'checkout', [
      '2026-11-28T10:00:01Z INFO listening on :8080',
      '2026-11-28T10:02:13Z INFO POST /cart/checkout 200 41ms',
      '2026-11-28T10:02:15Z WARN unexpected process: /bin/bash -i',
    ]);
    io.out(`simulated cluster up: pod shop/checkout-7d9f8b6c5-x2x9q on node-a`);
    await mkdir(dataDir, { recursive: true });
    // analysis.yara has no flag (a list of paths): the demo hands serve a settings file, beside the simulated cluster's files
    const settingsFile = join(dataDir, 'sim', 'demo-settings.yaml');
    await writeFile(settingsFile, `analysis:\n  yara: [${JSON.stringify(resolve(values.yara ?? 'yara'))}]\n`);
    const serving = await startServe(
      [
        '--listen',
        values.listen ?? (values['keep-serving'] ? '127.0.0.1:8080' : '127.0.0.1:0'),
        '--data-dir',
        dataDir,
        '--policies',
        values.policies ?? 'policies',
        '--store',
        store,
        '--log-level',
        values['log-level'] ?? 'warn',
        '--cluster',
        'demo',
        '--kubeconfig',
        cluster.kubeconfigPath,
        '--kubelet-ca',
        cluster.caFile,
        '--checkpoint-dir',
        cluster.checkpointDir('node-a'),
        '--min-free-bytes',
        '0',
        '--config',
        settingsFile,
      ],
      // the demo's own flags win; S3 settings (endpoint, path style…) pass through from the environment
      { ...io, env: Object.fromEntries(Object.entries(io.env).filter(([k]) => k.startsWith('AMBER_S3_') || k === 'AWS_REGION' || k === 'AWS_DEFAULT_REGION')) },
    );
    if (!serving?.capture.worker) throw new Error('the capture worker did not start');
    try {
      const token = (await readFile(join(dataDir, 'auth-token'), 'utf8')).trim();
      const alert = falcoAlert(pod.metadata.uid, pod.status.containerStatuses[0]?.containerID ?? '');
      io.out(`amber listening on ${serving.server.url}; sending a Falco alert: "${alert.rule}"`);
      const res = await fetch(`${serving.server.url}/v1/alerts/falco`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(alert),
      });
      const answer = (await res.json()) as { captures?: { id: string; policy: string }[] };
      const queued = answer.captures?.[0];
      if (res.status !== 202 || !queued) throw new Error(`intake answered ${res.status}: ${JSON.stringify(answer)}`);
      io.out(`${res.status}: capture ${queued.id} queued by policy ${queued.policy}; waiting for it to be sealed…`);
      const done = await serving.capture.worker.settled(queued.id, 120_000);
      if (done.status.phase !== 'Sealed') throw new Error(`capture ended ${done.status.phase}: ${done.status.reason ?? ''} ${done.status.message ?? ''}`);
      const uri = done.status.bundle?.uri ?? '';
      const where = uri.startsWith('file://') ? fileURLToPath(uri) : uri.replace(/\/$/, '');
      const jwksFile = join(dataDir, 'signing', 'jwks.json');
      const bundle = await openBundleTarget(where, serving.settings.s3);
      const report = await verifyBundle(bundle.source, { jwks: JSON.parse(await readFile(jwksFile, 'utf8')) });
      const locks = bundle.locks
        ? await bundle.locks(
            (await bundle.source.list()).filter((n) => !n.endsWith('/')),
            report.manifest,
          )
        : undefined;
      const checks = [...report.checks, ...(locks?.checks ?? [])];
      for (const c of checks) io.out(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.artifact ? ` ${c.artifact}` : ''}${c.detail ? `: ${c.detail}` : ''}`);
      const valid = report.valid && checks.every((c) => c.ok);
      io.out('');
      io.out(`bundle: ${where}`);
      io.out(`verify it yourself: node dist/cli/main.js verify ${where} --jwks ${jwksFile}`);
      const triage = done.status.report;
      if (triage?.state === 'Written') {
        io.out(`triage report: ${(triage.indicators ?? []).join(', ') || 'no indicators'}`);
        io.out(`see what was running: node dist/cli/main.js inspect ${where}`);
      } else if (triage?.state === 'Failed') {
        io.out(`triage report not made: ${triage.reason ?? ''} ${triage.message ?? ''}`);
      }
      io.out(valid ? 'the sealed bundle VERIFIES' : 'the bundle did NOT verify');
      if (values['keep-serving']) {
        io.out(`the evidence browser: ${serving.server.url}/ui/  (sign in with the token in ${join(dataDir, 'auth-token')}); Ctrl-C stops`);
        await new Promise<void>((done) => {
          process.once('SIGINT', () => done());
          process.once('SIGTERM', () => done());
        });
      }
      return valid ? EXIT.OK : EXIT.NO;
    } finally {
      await serving.stop();
    }
  } finally {
    await cluster.close();
  }
}

function falcoAlert(podUID: string, containerID: string) {
  const full = containerID.replace(/^[a-z-]+:\/\//, '');
  const time = new Date()
    .toISOString()
    .replace('Z', '000000Z')
    .replace(/\.(\d{3})000000Z$/, '.$1456789Z');
  return {
    uuid: randomBytes(16)
      .toString('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
    output: `${time.slice(11, 29)}: Notice A shell was spawned in a container with an attached terminal | user=root process=bash parent=runc command=bash terminal=34816 container_id=${full.slice(0, 12)} container_name=checkout k8s_pod_name=checkout-7d9f8b6c5-x2x9q k8s_ns_name=shop`,
    priority: 'Notice',
    rule: 'Terminal shell in container',
    time,
    output_fields: {
      'container.id': full.slice(0, 12),
      'container.full_id': full,
      'container.image.repository': 'ghcr.io/acme-shop/checkout',
      'container.name': 'checkout',
      'k8s.ns.name': 'shop',
      'k8s.pod.name': 'checkout-7d9f8b6c5-x2x9q',
      'k8s.pod.uid': podUID,
      'proc.cmdline': 'bash',
      'proc.name': 'bash',
      'proc.pname': 'runc',
      'user.name': 'root',
    },
    source: 'syscall',
    tags: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'],
    hostname: 'node-a',
  };
}
