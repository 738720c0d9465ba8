import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decodeProtectedHeader, errors as joseErrors, type JSONWebKeySet, type ProtectedHeaderParameters } from 'jose';
import { Compile } from 'typebox/compile';
import { parseRfc3339 } from '../core/rfc3339.js';
import { describeSchemaErrors } from '../core/schema-problem.js';
import { HashStream } from '../core/hash-stream.js';
import { ARTIFACT_NAMES } from './bundle-layout.js';
import { isSafeArtifactName, type BundleSource } from './bundle-source.js';
import { verifyCustodyJsonl } from './custody-chain.js';
import { Manifest, type ManifestArtifact } from './manifest.js';
import { verifyDetached } from './signing-key.js';
import { verifyAddendum } from './verify-addendum.js';
import { verifyRestores } from './verify-restores.js';
import { plaintextCheck } from './verify-plaintext.js';
import type { AgeIdentity } from './age/age-keys.js';

export type { BundleSource } from './bundle-source.js';
export { directorySource, storeSource } from './bundle-source.js';

/**
 * One finding. `check` is a stable name: `manifest`, `signature`, `artifact names`, `capture id`,
 * `archives`, `times`, `signing key`, `custody listed`, `artifact`, `unlisted file`,
 * `custody chain`, `custody head`, `custody entries`, and for a bundle with an addendum (the
 * triage report) `addendum`, `addendum signature`, `addendum custody`; for a restored one
 * `restore numbers`, and per restore record `restore`, `restore signature`, `restore custody`; with age identities,
 * `plaintext` for each encrypted artifact. `artifact` names the file, `line` the
 * 1-based line of custody.jsonl.
 */
export interface Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail?: string;
  readonly artifact?: string;
  readonly line?: number;
}

/** `manifest` is present whenever manifest.json fits the schema — even when `valid` is false. */
export interface VerifyReport {
  readonly valid: boolean;
  readonly checks: Check[];
  readonly manifest?: Manifest;
}

export interface VerifyProgress {
  readonly name: string;
  readonly done: number;
  readonly total: number;
}

export interface VerifyOptions {
  readonly jwks: JSONWebKeySet;
  /** age identities: encrypted artifacts are then decrypted (streamed) and their plaintext hashes checked. */
  readonly identities?: readonly AgeIdentity[];
  /** Called while an artifact is hashed: at its start, every ~1% (at least 1 MiB) and at its end. */
  readonly onProgress?: (p: VerifyProgress) => void;
}

const checkManifest = Compile(Manifest);
const MANIFEST_LIMIT = 16 * 1024 * 1024;
const JWS_LIMIT = 64 * 1024;
/** custody.jsonl is parsed in memory; a real one is a few KiB. */
const CUSTODY_LIMIT = 64 * 1024 * 1024;
const CUSTODY = ARTIFACT_NAMES.custody;

/**
 * Checks a bundle offline: the signature over manifest.json's exact bytes, every artifact's size
 * and SHA-256 (streamed, never buffered), files the manifest does not list, the custody chain's
 * links and head, and the manifest's internal consistency. Every check is reported, so the report
 * names everything that is wrong, not just the first thing. Throws only when the source itself
 * cannot be listed; unreadable files are findings.
 */
export async function verifyBundle(source: BundleSource, opts: VerifyOptions): Promise<VerifyReport> {
  const checks: Check[] = [];
  const add = (c: Check): void => void checks.push(c);
  const present = new Set(await source.list());

  const manifestBytes = await readSmall(source, present, ARTIFACT_NAMES.manifest, MANIFEST_LIMIT);
  const manifest = manifestCheck(manifestBytes, add);
  const header = await signatureCheck(source, present, manifestBytes, opts.jwks, add);

  if (!manifest) {
    // Nothing to compare the files with; the chain's own links can still be checked.
    if (present.has(CUSTODY)) {
      const custody = await readSmall(source, present, CUSTODY, CUSTODY_LIMIT);
      if (custody instanceof Uint8Array) chainChecks(custody, undefined, add);
    }
    return { valid: false, checks };
  }

  consistencyChecks(manifest, source, header, add);

  let custodyBytes: Uint8Array | undefined;
  const identities = opts.identities ?? [];
  const checkArtifact = async (a: ManifestArtifact) => {
    const kept = await artifactCheck(source, a, opts.onProgress, add);
    if (identities.length > 0) await plaintextCheck(source, a, identities, add);
    return kept;
  };
  for (const a of manifest.artifacts) {
    const kept = await checkArtifact(a);
    if (a.name === CUSTODY && kept) custodyBytes = kept;
  }
  const { names: byAddendum, addendum } =
    manifestBytes instanceof Uint8Array
      ? await verifyAddendum(manifest, manifestBytes, opts.jwks, {
          present,
          add,
          readSmall: (name, limit) => readSmall(source, present, name, limit),
          checkArtifact,
        })
      : { names: [], addendum: undefined };
  const byRestores =
    manifestBytes instanceof Uint8Array
      ? await verifyRestores(manifest, manifestBytes, addendum, opts.jwks, {
          present,
          add,
          readSmall: (name, limit) => readSmall(source, present, name, limit),
        })
      : [];
  const listed = new Set<string>([...manifest.artifacts.map((a) => a.name), ARTIFACT_NAMES.manifest, ARTIFACT_NAMES.manifestJws, ...byAddendum, ...byRestores]);
  for (const name of present) {
    if (!listed.has(name))
      add({ check: 'unlisted file', ok: false, artifact: name, detail: 'in the bundle but listed neither in the manifest nor in a signed addendum' });
  }

  if (custodyBytes === undefined && present.has(CUSTODY)) {
    // Not listed, or its size differs: the chain is still worth checking, to say which line broke.
    const read = await readSmall(source, present, CUSTODY, CUSTODY_LIMIT);
    if (read instanceof Uint8Array) custodyBytes = read;
  }
  if (custodyBytes === undefined) add({ check: 'custody chain', ok: false, detail: `${CUSTODY} is missing or cannot be read` });
  else chainChecks(custodyBytes, manifest, add);

  return { valid: checks.every((c) => c.ok), checks, manifest };
}

/** The whole file when it is there and small, a reason when it is not. */
async function readSmall(source: BundleSource, present: ReadonlySet<string>, name: string, limit: number): Promise<Uint8Array | string> {
  if (!present.has(name)) return `${name} is missing`;
  try {
    const size = await source.size(name);
    if (size === undefined) return `${name} is missing`;
    if (size > limit) return `${name} is ${size} bytes, more than the ${limit} a real one can hold`;
    const chunks: Buffer[] = [];
    for await (const chunk of await source.open(name)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } catch (e) {
    return `${name} cannot be read: ${(e as Error).message}`;
  }
}

function manifestCheck(bytes: Uint8Array | string, add: (c: Check) => void): Manifest | undefined {
  if (typeof bytes === 'string') return void add({ check: 'manifest', ok: false, detail: bytes });
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    return void add({ check: 'manifest', ok: false, detail: `manifest.json is not JSON: ${(e as Error).message}` });
  }
  if (!checkManifest.Check(value)) {
    const { path, problem } = describeSchemaErrors(checkManifest.Errors(value));
    return void add({ check: 'manifest', ok: false, detail: `manifest.json does not fit the manifest schema at ${path}: ${problem}` });
  }
  add({ check: 'manifest', ok: true, detail: `capture ${value.captureId}, ${value.artifacts.length} artifacts` });
  return value;
}

async function signatureCheck(
  source: BundleSource,
  present: ReadonlySet<string>,
  manifestBytes: Uint8Array | string,
  jwks: JSONWebKeySet,
  add: (c: Check) => void,
): Promise<ProtectedHeaderParameters | undefined> {
  const fail = (detail: string): undefined => void add({ check: 'signature', ok: false, detail });
  if (!present.has(ARTIFACT_NAMES.manifestJws)) return fail('manifest.jws is missing: the bundle is not sealed');
  const jwsBytes = await readSmall(source, present, ARTIFACT_NAMES.manifestJws, JWS_LIMIT);
  if (typeof jwsBytes === 'string') return fail(jwsBytes);
  const jws = Buffer.from(jwsBytes).toString('utf8').trim();
  let header: ProtectedHeaderParameters;
  try {
    header = decodeProtectedHeader(jws);
  } catch (e) {
    return fail(`manifest.jws is not a compact JWS: ${(e as Error).message}`);
  }
  const kid = header.kid;
  if (typeof manifestBytes === 'string') fail('nothing to check the signature against: manifest.json cannot be read');
  else if (kid === undefined) fail('the JWS header names no key (kid)');
  else await verifySignature(jws, manifestBytes, header, kid, jwks, fail, add);
  return header;
}

async function verifySignature(
  jws: string,
  payload: Uint8Array,
  header: ProtectedHeaderParameters,
  kid: string,
  jwks: JSONWebKeySet,
  fail: (detail: string) => undefined,
  add: (c: Check) => void,
): Promise<void> {
  const known = jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string');
  if (!known.includes(kid)) {
    fail(`unknown kid ${kid}: the JWKS holds ${known.length === 0 ? 'no keys with a kid' : known.join(', ')}`);
    return;
  }
  try {
    const { alg } = await verifyDetached(jws, payload, jwks);
    add({ check: 'signature', ok: true, detail: `kid ${kid}, ${alg}` });
  } catch (e) {
    if (e instanceof joseErrors.JWSSignatureVerificationFailed) fail(`signature does not match manifest.json (kid ${kid})`);
    else if (e instanceof joseErrors.JWKSNoMatchingKey) fail(`the JWKS key ${kid} does not fit alg ${String(header.alg)}`);
    else fail(`cannot verify (kid ${kid}): ${(e as Error).message}`);
  }
}

function consistencyChecks(m: Manifest, source: BundleSource, header: ProtectedHeaderParameters | undefined, add: (c: Check) => void): void {
  const names = m.artifacts.map((a) => a.name);
  const problems: string[] = [];
  const dupes = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
  if (dupes.length > 0) problems.push(`listed more than once: ${dupes.join(', ')}`);
  const unsafe = names.filter((n) => !isSafeArtifactName(n));
  if (unsafe.length > 0) problems.push(`unsafe (a path, not a file name): ${unsafe.map((n) => JSON.stringify(n)).join(', ')}`);
  const self = names.filter((n) => n === ARTIFACT_NAMES.manifest || n === ARTIFACT_NAMES.manifestJws);
  if (self.length > 0) problems.push(`${self.join(', ')} must not be listed as artifacts`);
  add({ check: 'artifact names', ok: problems.length === 0, ...(problems.length > 0 ? { detail: problems.join('; ') } : { detail: 'unique, one file each' }) });

  if (source.captureId !== undefined) {
    const ok = m.captureId === source.captureId;
    add({ check: 'capture id', ok, detail: ok ? m.captureId : `manifest says ${m.captureId}, the bundle is at ${source.captureId}` });
  }

  const containers = m.target.containers.map((c) => c.name);
  const evidence = m.artifacts.map((a) => a.plaintext?.name ?? a.name);
  const missing = containers.filter((c) => !evidence.includes(ARTIFACT_NAMES.archive(c))).map(ARTIFACT_NAMES.archive);
  if (containers.length === 0) add({ check: 'archives', ok: false, detail: 'the manifest names no target container' });
  else if (missing.length > 0) add({ check: 'archives', ok: false, detail: `not listed: ${missing.join(', ')}` });
  else add({ check: 'archives', ok: true, detail: containers.map(ARTIFACT_NAMES.archive).join(', ') });

  add(timesCheck(m.times));

  if (header !== undefined) {
    const ok = header.kid === m.signing.kid && header.alg === m.signing.alg;
    const said = `${m.signing.kid} ${m.signing.alg}`;
    add({ check: 'signing key', ok, detail: ok ? said : `manifest says ${said}, manifest.jws is by ${String(header.kid)} ${String(header.alg)}` });
  }

  const custodyListed = names.includes(CUSTODY);
  add({ check: 'custody listed', ok: custodyListed, detail: custodyListed ? `${CUSTODY} is an artifact` : `${CUSTODY} is not among the artifacts` });
}

/** amber's own clock orders these; `signal` is the sender's clock (Falco on another node) and may run ahead. */
const TIME_ORDER = ['queued', 'checkpointRequested', 'checkpointWritten', 'sealed'] as const;

function timesCheck(times: Manifest['times']): Check {
  if (parseRfc3339(times.signal) === undefined) {
    return { check: 'times', ok: false, detail: `times.signal is not an RFC 3339 time: ${JSON.stringify(times.signal)}` };
  }
  let prev: { key: string; ms: number } | undefined;
  for (const key of TIME_ORDER) {
    const ms = parseRfc3339(times[key]);
    if (ms === undefined) return { check: 'times', ok: false, detail: `times.${key} is not an RFC 3339 time: ${JSON.stringify(times[key])}` };
    if (prev && ms < prev.ms)
      return { check: 'times', ok: false, detail: `times.${key} (${times[key]}) is before times.${prev.key} (${times[prev.key as keyof typeof times]})` };
    prev = { key, ms };
  }
  return { check: 'times', ok: true, detail: TIME_ORDER.join(' ≤ ') };
}

/** Size then SHA-256 (streamed); returns the bytes of custody.jsonl as hashed, so the chain check reads the same bytes. */
async function artifactCheck(
  source: BundleSource,
  a: ManifestArtifact,
  onProgress: VerifyOptions['onProgress'],
  add: (c: Check) => void,
): Promise<Uint8Array | undefined> {
  const fail = (detail: string): undefined => void add({ check: 'artifact', ok: false, artifact: a.name, detail });
  if (!isSafeArtifactName(a.name)) return fail('unsafe name: not opened');
  try {
    const size = await source.size(a.name);
    if (size === undefined) return fail('missing');
    if (size !== a.size) return fail(`size is ${size} bytes, manifest says ${a.size}`);
    const keep = a.name === CUSTODY && size <= CUSTODY_LIMIT;
    const got = await hashStream(source, a.name, size, keep, onProgress);
    if (got.size !== a.size) return fail(`size changed while reading: ${got.size} bytes read, manifest says ${a.size}`);
    if (got.sha256 !== a.sha256) {
      fail(`sha256 differs: manifest ${a.sha256}, file ${got.sha256}`);
      return got.bytes;
    }
    add({ check: 'artifact', ok: true, artifact: a.name, detail: `${a.size} bytes, sha256 ${a.sha256.slice(0, 16)}…` });
    return got.bytes;
  } catch (e) {
    return fail(`cannot be read: ${(e as Error).message}`);
  }
}

async function hashStream(
  source: BundleSource,
  name: string,
  total: number,
  keep: boolean,
  onProgress: VerifyOptions['onProgress'],
): Promise<{ size: number; sha256: string; bytes?: Uint8Array }> {
  const hash = new HashStream();
  const kept: Buffer[] = [];
  const step = Math.max(Math.ceil(total / 100), 1024 * 1024);
  let done = 0;
  let reported = -1;
  const report = (): void => {
    reported = done;
    onProgress?.({ name, done, total });
  };
  report();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      if (keep) {
        if (done <= CUSTODY_LIMIT) kept.push(chunk);
        else keep = false;
      }
      if (done - reported >= step) report();
      cb();
    },
  });
  await pipeline(await source.open(name), hash, sink);
  if (reported !== done) report();
  return { size: hash.bytes, sha256: hash.sha256, ...(keep ? { bytes: Buffer.concat(kept) } : {}) };
}

function chainChecks(bytes: Uint8Array, m: Manifest | undefined, add: (c: Check) => void): void {
  const text = Buffer.from(bytes).toString('utf8');
  let result: ReturnType<typeof verifyCustodyJsonl>;
  try {
    result = verifyCustodyJsonl(text);
  } catch {
    // verifyCustodyJsonl expects objects; name the first line that is JSON but not an object.
    const line = text.split('\n').findIndex((l) => {
      try {
        const v: unknown = JSON.parse(l);
        return typeof v !== 'object' || v === null || Array.isArray(v);
      } catch {
        return false;
      }
    });
    return add({ check: 'custody chain', ok: false, line: line + 1, detail: 'not a JSON object' });
  }
  const shifts = seqShifts(text);
  for (const p of result.problems) {
    if (p.problem.startsWith('seq is') && !shifts.has(p.line)) continue; // follows on from a shift already named
    const after = shifts.get(p.line) ?? 0;
    const more = p.problem.startsWith('seq is') && after > 0 ? ` (the ${after} lines after it carry the same shift)` : '';
    add({ check: 'custody chain', ok: false, line: p.line, detail: p.problem + more });
  }
  if (result.entries === 0) add({ check: 'custody chain', ok: false, detail: `${CUSTODY} holds no entries` });
  else if (result.problems.length === 0) add({ check: 'custody chain', ok: true, detail: `${result.entries} entries, every link and hash holds` });
  if (!m) return;
  const headOk = result.head === m.custody.head;
  add({ check: 'custody head', ok: headOk, detail: headOk ? result.head : `chain ends at ${result.head}, manifest says ${m.custody.head}` });
  const countOk = result.entries === m.custody.entries;
  add({
    check: 'custody entries',
    ok: countOk,
    detail: countOk ? `${result.entries}` : `${CUSTODY} has ${result.entries} entries, manifest says ${m.custody.entries}`,
  });
}

/**
 * Lines whose seq is off by a different amount than the line before's: after a dropped or
 * inserted line every later seq is off by one, and only the first of them says anything.
 * Maps each such line to how many lines after it keep the same shift.
 */
function seqShifts(text: string): Map<number, number> {
  const shifts = new Map<number, number>();
  let previous = 0;
  let current: number | undefined;
  for (const [i, line] of text.split('\n').entries()) {
    let seq: unknown;
    try {
      seq = (JSON.parse(line) as { seq?: unknown } | null)?.seq;
    } catch {
      continue;
    }
    if (typeof seq !== 'number') continue;
    const shift = seq - i;
    if (shift !== previous) {
      if (shift !== 0) shifts.set((current = i + 1), 0);
      else current = undefined;
    } else if (current !== undefined) shifts.set(current, (shifts.get(current) ?? 0) + 1);
    previous = shift;
  }
  return shifts;
}
