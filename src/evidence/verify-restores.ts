import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { Compile } from 'typebox/compile';
import { sha256Hex } from '../core/canonical-json.js';
import type { CustodyEntry } from '../core/custody-entry.js';
import { describeSchemaErrors } from '../core/schema-problem.js';
import type { Addendum } from './addendum.js';
import { entryHash } from './custody-chain.js';
import type { Manifest } from './manifest.js';
import { RESTORE_FILE, restoreFileNames, RestoreRecord } from './restore-record.js';
import { verifyDetached } from './signing-key.js';
import type { Check } from './verify-bundle.js';

const checkRecord = Compile(RestoreRecord);
const RECORD_LIMIT = 1024 * 1024;
const JWS_LIMIT = 64 * 1024;

/** What the bundle verifier lends the restore checks. */
export interface RestoreTools {
  readonly present: ReadonlySet<string>;
  readSmall(name: string, limit: number): Promise<Uint8Array | string>;
  readonly add: (c: Check) => void;
}

/** Where a custody chain stands: how many entries it has and its head. */
interface ChainEnd {
  readonly entries: number;
  readonly head: string;
}

/**
 * Checks every restore record (restore-<n>.json + .jws) the bundle has: numbered 1, 2, 3… without
 * a gap (a missing one was removed), each fits the schema, is signed by a key of the JWKS (an
 * analyst's own key is fine, and is named), names this manifest and an archive of it with the
 * archive's own hash as the image's layer, and continues the custody of the record it says it
 * continues. `addendum`: the bundle's verified addendum, when it has one. Returns the names it
 * accounts for.
 */
export async function verifyRestores(
  manifest: Manifest,
  manifestBytes: Uint8Array,
  addendum: Addendum | undefined,
  jwks: JSONWebKeySet,
  tools: RestoreTools,
): Promise<string[]> {
  const { present, add } = tools;
  const numbers = [...new Set([...present].flatMap((n) => RESTORE_FILE.exec(n)?.[1] ?? []).map(Number))].sort((a, b) => a - b);
  if (numbers.length === 0) return [];
  const names = numbers.flatMap((n) => Object.values(restoreFileNames(n)).filter((f) => present.has(f)));
  const highest = numbers[numbers.length - 1] ?? 0;
  const gaps = Array.from({ length: highest }, (_, i) => i + 1).filter((n) => !numbers.includes(n));
  add({
    check: 'restore numbers',
    ok: gaps.length === 0,
    detail: gaps.length === 0 ? `${highest} restore records` : `restore ${gaps.join(', ')} missing of 1…${highest}: a record was removed`,
  });

  const ends = new Map<string, ChainEnd>([['manifest', { entries: manifest.custody.entries, head: manifest.custody.head }]]);
  if (addendum) ends.set('addendum', { entries: manifest.custody.entries + addendum.custody.entries.length, head: addendum.custody.head });
  const manifestSha256 = sha256Hex(manifestBytes);
  for (const n of numbers) {
    const record = await readRecord(n, tools);
    if (!record) continue;
    const file = restoreFileNames(n).json;
    await signatureCheck(n, record.bytes, manifest, jwks, tools);
    const r = record.value;
    const binding: string[] = [];
    if (r.number !== n) binding.push(`it says it is restore ${r.number}`);
    if (r.captureId !== manifest.captureId) binding.push(`it is for capture ${r.captureId}, the manifest for ${manifest.captureId}`);
    if (r.manifestSha256 !== manifestSha256) binding.push('it names another manifest.json (its manifestSha256 differs)');
    const archive = manifest.artifacts.find((a) => a.name === r.archive.name);
    const archiveSha256 = archive?.plaintext?.sha256 ?? archive?.sha256;
    if (archive === undefined) binding.push(`it restores ${r.archive.name}, which the manifest does not list`);
    else if (archiveSha256 !== r.archive.sha256)
      binding.push(`it restores ${r.archive.name} with sha256 ${r.archive.sha256}, the manifest seals ${archiveSha256}`);
    if (r.image.layerDigest !== `sha256:${r.archive.sha256}`)
      binding.push(`its image's layer ${r.image.layerDigest} is not the archive (sha256:${r.archive.sha256})`);
    add({
      check: 'restore',
      artifact: file,
      ok: binding.length === 0,
      detail:
        binding.length === 0
          ? `${r.archive.container} as image ${r.image.digest}${r.sandbox ? ` in ${r.sandbox.namespace}/${r.sandbox.pod}` : ''}${r.podman ? ` in podman ${r.podman.container}` : ''}, by ${r.restoredBy.user}@${r.restoredBy.host} at ${r.at}`
          : binding.join('; '),
    });
    const continued = continuedNumber(r.custody.continues);
    const from = continued !== undefined && continued >= n ? undefined : ends.get(r.custody.continues);
    const custody =
      from === undefined
        ? { ok: false, detail: `it continues ${r.custody.continues}, which is not an earlier verified record of this bundle` }
        : custodyCheck(r.custody.entries, r.custody.head, from);
    add({ check: 'restore custody', artifact: file, ...custody });
    if (custody.ok) ends.set(`restore-${n}`, { entries: (from?.entries ?? 0) + r.custody.entries.length, head: r.custody.head });
  }
  return names;
}

function continuedNumber(continues: string): number | undefined {
  const m = /^restore-(\d+)$/.exec(continues);
  return m ? Number(m[1]) : undefined;
}

async function readRecord(n: number, tools: RestoreTools): Promise<{ bytes: Uint8Array; value: RestoreRecord } | undefined> {
  const { json, jws } = restoreFileNames(n);
  const fail = (detail: string): undefined => void tools.add({ check: 'restore', artifact: json, ok: false, detail });
  if (!tools.present.has(json)) return fail(`${jws} without ${json}`);
  if (!tools.present.has(jws)) return fail(`${json} is not signed: ${jws} is missing`);
  const bytes = await tools.readSmall(json, RECORD_LIMIT);
  if (typeof bytes === 'string') return fail(bytes);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    return fail(`${json} is not JSON: ${(e as Error).message}`);
  }
  if (!checkRecord.Check(value)) {
    const { path, problem } = describeSchemaErrors(checkRecord.Errors(value));
    return fail(`${json} does not fit the restore record schema at ${path}: ${problem}`);
  }
  return { bytes, value };
}

async function signatureCheck(n: number, payload: Uint8Array, manifest: Manifest, jwks: JSONWebKeySet, tools: RestoreTools): Promise<void> {
  const { json, jws: jwsName } = restoreFileNames(n);
  const add = (ok: boolean, detail: string) => tools.add({ check: 'restore signature', artifact: json, ok, detail });
  const read = await tools.readSmall(jwsName, JWS_LIMIT);
  if (typeof read === 'string') return add(false, read);
  const jws = Buffer.from(read).toString('utf8').trim();
  try {
    const kid = decodeProtectedHeader(jws).kid;
    const known = jwks.keys.map((k) => k.kid);
    if (kid === undefined || !known.includes(kid))
      return add(false, `signed by kid ${String(kid)}, which the JWKS does not hold: pass the restorer's public key with --jwks`);
    const { alg } = await verifyDetached(jws, payload, jwks);
    add(true, `kid ${kid}, ${alg}${kid === manifest.signing.kid ? ' (the bundle key)' : " (the restorer's own key)"}`);
  } catch (e) {
    add(false, `${jwsName} does not verify ${json}: ${(e as Error).message}`);
  }
}

/** The entries must continue `from`: seq after its count, first prev = its head. */
function custodyCheck(entries: readonly CustodyEntry[], head: string, from: ChainEnd): { ok: boolean; detail: string } {
  let prev = from.head;
  for (const [i, e] of entries.entries()) {
    const where = `custody entry ${i + 1}`;
    if (e.seq !== from.entries + i) return { ok: false, detail: `${where}: seq is ${e.seq}, expected ${from.entries + i}` };
    if (e.prev !== prev) return { ok: false, detail: `${where}: prev does not continue the chain` };
    if (entryHash(e) !== e.hash) return { ok: false, detail: `${where}: hash does not match the entry (entry edited)` };
    prev = e.hash;
  }
  if (prev !== head) return { ok: false, detail: `the entries end at ${prev}, the record says ${head}` };
  return { ok: true, detail: `${entries.length} entries continue the chain` };
}
