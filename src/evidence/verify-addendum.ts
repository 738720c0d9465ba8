import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { Compile } from 'typebox/compile';
import { sha256Hex } from '../core/canonical-json.js';
import type { CustodyEntry } from '../core/custody-entry.js';
import { describeSchemaErrors } from '../core/schema-problem.js';
import { Addendum } from './addendum.js';
import { ARTIFACT_NAMES } from './bundle-layout.js';
import { isSafeArtifactName } from './bundle-source.js';
import { entryHash } from './custody-chain.js';
import type { Manifest, ManifestArtifact } from './manifest.js';
import { verifyDetached } from './signing-key.js';
import type { Check } from './verify-bundle.js';

const checkAddendum = Compile(Addendum);
const ADDENDUM_LIMIT = 16 * 1024 * 1024;
const JWS_LIMIT = 64 * 1024;

/** What the bundle verifier lends the addendum checks. */
export interface AddendumTools {
  readonly present: ReadonlySet<string>;
  readSmall(name: string, limit: number): Promise<Uint8Array | string>;
  checkArtifact(a: ManifestArtifact): Promise<unknown>;
  readonly add: (c: Check) => void;
}

/**
 * Checks addendum.json / addendum.jws when the bundle has them: schema, signature (by the key
 * that signed the manifest), that it extends exactly this manifest, its artifacts' sizes and
 * hashes, and that its custody entries continue the sealed chain. Returns the names it accounts
 * for (so they are not reported as unlisted files; none when there is no addendum), and the
 * addendum when it fits the schema (a restore record may continue its custody).
 */
export async function verifyAddendum(
  manifest: Manifest,
  manifestBytes: Uint8Array,
  jwks: JSONWebKeySet,
  tools: AddendumTools,
): Promise<{ names: string[]; addendum?: Addendum }> {
  const { present, add } = tools;
  const hasJson = present.has(ARTIFACT_NAMES.addendum);
  const hasJws = present.has(ARTIFACT_NAMES.addendumJws);
  if (!hasJson && !hasJws) return { names: [] };
  const fail = (detail: string): { names: string[] } => {
    add({ check: 'addendum', ok: false, detail });
    return { names: [ARTIFACT_NAMES.addendum, ARTIFACT_NAMES.addendumJws].filter((n) => present.has(n)) };
  };
  if (!hasJson) return fail('addendum.jws without addendum.json');
  if (!hasJws) return fail('addendum.json is not signed: addendum.jws is missing (a report may still be being written)');
  const bytes = await tools.readSmall(ARTIFACT_NAMES.addendum, ADDENDUM_LIMIT);
  if (typeof bytes === 'string') return fail(bytes);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    return fail(`addendum.json is not JSON: ${(e as Error).message}`);
  }
  if (!checkAddendum.Check(value)) {
    const { path, problem } = describeSchemaErrors(checkAddendum.Errors(value));
    return fail(`addendum.json does not fit the addendum schema at ${path}: ${problem}`);
  }
  const addendum = value;
  const names = [ARTIFACT_NAMES.addendum, ARTIFACT_NAMES.addendumJws, ...addendum.artifacts.map((a) => a.name)];

  const jws = await tools.readSmall(ARTIFACT_NAMES.addendumJws, JWS_LIMIT);
  if (typeof jws === 'string') add({ check: 'addendum signature', ok: false, detail: jws });
  else await signatureCheck(Buffer.from(jws).toString('utf8').trim(), bytes, manifest, jwks, add);

  const binding: string[] = [];
  if (addendum.captureId !== manifest.captureId) binding.push(`it is for capture ${addendum.captureId}, the manifest for ${manifest.captureId}`);
  if (addendum.manifestSha256 !== sha256Hex(manifestBytes)) binding.push('it names another manifest.json (its manifestSha256 differs)');
  const clash = addendum.artifacts
    .map((a) => a.name)
    .filter((n) => manifest.artifacts.some((m) => m.name === n) || !isSafeArtifactName(n) || n.startsWith('manifest.') || n.startsWith('addendum.'));
  if (clash.length > 0) binding.push(`artifact names it may not use: ${clash.join(', ')}`);
  add({
    check: 'addendum',
    ok: binding.length === 0,
    detail: binding.length === 0 ? `extends manifest.json with ${addendum.artifacts.map((a) => a.name).join(', ')}` : binding.join('; '),
  });

  for (const a of addendum.artifacts) if (!clash.includes(a.name)) await tools.checkArtifact(a);
  add(custodyCheck(addendum.custody.entries, addendum.custody.head, manifest));
  return { names, addendum };
}

async function signatureCheck(jws: string, payload: Uint8Array, manifest: Manifest, jwks: JSONWebKeySet, add: (c: Check) => void): Promise<void> {
  try {
    const header = decodeProtectedHeader(jws);
    if (header.kid !== manifest.signing.kid) {
      add({ check: 'addendum signature', ok: false, detail: `signed by ${String(header.kid)}, the manifest by ${manifest.signing.kid}` });
      return;
    }
    const { kid, alg } = await verifyDetached(jws, payload, jwks);
    add({ check: 'addendum signature', ok: true, detail: `kid ${String(kid)}, ${alg}` });
  } catch (e) {
    add({ check: 'addendum signature', ok: false, detail: `addendum.jws does not verify addendum.json: ${(e as Error).message}` });
  }
}

/** The entries must continue the sealed chain: seq after the manifest's count, first prev = its head. */
function custodyCheck(entries: readonly CustodyEntry[], head: string, manifest: Manifest): Check {
  let prev = manifest.custody.head;
  for (const [i, e] of entries.entries()) {
    const seq = manifest.custody.entries + i;
    const where = `addendum custody entry ${i + 1}`;
    if (e.seq !== seq) return { check: 'addendum custody', ok: false, detail: `${where}: seq is ${e.seq}, expected ${seq}` };
    if (e.prev !== prev) return { check: 'addendum custody', ok: false, detail: `${where}: prev does not continue the sealed chain` };
    if (entryHash(e) !== e.hash) return { check: 'addendum custody', ok: false, detail: `${where}: hash does not match the entry (entry edited)` };
    prev = e.hash;
  }
  if (prev !== head) return { check: 'addendum custody', ok: false, detail: `the entries end at ${prev}, the addendum says ${head}` };
  return { check: 'addendum custody', ok: true, detail: `${entries.length} entries continue the sealed chain` };
}
