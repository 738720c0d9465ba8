import { retentionOf } from '../storage/retention-of.js';
import { createReadStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AmberError, isAmberError } from '../core/amber-error.js';
import { sha256Hex } from '../core/canonical-json.js';
import type { Capture, EvidenceSettings } from '../core/capture.js';
import { hashFile, HashStream } from '../core/hash-stream.js';
import type { Addendum } from '../evidence/addendum.js';
import { createAgeEncryptStream } from '../evidence/age/age-encrypt.js';
import { ARTIFACT_NAMES, bundleLayout, type BundleLayout } from '../evidence/bundle-layout.js';
import type { CustodyChain } from '../evidence/custody-chain.js';
import type { Manifest, ManifestArtifact } from '../evidence/manifest.js';
import type { SigningKey } from '../evidence/signing-key.js';
import type { ObjectStore, PutMeta, StoredObject } from '../storage/object-store.js';

/** 1 MiB reads: 64 KiB chunks cost more in per-chunk overhead than the hashing; 4 MiB ones in allocation. */
const STREAM_CHUNK = 1024 * 1024;
const AGE_MEDIA_TYPE = 'application/octet-stream';
/** manifest.json and addendum.json are small; a bigger one is not ours. */
const DOCUMENT_LIMIT = 16 * 1024 * 1024;

export interface Plaintext {
  readonly size: number;
  readonly sha256: string;
}

/**
 * Where the plaintext size and SHA-256 of an encrypted text artifact are recorded before its
 * upload (the capture's status): a retry that finds the ciphertext stored cannot hash what is
 * inside it, and must not guess. CaptureRecord is one.
 */
export interface PlaintextLedger {
  plaintextOf(name: string): Plaintext | undefined;
  recordPlaintext(name: string, plaintext: Plaintext): Promise<void>;
}

/** One artifact as the bundle stored it. */
export interface StoredArtifact {
  /** As the manifest lists it: the stored object, and for an encrypted one its plaintext. */
  readonly artifact: ManifestArtifact;
  /** Where the stored object is (`file:///…/checkpoint-app.tar.age`, `s3://…`). */
  readonly uri: string;
  /** True when an earlier attempt had stored it: that object is the original, kept as it is. */
  readonly existed: boolean;
  /** The age recipients of an encrypted artifact. */
  readonly recipients?: readonly string[];
}

/**
 * One capture's evidence bundle over the ObjectStore port — as Velero's backup store sits over its
 * object store: the capture side stores and reads a bundle's objects only through it. What it
 * takes care of, so that no step has to:
 * - keys: the bundle layout (evidence/bundle-layout.ts), from the capture's id and date;
 * - write-once: an object already stored (by an interrupted attempt) is the original, whose size
 *   and hash are returned and whose bytes a retry signs; nothing is ever overwritten;
 * - encryption: with the policy's age recipients, archives and text artifacts are stored as
 *   `<name>.age`, streamed, their plaintext hashed on the way in;
 * - retention: every object gets the policy's Object Lock retention and legal hold, re-asserted on
 *   one found already stored (the crash may have come between the upload and the lock);
 * - the store's optional methods (putFile, protect, abortUploads), used when the store has them.
 *
 * It lives in capture/ because it joins the storage port with the evidence formats, layout and
 * signing key, and capture/ is the folder that may import both (evidence/ imports only core).
 */
export class EvidenceBundle {
  readonly layout: BundleLayout;
  private readonly meta: PutMeta;
  private readonly recipients: readonly string[] | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly signingKey: SigningKey,
    private readonly plaintexts: PlaintextLedger,
    capture: Pick<Capture, 'id' | 'createdAt'> & { readonly spec: { readonly evidence: EvidenceSettings } },
    where: { readonly prefix: string; readonly cluster: string },
  ) {
    this.layout = bundleLayout({ prefix: where.prefix, cluster: where.cluster, captureId: capture.id, createdAt: capture.createdAt });
    const evidence = capture.spec.evidence;
    const retention = retentionOf(evidence, capture.createdAt);
    this.meta = {
      metadata: { 'amber-capture-id': capture.id },
      ...(retention !== undefined ? { retention } : {}),
      ...(evidence.legalHold === true ? { legalHold: true } : {}),
    };
    const recipients = evidence.encryption?.recipients;
    this.recipients = recipients !== undefined && recipients.length > 0 ? recipients : undefined;
  }

  /** The bundle directory's location (`…/<capture-id>/`). */
  get uri(): string {
    return this.store.uri(`${this.layout.dir}/`);
  }

  /** True when the policy names age recipients: archives and text artifacts are stored encrypted. */
  get encrypted(): boolean {
    return this.recipients !== undefined;
  }

  /** The key id that signs the bundle's manifest and addendum. */
  get signingKeyId(): string {
    return this.signingKey.kid;
  }

  /** True when the archive or text artifact `name` is stored (as `<name>.age` when the bundle is encrypted). */
  async has(name: string): Promise<boolean> {
    const key = this.layout.key(name);
    return (await this.store.head(this.recipients === undefined ? key : ARTIFACT_NAMES.encrypted(key))) !== undefined;
  }

  /**
   * Stores a checkpoint archive from a local file, streamed, never buffered. In clear, a store that
   * can may take the file itself when it is ours to delete (`take`).
   */
  async putArchive(name: string, file: string, options: { readonly take: boolean }): Promise<StoredArtifact> {
    const mediaType = 'application/x-tar';
    const key = this.layout.key(name);
    const recipients = this.recipients;
    if (recipients === undefined) {
      const stored = await this.putOnce(
        key,
        () => createReadStream(file, { highWaterMark: STREAM_CHUNK }),
        { ...this.meta, contentType: mediaType },
        { file, ...options },
      );
      return { artifact: { name, size: stored.size, sha256: stored.sha256, mediaType }, uri: this.store.uri(key), existed: stored.existed };
    }
    let hashed: HashStream | undefined;
    const sealedKey = ARTIFACT_NAMES.encrypted(key);
    const stored = await this.putOnce(
      sealedKey,
      () => {
        const source = createReadStream(file, { highWaterMark: STREAM_CHUNK });
        hashed = new HashStream();
        const encrypt = createAgeEncryptStream(recipients);
        // errors travel downstream, so the upload fails instead of completing a short object
        source.on('error', (e) => encrypt.destroy(e));
        hashed.on('error', (e) => encrypt.destroy(e));
        return source.pipe(hashed).pipe(encrypt);
      },
      this.ageMeta(),
    );
    // the ciphertext cannot tell what it holds: a stored one's plaintext is hashed from the node copy
    const inside = !stored.existed && hashed !== undefined ? { size: hashed.bytes, sha256: hashed.sha256 } : await hashFile(file);
    return this.sealedArtifact(name, mediaType, sealedKey, stored, inside, recipients);
  }

  /**
   * Stores a small text artifact (pod.json, signals.json, logs, report.json). A retry makes it
   * again and it may differ (a pod changes, logs grow): an encrypted one's plaintext hash is recorded
   * in the ledger before the upload, so a retry that finds the ciphertext stored knows what it holds.
   */
  async putText(name: string, mediaType: string, text: string): Promise<StoredArtifact> {
    const bytes = Buffer.from(text);
    const own: Plaintext = { size: bytes.length, sha256: sha256Hex(bytes) };
    const key = this.layout.key(name);
    const recipients = this.recipients;
    if (recipients === undefined) {
      const stored = await this.putOnce(key, () => Readable.from([bytes]), { ...this.meta, contentType: contentTypeOf(mediaType), sha256: own.sha256 });
      return { artifact: { name, size: stored.size, sha256: stored.sha256, mediaType }, uri: this.store.uri(key), existed: stored.existed };
    }
    let recorded = this.plaintexts.plaintextOf(name);
    if (recorded === undefined || !(await this.has(name))) {
      recorded = own;
      await this.plaintexts.recordPlaintext(name, own);
    }
    const sealedKey = ARTIFACT_NAMES.encrypted(key);
    const stored = await this.putOnce(sealedKey, () => Readable.from([bytes]).pipe(createAgeEncryptStream(recipients)), this.ageMeta());
    return this.sealedArtifact(name, mediaType, sealedKey, stored, stored.existed ? recorded : own, recipients);
  }

  /**
   * Seals the bundle: custody.jsonl (the chain), then manifest.json — `manifest` with custody.jsonl
   * added to its artifacts, the chain's head and the signing key — then manifest.jws, last, so a
   * bundle without it is visibly unsealed. A manifest stored by an earlier attempt is the original:
   * its bytes are signed. Returns the manifest as signed.
   */
  async seal(chain: CustodyChain, manifest: Omit<Manifest, 'custody' | 'signing'>): Promise<Manifest> {
    const custodyText = chain.toJsonl();
    const custody = await this.putDocument(this.layout.custody, custodyText, 'application/x-ndjson');
    if (custody.existed && custody.sha256 !== sha256Hex(custodyText)) {
      // the stored chain is the original; a manifest must never name another head
      throw new AmberError('EVIDENCE_CONFLICT', { name: ARTIFACT_NAMES.custody, problem: 'stored custody log differs from the chain being sealed' });
    }
    const whole: Manifest = {
      ...manifest,
      artifacts: [...manifest.artifacts, { name: ARTIFACT_NAMES.custody, size: custody.size, sha256: custody.sha256, mediaType: 'application/x-ndjson' }],
      custody: { entries: chain.entries.length, head: chain.head },
      signing: { alg: this.signingKey.alg, kid: this.signingKey.kid },
    };
    const bytes = Buffer.from(`${JSON.stringify(whole, null, 2)}\n`);
    const stored = await this.putOnce(this.layout.manifest, () => Readable.from([bytes]), {
      ...this.meta,
      contentType: 'application/json',
      sha256: sha256Hex(bytes),
    });
    const signed = stored.existed ? await this.readAll(this.layout.manifest) : bytes;
    await this.putDocument(this.layout.manifestJws, `${await this.signingKey.sign(signed)}\n`, 'application/jose');
    return JSON.parse(signed.toString('utf8')) as Manifest;
  }

  /** The sealed manifest as stored, and the SHA-256 of its exact bytes (what an addendum names). */
  async readManifest(): Promise<{ manifest: Manifest; sha256: string }> {
    const bytes = await this.readAll(this.layout.manifest);
    return { manifest: JSON.parse(bytes.toString('utf8')) as Manifest, sha256: sha256Hex(bytes) };
  }

  /** The stored bytes of an artifact kept in clear (a checkpoint archive). */
  async read(name: string): Promise<Readable> {
    return await this.store.get(this.layout.key(name));
  }

  /**
   * The addendum an earlier attempt stored — the original — or undefined when there is none. It
   * must extend the manifest whose bytes hash to `manifestSha256`; one stored but unsigned is
   * signed now, as stored.
   */
  async storedAddendum(manifestSha256: string): Promise<Addendum | undefined> {
    if ((await this.store.head(this.layout.addendum)) === undefined) return undefined;
    const bytes = await this.readAll(this.layout.addendum);
    const addendum = JSON.parse(bytes.toString('utf8')) as Addendum;
    if (addendum.manifestSha256 !== manifestSha256)
      throw new AmberError('EVIDENCE_CONFLICT', { name: ARTIFACT_NAMES.addendum, problem: 'the stored addendum extends another manifest' });
    if ((await this.store.head(this.layout.addendumJws)) === undefined) await this.signAddendum(bytes);
    return addendum;
  }

  /**
   * Stores addendum.json (`addendum` with the signing key named), then its signature, last: an
   * addendum without addendum.jws is visibly unfinished.
   */
  async putAddendum(addendum: Omit<Addendum, 'signing'>): Promise<void> {
    const whole: Addendum = { ...addendum, signing: { alg: this.signingKey.alg, kid: this.signingKey.kid } };
    const bytes = Buffer.from(`${JSON.stringify(whole, null, 2)}\n`);
    await this.putOnce(this.layout.addendum, () => Readable.from([bytes]), { ...this.meta, contentType: 'application/json', sha256: sha256Hex(bytes) });
    await this.signAddendum(bytes);
  }

  /**
   * Aborts unfinished multipart uploads under the bundle (stores that have them): a create whose
   * answer was lost and was retried, or an attempt killed mid-upload, leaves one nobody would ever
   * complete. Rejects when the store does.
   */
  async abortUploads(): Promise<void> {
    await this.store.abortUploads?.(`${this.layout.dir}/`);
  }

  private async signAddendum(bytes: Buffer): Promise<void> {
    await this.putDocument(this.layout.addendumJws, `${await this.signingKey.sign(bytes)}\n`, 'application/jose');
  }

  private sealedArtifact(name: string, mediaType: string, key: string, stored: PutOnce, inside: Plaintext, recipients: readonly string[]): StoredArtifact {
    return {
      artifact: {
        name: ARTIFACT_NAMES.encrypted(name),
        size: stored.size,
        sha256: stored.sha256,
        mediaType: AGE_MEDIA_TYPE,
        plaintext: { name, ...inside, mediaType },
      },
      uri: this.store.uri(key),
      existed: stored.existed,
      recipients,
    };
  }

  /** An age file's metadata: its plaintext hash is not the stored bytes', so none is given to check. */
  private ageMeta(): PutMeta {
    return { ...this.meta, contentType: AGE_MEDIA_TYPE };
  }

  /** A bundle document in clear (custody.jsonl, a signature), its SHA-256 known before the upload. */
  private async putDocument(key: string, text: string, contentType: string): Promise<PutOnce> {
    const bytes = Buffer.from(text);
    return await this.putOnce(key, () => Readable.from([bytes]), { ...this.meta, contentType, sha256: sha256Hex(bytes) });
  }

  /**
   * Stores `body` under `key` unless an object is already there, in which case the stored object is
   * the original: its size and hash are returned and `body` is discarded. This is what lets a retried
   * capture continue without ever producing a second, different "original". Either way the object
   * ends under the retention asked for.
   */
  private async putOnce(key: string, body: () => Readable, put: PutMeta, local?: { readonly file: string; readonly take: boolean }): Promise<PutOnce> {
    if ((await this.store.head(key)) === undefined) {
      try {
        const adopted = local !== undefined && this.store.putFile ? await this.store.putFile(key, local.file, { ...put, take: local.take }) : undefined;
        return { ...(adopted ?? (await this.store.put(key, body(), put))), existed: false };
      } catch (e) {
        if (!isAmberError(e, 'STORE_EXISTS')) throw e;
        // lost a race with ourselves after a restart: fall through and read what is there
      }
    }
    const hash = new HashStream();
    // pipeline, not pipe: a read error must reject here, not crash the process
    await pipeline(await this.store.get(key), hash, new Writable({ write: (_c, _e, done) => done() }));
    if (put.retention !== undefined || put.legalHold === true) await this.store.protect?.(key, put.retention, put.legalHold);
    return { key, size: hash.bytes, sha256: hash.sha256, existed: true };
  }

  private async readAll(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of await this.store.get(key)) {
      size += (chunk as Buffer).length;
      if (size > DOCUMENT_LIMIT) throw new AmberError('EVIDENCE_CONFLICT', { key, problem: `larger than ${DOCUMENT_LIMIT} bytes` });
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }
}

type PutOnce = StoredObject & { readonly existed: boolean };

/** The custody entries of one stored artifact: hashed (the evidence's identity), encrypted when it is, stored. */
export function recordStored(chain: CustodyChain, stored: StoredArtifact): void {
  const a = stored.artifact;
  const identity = a.plaintext ?? a;
  chain.append('artifact.hashed', { name: identity.name, size: identity.size, sha256: identity.sha256 });
  if (a.plaintext)
    chain.append('artifact.encrypted', { name: a.name, format: 'age', recipients: [...(stored.recipients ?? [])], size: a.size, sha256: a.sha256 });
  chain.append('artifact.stored', { name: a.name, uri: stored.uri, ...(stored.existed ? { existing: true } : {}) });
}

function contentTypeOf(mediaType: string): string {
  return mediaType === 'text/plain' ? 'text/plain; charset=utf-8' : mediaType;
}
