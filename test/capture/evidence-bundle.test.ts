import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import t from 'tap';
import { EvidenceBundle, recordStored, type Plaintext, type PlaintextLedger } from '../../src/capture/evidence-bundle.js';
import { sha256Hex } from '../../src/core/canonical-json.js';
import type { EvidenceSettings } from '../../src/core/capture.js';
import { createAgeDecryptStream } from '../../src/evidence/age/age-decrypt.js';
import { generateAgeIdentity, parseAgeIdentity } from '../../src/evidence/age/age-keys.js';
import { ADDENDUM_SCHEMA } from '../../src/evidence/addendum.js';
import { CustodyChain, verifyCustodyJsonl } from '../../src/evidence/custody-chain.js';
import { MANIFEST_SCHEMA, type Manifest } from '../../src/evidence/manifest.js';
import { loadOrCreateSigningKey, verifyDetached, type SigningKey } from '../../src/evidence/signing-key.js';
import { MemoryStore } from '../../src/storage/memory-store.js';
import type { PutMeta, Retention, StoredObject } from '../../src/storage/object-store.js';

const ID = '20261128-100000-abcdef';
const DIR = `evidence/test/2026/11/28/${ID}`;
const team = generateAgeIdentity();

/** A MemoryStore with Object Lock and multipart uploads, recording what the bundle asks of them. */
class LockingStore extends MemoryStore {
  readonly puts: { key: string; meta: PutMeta }[] = [];
  readonly protects: { key: string; retention: Retention | undefined; legalHold: boolean | undefined }[] = [];
  readonly aborted: string[] = [];
  override async put(key: string, body: Readable, meta: PutMeta = {}): Promise<StoredObject> {
    this.puts.push({ key, meta });
    return await super.put(key, body, meta);
  }
  async protect(key: string, retention: Retention | undefined, legalHold: boolean | undefined): Promise<void> {
    this.protects.push({ key, retention, legalHold });
  }
  async abortUploads(prefix: string): Promise<string[]> {
    this.aborted.push(prefix);
    return [];
  }
}

class MapLedger implements PlaintextLedger {
  readonly recorded = new Map<string, Plaintext>();
  /** What the store held under the key when each hash was recorded. */
  readonly storedWhenRecorded: boolean[] = [];
  constructor(private readonly store: MemoryStore) {}
  plaintextOf(name: string): Plaintext | undefined {
    return this.recorded.get(name);
  }
  async recordPlaintext(name: string, plaintext: Plaintext): Promise<void> {
    this.storedWhenRecorded.push([...this.store.objects.keys()].some((k) => k.endsWith(`/${name}.age`)));
    this.recorded.set(name, plaintext);
  }
}

let key: SigningKey;
t.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'amber-bundle-key-'));
  key = (await loadOrCreateSigningKey(dir)).key;
  await rm(dir, { recursive: true, force: true });
});

function bundleOver(store: LockingStore, evidence: EvidenceSettings = { retentionDays: 30, lock: 'compliance' }) {
  const ledger = new MapLedger(store);
  const capture = { id: ID, createdAt: '2026-11-28T10:00:00.000Z', spec: { evidence } };
  return { ledger, bundle: new EvidenceBundle(store, key, ledger, capture, { prefix: 'evidence', cluster: 'test' }) };
}

const bytesAt = (store: MemoryStore, k: string): Buffer => store.objects.get(k)?.body ?? Buffer.alloc(0);

async function nodeCopy(t: { teardown(fn: () => unknown): void }, content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'amber-node-copy-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'checkpoint-web-1-app.tar');
  await writeFile(file, content);
  return file;
}

t.test('a text artifact is stored once under its bundle key, locked as the policy asks; a retry keeps the original', async (t) => {
  const store = new LockingStore();
  const { bundle } = bundleOver(store);
  const first = await bundle.putText('pod.json', 'application/json', '{"v":1}\n');
  t.same([...store.objects.keys()], [`${DIR}/pod.json`]);
  t.equal(bytesAt(store, `${DIR}/pod.json`).toString(), '{"v":1}\n');
  t.same(store.objects.get(`${DIR}/pod.json`)?.metadata, { 'amber-capture-id': ID });
  t.same(store.puts[0]?.meta.retention, { mode: 'COMPLIANCE', retainUntil: new Date('2026-12-28T10:00:00.000Z') }, '30 days after the capture was queued');
  t.same(first, {
    artifact: { name: 'pod.json', size: 8, sha256: sha256Hex('{"v":1}\n'), mediaType: 'application/json' },
    uri: `memory:///${DIR}/pod.json`,
    existed: false,
  });

  const again = await bundle.putText('pod.json', 'application/json', '{"v":2}\n');
  t.equal(again.existed, true);
  t.equal(again.artifact.sha256, sha256Hex('{"v":1}\n'), 'the stored object is the original');
  t.equal(bytesAt(store, `${DIR}/pod.json`).toString(), '{"v":1}\n');
  t.same(
    store.protects.map((p) => p.key),
    [`${DIR}/pod.json`],
    'the lock is asserted again on the object found (the crash may have come before it)',
  );
  t.ok(await bundle.has('pod.json'));
  t.notOk(await bundle.has('signals.json'));
});

t.test('an archive is streamed from the node copy; with recipients it lands as <name>.age, its plaintext hashed', async (t) => {
  const content = 'checkpoint bytes '.repeat(1000);
  const file = await nodeCopy(t, content);
  const store = new LockingStore();
  const { bundle } = bundleOver(store, { retentionDays: 0, lock: 'none', encryption: { recipients: [team.recipient] } });
  t.equal(bundle.encrypted, true);
  const stored = await bundle.putArchive('checkpoint-app.tar', file, { take: false });
  t.same([...store.objects.keys()], [`${DIR}/checkpoint-app.tar.age`], 'nothing in clear');
  const ciphertext = bytesAt(store, `${DIR}/checkpoint-app.tar.age`);
  t.notOk(ciphertext.includes('checkpoint bytes'));
  const plain = await buffer(Readable.from([ciphertext]).pipe(createAgeDecryptStream([parseAgeIdentity(team.secretKey)])));
  t.equal(plain.toString(), content, 'the team key opens it');
  t.same(stored.artifact, {
    name: 'checkpoint-app.tar.age',
    size: ciphertext.length,
    sha256: sha256Hex(ciphertext),
    mediaType: 'application/octet-stream',
    plaintext: { name: 'checkpoint-app.tar', size: content.length, sha256: sha256Hex(content), mediaType: 'application/x-tar' },
  });
  t.same(store.puts[0]?.meta.retention, undefined, 'lock: none asks for no retention');
  t.ok(await bundle.has('checkpoint-app.tar'), 'has() looks for the encrypted name');

  // a retry finds the ciphertext: what is inside is hashed again from the node copy
  const again = await bundle.putArchive('checkpoint-app.tar', file, { take: false });
  t.equal(again.existed, true);
  t.same(again.artifact, stored.artifact);
  t.equal(store.puts.length, 1, 'no second upload');
});

t.test("an encrypted text artifact's plaintext hash is recorded before its upload, and kept by a retry that finds it stored", async (t) => {
  const store = new LockingStore();
  const { bundle, ledger } = bundleOver(store, { retentionDays: 0, lock: 'none', encryption: { recipients: [team.recipient] } });
  const first = await bundle.putText('logs-app.txt', 'text/plain', 'line 1\n');
  t.same(ledger.storedWhenRecorded, [false], 'recorded while nothing was stored');
  t.same(ledger.recorded.get('logs-app.txt'), { size: 7, sha256: sha256Hex('line 1\n') });
  t.same([...store.objects.keys()], [`${DIR}/logs-app.txt.age`]);
  // logs grew since: the ciphertext stored holds the first text, and the record says so
  const retry = await bundle.putText('logs-app.txt', 'text/plain', 'line 1\nline 2\n');
  t.equal(retry.existed, true);
  t.same(retry.artifact.plaintext, first.artifact.plaintext);
  t.same(ledger.storedWhenRecorded, [false], 'nothing recorded again');
});

t.test('recordStored logs hashed, encrypted and stored in the chain', async (t) => {
  const store = new LockingStore();
  const { bundle } = bundleOver(store, { retentionDays: 0, lock: 'none', encryption: { recipients: [team.recipient] } });
  const chain = new CustodyChain({ component: 'agent' });
  recordStored(chain, await bundle.putText('pod.json', 'application/json', '{}\n'));
  t.same(
    chain.entries.map((e) => [e.action, e.details['name']]),
    [
      ['artifact.hashed', 'pod.json'],
      ['artifact.encrypted', 'pod.json.age'],
      ['artifact.stored', 'pod.json.age'],
    ],
  );
  t.same(chain.entries[1]?.details['recipients'], [team.recipient]);
  t.equal(chain.entries[2]?.details['uri'], `memory:///${DIR}/pod.json.age`);
});

function manifestFacts(version: string): Omit<Manifest, 'custody' | 'signing'> {
  return {
    schema: MANIFEST_SCHEMA,
    captureId: ID,
    cluster: 'test',
    tool: { name: 'amber', version },
    target: { namespace: 'shop', pod: 'web-1', podUID: 'uid-1', node: 'node-a', containers: [] },
    trigger: { source: 'falco', rule: 'Terminal shell in container', time: '2026-11-28T09:59:59Z', policy: 'interactive-shell', signalDigest: 'd' },
    evidence: { retentionDays: 0, lock: 'none' },
    times: { signal: '', queued: '', checkpointRequested: '', checkpointWritten: '', sealed: '' },
    artifacts: [{ name: 'pod.json', size: 3, sha256: sha256Hex('{}\n'), mediaType: 'application/json' }],
  };
}

t.test('seal stores custody.jsonl, manifest.json and manifest.jws last; a manifest stored before is the one signed', async (t) => {
  const store = new LockingStore();
  const { bundle } = bundleOver(store);
  const chain = new CustodyChain({ component: 'agent' });
  chain.append('capture.queued', { captureId: ID });
  chain.append('bundle.sealed', { artifacts: 2 });
  const sealed = await bundle.seal(chain, manifestFacts('1.0'));
  t.same(
    store.puts.map((p) => p.key),
    [`${DIR}/custody.jsonl`, `${DIR}/manifest.json`, `${DIR}/manifest.jws`],
  );
  const custody = bytesAt(store, `${DIR}/custody.jsonl`).toString();
  t.equal(custody, chain.toJsonl());
  t.equal(verifyCustodyJsonl(custody).head, sealed.custody.head);
  t.same(sealed.custody, { entries: 2, head: chain.head });
  t.same(sealed.signing, { alg: key.alg, kid: key.kid });
  t.same(
    sealed.artifacts.map((a) => a.name),
    ['pod.json', 'custody.jsonl'],
  );
  t.same(sealed.artifacts[1], { name: 'custody.jsonl', size: custody.length, sha256: sha256Hex(custody), mediaType: 'application/x-ndjson' });
  const manifestBytes = bytesAt(store, `${DIR}/manifest.json`);
  t.same(JSON.parse(manifestBytes.toString()), sealed);
  const jws = bytesAt(store, `${DIR}/manifest.jws`).toString().trim();
  t.equal((await verifyDetached(jws, manifestBytes, { keys: [key.publicJwk] })).kid, key.kid);
  t.same(await bundle.readManifest(), { manifest: sealed, sha256: sha256Hex(manifestBytes) });

  // an interrupted seal: the manifest is stored, its signature is not
  store.objects.delete(`${DIR}/manifest.jws`);
  const resealed = await bundle.seal(chain, manifestFacts('2.0'));
  t.equal(resealed.tool.version, '1.0', 'the stored manifest is the original');
  t.equal(bytesAt(store, `${DIR}/manifest.json`).toString(), manifestBytes.toString());
  t.ok(await verifyDetached(bytesAt(store, `${DIR}/manifest.jws`).toString().trim(), manifestBytes, { keys: [key.publicJwk] }));

  chain.append('report.produced', {});
  await t.rejects(bundle.seal(chain, manifestFacts('1.0')), { code: 'EVIDENCE_CONFLICT' }, 'a manifest never names another chain than the stored one');
});

t.test('an addendum names the manifest it extends; one stored unsigned is signed as stored; one for another manifest is refused', async (t) => {
  const store = new LockingStore();
  const { bundle } = bundleOver(store);
  const chain = new CustodyChain({ component: 'agent' });
  chain.append('bundle.sealed', {});
  await bundle.seal(chain, manifestFacts('1.0'));
  const { sha256 } = await bundle.readManifest();
  t.equal(await bundle.storedAddendum(sha256), undefined, 'none yet');
  const report = await bundle.putText('report.json', 'application/json', '{"checkpoints":[]}\n');
  recordStored(chain, report);
  const entries = chain.entries.slice(1);
  await bundle.putAddendum({
    schema: ADDENDUM_SCHEMA,
    captureId: ID,
    manifestSha256: sha256,
    artifacts: [report.artifact],
    custody: { entries: [...entries], head: chain.head },
  });
  t.same(
    store.puts.slice(-2).map((p) => p.key),
    [`${DIR}/addendum.json`, `${DIR}/addendum.jws`],
  );
  const addendumBytes = bytesAt(store, `${DIR}/addendum.json`);
  const addendum = JSON.parse(addendumBytes.toString());
  t.same(addendum.signing, { alg: key.alg, kid: key.kid });
  t.equal(addendum.manifestSha256, sha256);

  store.objects.delete(`${DIR}/addendum.jws`);
  t.same(await bundle.storedAddendum(sha256), addendum, 'the stored addendum is the original');
  t.ok(await verifyDetached(bytesAt(store, `${DIR}/addendum.jws`).toString().trim(), addendumBytes, { keys: [key.publicJwk] }), 'signed as stored');
  await t.rejects(bundle.storedAddendum('0'.repeat(64)), { code: 'EVIDENCE_CONFLICT' });
});

t.test("abortUploads asks the store for the bundle's prefix; a store without multipart uploads has nothing to abort", async (t) => {
  const store = new LockingStore();
  await bundleOver(store).bundle.abortUploads();
  t.same(store.aborted, [`${DIR}/`]);
  const plain = new MemoryStore();
  await new EvidenceBundle(
    plain,
    key,
    new MapLedger(plain),
    { id: ID, createdAt: '2026-11-28T10:00:00.000Z', spec: { evidence: { retentionDays: 0, lock: 'none' } } },
    {
      prefix: '',
      cluster: 'test',
    },
  ).abortUploads();
  t.same([...plain.objects.keys()], []);
});
