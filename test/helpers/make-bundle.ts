import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { newCaptureId } from '../../src/core/capture-id.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import { ARTIFACT_NAMES } from '../../src/evidence/bundle-layout.js';
import { CustodyChain } from '../../src/evidence/custody-chain.js';
import { MANIFEST_SCHEMA, type Manifest } from '../../src/evidence/manifest.js';
import { loadOrCreateSigningKey, type SigningKey } from '../../src/evidence/signing-key.js';

export interface TestBundle {
  /** Temp root: `bundle/` (…/<capture-id>) and `data/` (a data dir with signing/jwks.json). */
  readonly root: string;
  /** The bundle directory, named after the capture id as in the store layout. */
  readonly dir: string;
  readonly dataDir: string;
  readonly jwksFile: string;
  readonly jwks: JSONWebKeySet;
  readonly key: SigningKey;
  readonly manifest: Manifest;
  /** Every artifact name in the manifest, custody.jsonl included. */
  readonly artifacts: readonly string[];
  path(name: string): string;
  /** Writes manifest.json as `manifest` (JSON.stringify, 2-space) or exact bytes and signs it with `key` (default the bundle's key). */
  reseal(manifest: Manifest | Uint8Array, key?: SigningKey): Promise<void>;
  cleanup(): Promise<void>;
}

export interface MakeBundleOptions {
  readonly containers?: readonly string[];
  /** Extra bytes of filler in each archive (to make big ones). */
  readonly archivePadding?: number;
}

const T0 = Date.UTC(2026, 10, 28, 10, 0, 0);
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

/** A minimal honest ustar archive: 512-byte headers with a checksum, data padded to 512. */
export function tarOf(files: Readonly<Record<string, Uint8Array | string>>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write(
      `${Math.floor(T0 / 1000)
        .toString(8)
        .padStart(11, '0')}\0`,
      136,
    );
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function fakeArchive(container: string, padding: number): Buffer {
  const magic = Buffer.alloc(8);
  magic.writeUInt32LE(0x54564319, 0);
  magic.writeUInt32LE(0x50273030, 4); // pstree
  return tarOf({
    'config.dump': JSON.stringify({ id: 'c'.repeat(64), name: container }),
    'spec.dump': JSON.stringify({ ociVersion: '1.0.2', process: { args: ['/bin/server'] } }),
    'checkpoint/pstree.img': magic,
    'stats-dump': Buffer.alloc(16, 1),
    'dump.log': `(00.000001) Dumping finished successfully\n`,
    ...(padding > 0 ? { 'checkpoint/pages-1.img': Buffer.alloc(padding, 0x5a) } : {}),
  });
}

/** A valid, sealed bundle built with the real primitives (custody chain, signing key), in a temp dir. */
export async function makeBundle(opts: MakeBundleOptions = {}): Promise<TestBundle> {
  const containers = opts.containers ?? ['checkout'];
  const root = await mkdtemp(join(tmpdir(), 'amber-bundle-'));
  const captureId = newCaptureId(T0);
  const dir = join(root, 'bundle', 'test-cluster', '2026', '11', '28', captureId);
  const dataDir = join(root, 'data');
  await mkdir(dir, { recursive: true });
  const { key } = await loadOrCreateSigningKey(join(dataDir, 'signing'));
  const jwksFile = join(dataDir, 'signing', 'jwks.json');

  const files: [name: string, mediaType: string, bytes: Buffer][] = [];
  for (const c of containers) {
    files.push([ARTIFACT_NAMES.archive(c), 'application/x-tar', fakeArchive(c, opts.archivePadding ?? 0)]);
    files.push([ARTIFACT_NAMES.logs(c), 'text/plain', Buffer.from(`2026-11-28T09:59:58Z stdout F ${c} listening on :8080\n`)]);
  }
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'checkout-7d9f8b6c5-x2x9q', namespace: 'shop', uid: 'uid-1' }, spec: { nodeName: 'node-a' } };
  files.push([ARTIFACT_NAMES.podJson, 'application/json', Buffer.from(JSON.stringify(pod, null, 2))]);
  const signal = { rule: 'Terminal shell in container', priority: 'Notice', time: at(-1), output_fields: { 'container.id': 'c'.repeat(12) } };
  files.push([ARTIFACT_NAMES.signals, 'application/json', Buffer.from(JSON.stringify([signal]))]);

  let tick = 0;
  const chain = new CustodyChain(
    { component: 'agent', node: 'node-a', pod: 'amber-agent-x', serviceAccount: 'amber:agent' },
    () => new Date(T0 + tick++ * 1000),
  );
  chain.append('signal.received', { source: 'falco', rule: signal.rule });
  chain.append('policy.matched', { policy: 'interactive-shell' });
  chain.append('capture.queued', { id: captureId });
  for (const c of containers) {
    chain.append('checkpoint.requested', { container: c, node: 'node-a' });
    chain.append('checkpoint.written', { container: c });
  }
  for (const [name, , bytes] of files) chain.append('artifact.hashed', { name, size: bytes.length, sha256: sha256Hex(bytes) });
  for (const [name] of files) chain.append('artifact.stored', { name });
  chain.append('bundle.sealed', { kid: key.kid });
  files.push([ARTIFACT_NAMES.custody, 'application/jsonl', Buffer.from(chain.toJsonl())]);

  for (const [name, , bytes] of files) await writeFile(join(dir, name), bytes);
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    captureId,
    cluster: 'test-cluster',
    tool: { name: 'amber', version: '0.1.0' },
    target: {
      namespace: 'shop',
      pod: 'checkout-7d9f8b6c5-x2x9q',
      podUID: 'uid-1',
      node: 'node-a',
      containers: containers.map((name, i) => ({
        name,
        containerID: `containerd://${String(i).repeat(64)}`,
        image: `shop/${name}:1.4`,
        imageID: `docker.io/shop/${name}@sha256:${'a'.repeat(64)}`,
      })),
    },
    trigger: {
      source: 'falco',
      rule: signal.rule,
      priority: 'Notice',
      time: at(-1),
      policy: 'interactive-shell',
      signalDigest: sha256Hex(JSON.stringify(signal)),
    },
    evidence: { retentionDays: 365, lock: 'compliance' },
    times: { signal: at(0), queued: at(2), checkpointRequested: at(3), checkpointWritten: at(4), sealed: at(tick) },
    artifacts: files.map(([name, mediaType, bytes]) => ({ name, size: bytes.length, sha256: sha256Hex(bytes), mediaType })),
    custody: { entries: chain.entries.length, head: chain.head },
    signing: { alg: key.alg, kid: key.kid },
  };
  const reseal = async (m: Manifest | Uint8Array, by: SigningKey = key): Promise<void> => {
    const bytes = m instanceof Uint8Array ? m : Buffer.from(`${JSON.stringify(m, null, 2)}\n`);
    await writeFile(join(dir, ARTIFACT_NAMES.manifest), bytes);
    await writeFile(join(dir, ARTIFACT_NAMES.manifestJws), await by.sign(bytes));
  };
  await reseal(manifest);
  return {
    root,
    dir,
    dataDir,
    jwksFile,
    jwks: JSON.parse(await readFile(jwksFile, 'utf8')) as JSONWebKeySet,
    key,
    manifest,
    artifacts: manifest.artifacts.map((a) => a.name),
    path: (name) => join(dir, name),
    reseal,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
