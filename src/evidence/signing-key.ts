import { link, mkdir, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  CompactSign,
  compactVerify,
  createLocalJWKSet,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { AmberError } from '../core/amber-error.js';

/** A set of public keys (RFC 7517), as the evidence folder verifies with: for callers that may not import jose. */
export type PublicKeySet = JSONWebKeySet;

export type SigningAlg = 'EdDSA' | 'ES256';
type PrivateKey = Awaited<ReturnType<typeof importPKCS8>>;

/** A private signing key and its public JWK (`kid` = RFC 7638 thumbprint). */
export interface SigningKey {
  readonly alg: SigningAlg;
  readonly kid: string;
  readonly publicJwk: JWK;
  /** Detached compact JWS (`header..signature`) over `payload`. */
  sign(payload: Uint8Array): Promise<string>;
}

async function fromPrivate(privateKey: PrivateKey, alg: SigningAlg): Promise<SigningKey> {
  const full = await exportJWK(privateKey);
  const { d: _d, ...pub } = full;
  const kid = await calculateJwkThumbprint(pub);
  const publicJwk: JWK = { ...pub, kid, alg, use: 'sig' };
  return {
    alg,
    kid,
    publicJwk,
    async sign(payload) {
      const jws = await new CompactSign(payload).setProtectedHeader({ alg, kid }).sign(privateKey);
      const [h, , s] = jws.split('.');
      return `${h}..${s}`;
    },
  };
}

function algOf(jwk: JWK): SigningAlg {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new AmberError('CONFIG_INVALID', { setting: 'signing key', problem: `unsupported key ${jwk.kty}/${jwk.crv ?? '?'}: use Ed25519 or P-256` });
}

/** Reads a private key from a JWK file or a PKCS#8 PEM file (Ed25519 or P-256). */
export async function loadSigningKey(file: string): Promise<SigningKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new AmberError('CONFIG_INVALID', { setting: 'signing key', file, problem: 'cannot read the file' }, { cause });
  }
  try {
    if (text.trimStart().startsWith('{')) {
      const jwk = JSON.parse(text) as JWK;
      if (jwk.d === undefined) throw new Error('the JWK has no private part (d)');
      const alg = algOf(jwk);
      return await fromPrivate((await importJWK(jwk, alg, { extractable: true })) as PrivateKey, alg);
    }
    for (const alg of ['EdDSA', 'ES256'] as const) {
      try {
        return await fromPrivate(await importPKCS8(text, alg, { extractable: true }), alg);
      } catch {
        // try the next algorithm
      }
    }
    throw new Error('not a PKCS#8 Ed25519 or P-256 private key');
  } catch (cause) {
    if (cause instanceof AmberError) throw cause;
    throw new AmberError('CONFIG_INVALID', { setting: 'signing key', file, problem: (cause as Error).message }, { cause });
  }
}

/**
 * The key in `<dir>/signing-key.pem`, generated (Ed25519, mode 0600) on first use, with the public
 * set written to `<dir>/jwks.json`. `generated` tells the caller to warn: a key made on the fly
 * is for trial use, not for evidence that must stand up later.
 */
export async function loadOrCreateSigningKey(dir: string): Promise<{ key: SigningKey; generated: boolean }> {
  const file = join(dir, 'signing-key.pem');
  let generated = false;
  try {
    await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // unreadable is not absent: never replace a key
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    // temp file, fsync, link into place: a crash never leaves a half-written key behind
    const tmp = `${file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(await exportPKCS8(privateKey));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, file);
      generated = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another process made one first: use it
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }
  const key = await loadSigningKey(file);
  await writeJwks(dir, [key.publicJwk]);
  return { key, generated };
}

export async function writeJwks(dir: string, keys: readonly JWK[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'jwks.json'), `${JSON.stringify({ keys }, null, 2)}\n`);
}

/** Verifies a detached JWS over `payload` against a JWKS; returns the kid, or throws with the reason. */
export async function verifyDetached(jws: string, payload: Uint8Array, jwks: JSONWebKeySet): Promise<{ kid: string | undefined; alg: string }> {
  const [h, body, s] = jws.trim().split('.');
  if (h === undefined || s === undefined || body !== '') throw new Error('not a detached compact JWS');
  const full = `${h}.${Buffer.from(payload).toString('base64url')}.${s}`;
  const { protectedHeader } = await compactVerify(full, createLocalJWKSet(jwks), { algorithms: ['EdDSA', 'ES256'] });
  return { kid: protectedHeader.kid, alg: protectedHeader.alg };
}

/**
 * Public keys from a JWKS file, checked at load time: each must be an Ed25519 or P-256 public key
 * (a private part is refused: the file is served to anyone), and gets its RFC 7638 thumbprint as
 * `kid` when it has none. Used for the keys a server publishes besides its own: earlier keys after
 * a rotation, or — for the responder, which holds no private key — the agents' key.
 */
export async function loadPublicJwks(file: string): Promise<JWK[]> {
  const bad = (problem: string, cause?: unknown): never => {
    throw new AmberError('CONFIG_INVALID', { setting: 'jwksFile', file, problem }, cause === undefined ? undefined : { cause });
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    return bad(cause instanceof SyntaxError ? 'not JSON' : 'cannot read the file', cause);
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) return bad('not a JWKS: no "keys" array');
  const out: JWK[] = [];
  for (const [i, raw] of keys.entries()) {
    const jwk = raw as JWK;
    if (typeof jwk !== 'object' || jwk === null) return bad(`keys[${i}] is not an object`);
    if (jwk.d !== undefined) return bad(`keys[${i}] holds a private key: publish only the public half (amber jwks prints it)`);
    let alg: SigningAlg;
    try {
      alg = algOf(jwk);
      await importJWK(jwk, alg);
    } catch (cause) {
      return bad(`keys[${i}] is not a usable Ed25519 or P-256 public key`, cause);
    }
    const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk));
    out.push({ ...jwk, kid, alg, use: 'sig' });
  }
  return out;
}

/** One JWKS from several sources, the first key of each kid winning. */
export function mergeJwks(...sets: readonly (readonly JWK[])[]): { keys: JWK[] } {
  const seen = new Set<string>();
  const keys: JWK[] = [];
  for (const k of sets.flat()) {
    if (k.kid !== undefined && seen.has(k.kid)) continue;
    if (k.kid !== undefined) seen.add(k.kid);
    keys.push(k);
  }
  return { keys };
}
