import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { AmberError } from '../../core/amber-error.js';
import { bech32Decode, bech32Encode } from '../../core/bech32.js';

export { bech32Decode, bech32Encode } from '../../core/bech32.js';

/*
 * age's X25519 keys as text: recipients are Bech32 (BIP-173) with HRP `age`, identities with HRP
 * `AGE-SECRET-KEY-` written in upper case. age lifts BIP-173's 90-character limit, so neither
 * the encoder nor the decoder here has one.
 */

const RECIPIENT_HRP = 'age';
const IDENTITY_HRP = 'age-secret-key-';
// DER wrappers that turn 32 raw key bytes into the PKCS#8 / SPKI forms node:crypto imports
// (RFC 8410, OID 1.3.101.110 = X25519). Node 20 has no raw import for X25519.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

/** An X25519 identity able to open age stanzas. Holds the key as a KeyObject so it never prints. */
export interface AgeIdentity {
  /** The public recipient (`age1…`) of this identity. */
  readonly recipient: string;
  readonly privateKey: KeyObject;
}

export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The 32 raw bytes of an X25519 public key (or of the public half of a private one). */
export function x25519PublicBytes(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519_PREFIX.length);
}

/** The 32-byte X25519 public key in an `age1…` recipient; AGE_BAD_RECIPIENT otherwise. */
export function parseAgeRecipient(recipient: string): Buffer {
  const decoded = bech32Decode(recipient);
  if ('error' in decoded) throw new AmberError('AGE_BAD_RECIPIENT', { recipient, reason: decoded.error });
  if (decoded.hrp !== RECIPIENT_HRP) {
    throw new AmberError('AGE_BAD_RECIPIENT', { recipient, reason: `type '${decoded.hrp}' is not an X25519 recipient ('age')` });
  }
  if (decoded.bytes.length !== 32) throw new AmberError('AGE_BAD_RECIPIENT', { recipient, reason: `${decoded.bytes.length} bytes, not 32` });
  return decoded.bytes;
}

/** Checks and canonicalises (lower case) an `age1…` recipient. */
export function normalizeAgeRecipient(recipient: string): string {
  return bech32Encode(RECIPIENT_HRP, parseAgeRecipient(recipient));
}

/**
 * A recipients file as `age -R` reads it: one recipient a line, `#` comments and blank lines
 * skipped. Returns the recipients canonicalised.
 */
export function parseAgeRecipientsFile(text: string, source = 'recipients'): string[] {
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      out.push(normalizeAgeRecipient(line));
    } catch (e) {
      throw new AmberError('AGE_BAD_RECIPIENT', { file: source, line: i + 1, recipient: line }, { cause: e });
    }
  });
  if (out.length === 0) throw new AmberError('AGE_BAD_RECIPIENT', { file: source, reason: 'no recipient in the file' });
  return out;
}

/**
 * One `AGE-SECRET-KEY-1…` string as an identity. Error details never carry the key text, only
 * the reason: a mistyped secret key is still mostly secret.
 */
export function parseAgeIdentity(secretKey: string): AgeIdentity {
  const decoded = bech32Decode(secretKey);
  if ('error' in decoded) throw new AmberError('AGE_BAD_IDENTITY', { reason: decoded.error });
  if (decoded.hrp !== IDENTITY_HRP) {
    throw new AmberError('AGE_BAD_IDENTITY', { reason: `type '${decoded.hrp.toUpperCase()}' is not an X25519 identity (AGE-SECRET-KEY-)` });
  }
  if (decoded.bytes.length !== 32) throw new AmberError('AGE_BAD_IDENTITY', { reason: `${decoded.bytes.length} bytes, not 32` });
  const privateKey = x25519PrivateKey(decoded.bytes);
  return Object.freeze({ recipient: bech32Encode(RECIPIENT_HRP, x25519PublicBytes(privateKey)), privateKey });
}

/** The `age1…` recipient of an `AGE-SECRET-KEY-1…` identity (what `age-keygen -y` prints). */
export function ageRecipientOf(secretKey: string): string {
  return parseAgeIdentity(secretKey).recipient;
}

/**
 * An identity file as `age-keygen` writes it and `age -i` reads it: `# created:` / `# public
 * key:` comments, blank lines, and one `AGE-SECRET-KEY-1…` a line, several allowed.
 */
export function parseAgeIdentityFile(text: string, source = 'identity file'): AgeIdentity[] {
  const out: AgeIdentity[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      out.push(parseAgeIdentity(line));
    } catch (e) {
      const reason = e instanceof AmberError ? e.details.reason : undefined;
      throw new AmberError('AGE_BAD_IDENTITY', { file: source, line: i + 1, reason }, { cause: e });
    }
  });
  if (out.length === 0) throw new AmberError('AGE_BAD_IDENTITY', { file: source, reason: 'no AGE-SECRET-KEY-1… line in the file' });
  return out;
}

export async function readAgeIdentityFile(path: string): Promise<AgeIdentity[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new AmberError('AGE_BAD_IDENTITY', { file: path, reason: (e as NodeJS.ErrnoException).code ?? 'unreadable' }, { cause: e });
  }
  return parseAgeIdentityFile(text, path);
}

/** A fresh X25519 identity, as `age-keygen` would make it. */
export function generateAgeIdentity(): { secretKey: string; recipient: string } {
  const raw = randomBytes(32);
  const secretKey = bech32Encode(IDENTITY_HRP, raw).toUpperCase();
  raw.fill(0);
  return { secretKey, recipient: ageRecipientOf(secretKey) };
}

/** The text of an identity file in `age-keygen`'s layout. */
export function formatAgeIdentityFile(secretKey: string, created: Date = new Date()): string {
  const at = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `# created: ${at}\n# public key: ${ageRecipientOf(secretKey)}\n${secretKey}\n`;
}
