import { Readable } from 'node:stream';
import { sha256Hex } from '../core/canonical-json.js';
import { isAmberError } from '../core/amber-error.js';
import type { CustodyAction, CustodyActor, CustodyEntry } from '../core/custody-entry.js';
import type { Addendum } from '../evidence/addendum.js';
import { ARTIFACT_NAMES } from '../evidence/bundle-layout.js';
import type { BundleSource } from '../evidence/bundle-source.js';
import { entryHash } from '../evidence/custody-chain.js';
import type { Manifest } from '../evidence/manifest.js';
import { RESTORE_FILE, RESTORE_SCHEMA, restoreFileNames, type RestoreRecord } from '../evidence/restore-record.js';
import type { SigningKey } from '../evidence/signing-key.js';
import type { ObjectStore } from '../storage/object-store.js';
import { retentionOf } from '../storage/retention-of.js';

/** The bundle a restore record is added to: its files as they are now, and where to write. */
export interface RecordTarget {
  readonly store: ObjectStore;
  /** The store key of a file of the bundle. */
  key(name: string): string;
  /** The bundle's file names. */
  list(): Promise<string[]>;
  /** A small file's bytes (a record, the addendum). */
  read(name: string): Promise<Buffer>;
}

/** A bundle being read from `source` and written through `store` (keys by `key`), as a RecordTarget. */
export function bundleRecordTarget(source: BundleSource, store: ObjectStore, key: (name: string) => string): RecordTarget {
  return {
    store,
    key,
    list: () => source.list(),
    read: async (name) => {
      const chunks: Buffer[] = [];
      for await (const chunk of await source.open(name)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  };
}

/** What a restore did, for its record: everything but the numbering and the custody, which are derived. */
export type RestoreFacts = Omit<RestoreRecord, 'schema' | 'captureId' | 'number' | 'manifestSha256' | 'custody' | 'signing' | 'at'>;

/** One custody step of the restore, in the order it happened. */
export interface RestoreStep {
  readonly action: Extract<CustodyAction, `restore.${string}`>;
  readonly details: Record<string, unknown>;
  readonly at: string;
}

/** Another restorer may write the same number first: the next number is tried, this many times. */
const NUMBER_ATTEMPTS = 20;

/**
 * Writes restore-<n>.json and its signature restore-<n>.jws beside the bundle, write-once: n is
 * one more than the bundle's highest record, and when another restore took that number meanwhile
 * (the put finds the key taken) the record is rebuilt for the next. Its custody continues the
 * latest record (the last restore, else the addendum, else the manifest). On S3 the record is kept
 * under the bundle's own retention. Returns the record as written.
 */
export async function recordRestore(
  target: RecordTarget,
  bundle: { manifest: Manifest; manifestBytes: Uint8Array },
  facts: RestoreFacts,
  steps: readonly RestoreStep[],
  actor: CustodyActor,
  signingKey: SigningKey,
  now: () => Date = () => new Date(),
): Promise<{ record: RestoreRecord; uri: string }> {
  const { manifest } = bundle;
  const retention = retentionOf(manifest.evidence, manifest.times.queued);
  const meta = { contentType: 'application/json', ...(retention ? { retention } : {}), metadata: { 'capture-id': manifest.captureId } };
  for (let attempt = 1; ; attempt++) {
    const names = await target.list();
    const { number, continues, from } = await chainEnd(target, names, manifest);
    const entries = continueChain(from, steps, actor);
    const record: RestoreRecord = {
      schema: RESTORE_SCHEMA,
      captureId: manifest.captureId,
      number,
      manifestSha256: sha256Hex(bundle.manifestBytes),
      ...facts,
      at: now().toISOString(),
      custody: { continues, entries, head: entries[entries.length - 1]?.hash ?? from.head },
      signing: { alg: signingKey.alg, kid: signingKey.kid },
    };
    const bytes = Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
    const file = restoreFileNames(number);
    try {
      await target.store.put(target.key(file.json), Readable.from([bytes]), { ...meta, sha256: sha256Hex(bytes) });
    } catch (e) {
      // another restore of this bundle took the number: build the record again for the next one
      if (isAmberError(e, 'STORE_EXISTS') && attempt < NUMBER_ATTEMPTS) continue;
      throw e;
    }
    // the signature is a hard stop too: an unsigned record is reported by verify, and the caller says so
    const jws = Buffer.from(`${await signingKey.sign(bytes)}\n`);
    await target.store.put(target.key(file.jws), Readable.from([jws]), { ...meta, contentType: 'application/jose', sha256: sha256Hex(jws) });
    return { record, uri: target.store.uri(target.key(file.json)) };
  }
}

interface ChainEnd {
  readonly entries: number;
  readonly head: string;
}

/** The next record's number, and the end of the custody it continues. */
async function chainEnd(target: RecordTarget, names: readonly string[], manifest: Manifest): Promise<{ number: number; continues: string; from: ChainEnd }> {
  const numbers = names.flatMap((n) => RESTORE_FILE.exec(n)?.[1] ?? []).map(Number);
  const highest = Math.max(0, ...numbers);
  const lastRecord = highest > 0 && names.includes(restoreFileNames(highest).json) ? restoreFileNames(highest).json : undefined;
  if (lastRecord !== undefined) {
    const last = JSON.parse((await target.read(lastRecord)).toString('utf8')) as RestoreRecord;
    const tail = last.custody.entries[last.custody.entries.length - 1];
    return { number: highest + 1, continues: `restore-${highest}`, from: { entries: (tail?.seq ?? -1) + 1, head: last.custody.head } };
  }
  if (names.includes(ARTIFACT_NAMES.addendum)) {
    const addendum = JSON.parse((await target.read(ARTIFACT_NAMES.addendum)).toString('utf8')) as Addendum;
    return {
      number: highest + 1,
      continues: 'addendum',
      from: { entries: manifest.custody.entries + addendum.custody.entries.length, head: addendum.custody.head },
    };
  }
  return { number: highest + 1, continues: 'manifest', from: { entries: manifest.custody.entries, head: manifest.custody.head } };
}

function continueChain(from: ChainEnd, steps: readonly RestoreStep[], actor: CustodyActor): CustodyEntry[] {
  const entries: CustodyEntry[] = [];
  let prev = from.head;
  for (const [i, step] of steps.entries()) {
    const body = { seq: from.entries + i, at: step.at, actor, action: step.action, details: step.details, prev };
    const entry = { ...body, hash: entryHash(body) };
    entries.push(entry);
    prev = entry.hash;
  }
  return entries;
}
