import { createCipheriv, createDecipheriv, createHmac, diffieHellman, generateKeyPairSync, hkdfSync, timingSafeEqual } from 'node:crypto';
import { AmberError } from '../../core/amber-error.js';
import { x25519PublicBytes, x25519PublicKey, type AgeIdentity } from './age-keys.js';

/*
 * The building blocks of the age v1 format (age-encryption.org/v1, c2sp.org/age) shared by the
 * encrypting and decrypting streams: the textual header, the X25519 stanza, and the STREAM
 * chunks of the payload. The ciphers are node:crypto's (OpenSSL): see docs/benchmarks-history.md.
 */

export const VERSION_LINE = 'age-encryption.org/v1';
export const FILE_KEY_SIZE = 16;
export const PAYLOAD_NONCE_SIZE = 16;
/** Plaintext bytes per payload chunk; every chunk but the last is exactly this long. */
export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const ENCRYPTED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;
/** A header longer than this is refused rather than buffered: it would take thousands of stanzas. */
export const MAX_HEADER_SIZE = 1024 * 1024;

const X25519_INFO = 'age-encryption.org/v1/X25519';
const MAC_LINE_PREFIX = '---';
const STANZA_PREFIX = '-> ';
const BODY_COLUMNS = 64;
const ZERO_NONCE = Buffer.alloc(12);
const BASE64_LINE = /^[A-Za-z0-9+/]*$/;

export interface AgeStanza {
  /** The first argument, e.g. `X25519`, `scrypt`, `ssh-ed25519`. */
  readonly type: string;
  /** The arguments after the type. */
  readonly args: readonly string[];
  readonly body: Buffer;
}

export interface ParsedHeader {
  readonly stanzas: readonly AgeStanza[];
  /** The bytes the MAC covers: the header up to and including `---`. */
  readonly macInput: Buffer;
  readonly mac: Buffer;
}

/** Base64 without padding, as age writes it everywhere but in armor. */
export function rawBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** Decodes canonical unpadded base64; undefined for padding, stray characters or non-zero spare bits. */
export function decodeCanonicalBase64(s: string): Buffer | undefined {
  if (!BASE64_LINE.test(s) || s.length % 4 === 1) return undefined;
  const bytes = Buffer.from(s, 'base64');
  return rawBase64(bytes) === s ? bytes : undefined;
}

export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  const ct = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([ct, cipher.getAuthTag()]);
}

/** The plaintext, or undefined when authentication fails; nothing is returned before it passed. */
function open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG_SIZE) return undefined;
  const at = sealed.length - TAG_SIZE;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  decipher.setAuthTag(sealed.subarray(at));
  const pt = decipher.update(sealed.subarray(0, at));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return pt;
}

/** A stanza wrapping `fileKey` to one X25519 recipient, with a fresh ephemeral key. */
export function wrapFileKeyX25519(fileKey: Uint8Array, recipient: Uint8Array): AgeStanza {
  const ephemeral = generateKeyPairSync('x25519');
  const share = x25519PublicBytes(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: x25519PublicKey(recipient) });
  const wrapKey = hkdf(shared, Buffer.concat([share, recipient]), X25519_INFO);
  return { type: 'X25519', args: [rawBase64(share)], body: seal(wrapKey, ZERO_NONCE, fileKey) };
}

/**
 * The file key, when `stanza` is an X25519 stanza addressed to `identity`; undefined when it is
 * not (another type, another key). The stanza's form was checked by parseHeader.
 */
export function unwrapFileKeyX25519(stanza: AgeStanza, identity: AgeIdentity): Buffer | undefined {
  if (stanza.type !== 'X25519') return undefined;
  const share = decodeCanonicalBase64(stanza.args[0] as string) as Buffer;
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: identity.privateKey, publicKey: x25519PublicKey(share) });
  } catch (e) {
    // OpenSSL refuses low-order points, whose shared secret would be all zeros.
    throw new AmberError('AGE_BAD_HEADER', { reason: 'an X25519 stanza has a low-order ephemeral share' }, { cause: e });
  }
  if (shared.every((b) => b === 0)) throw new AmberError('AGE_BAD_HEADER', { reason: 'an X25519 stanza gives an all-zero shared secret' });
  const wrapKey = hkdf(shared, Buffer.concat([share, x25519PublicBytes(identity.privateKey)]), X25519_INFO);
  const fileKey = open(wrapKey, ZERO_NONCE, stanza.body);
  return fileKey?.length === FILE_KEY_SIZE ? fileKey : undefined;
}

function formatStanza(stanza: AgeStanza): string {
  const b64 = rawBase64(stanza.body);
  let out = `${STANZA_PREFIX}${[stanza.type, ...stanza.args].join(' ')}\n`;
  // Full 64-column lines, then a shorter final line, which is empty when the body fills the last one.
  for (let i = 0; i + BODY_COLUMNS <= b64.length; i += BODY_COLUMNS) out += `${b64.slice(i, i + BODY_COLUMNS)}\n`;
  return `${out}${b64.slice(b64.length - (b64.length % BODY_COLUMNS))}\n`;
}

export function headerMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  return createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header'))
    .update(macInput)
    .digest();
}

/** The complete header: version line, stanzas, and the MAC line keyed by `fileKey`. */
export function formatHeader(stanzas: readonly AgeStanza[], fileKey: Uint8Array): Buffer {
  const macInput = Buffer.from(`${VERSION_LINE}\n${stanzas.map(formatStanza).join('')}${MAC_LINE_PREFIX}`, 'latin1');
  return Buffer.concat([macInput, Buffer.from(` ${rawBase64(headerMac(fileKey, macInput))}\n`, 'latin1')]);
}

/**
 * The length of the header at the start of `bytes` (through the MAC line's newline), or
 * undefined when it has not all arrived. No stanza line can start with `---`, so the first
 * line that does is the MAC line.
 */
export function headerLength(bytes: Buffer): number | undefined {
  const mac = bytes.indexOf(`\n${MAC_LINE_PREFIX}`, 0, 'latin1');
  if (mac < 0) return undefined;
  const end = bytes.indexOf(0x0a, mac + 1);
  return end < 0 ? undefined : end + 1;
}

/** True while `bytes` could still be the start of an age v1 header. */
export function couldBeAgeHeader(bytes: Buffer): boolean {
  const expected = Buffer.from(`${VERSION_LINE}\n`, 'latin1');
  const n = Math.min(bytes.length, expected.length);
  return bytes.subarray(0, n).equals(expected.subarray(0, n));
}

function bad(reason: string, line?: number): AmberError {
  return new AmberError('AGE_BAD_HEADER', line === undefined ? { reason } : { reason, line });
}

/** Parses a complete header (as delimited by headerLength); AGE_BAD_HEADER naming the line otherwise. */
export function parseHeader(header: Buffer): ParsedHeader {
  const text = header.toString('latin1');
  const lines = text.split('\n');
  lines.pop(); // the empty string after the final newline
  if (lines[0] !== VERSION_LINE) throw bad(`the first line is not ${VERSION_LINE}`, 1);
  const stanzas: AgeStanza[] = [];
  let i = 1;
  while (i < lines.length - 1) {
    const argLine = lines[i] as string;
    if (!argLine.startsWith(STANZA_PREFIX)) throw bad('expected a stanza (-> …) or the MAC line (--- …)', i + 1);
    const args = argLine.slice(STANZA_PREFIX.length).split(' ');
    if (args.some((a) => a === '' || !/^[\x21-\x7e]+$/.test(a))) throw bad('a stanza argument is empty or not printable ASCII', i + 1);
    i++;
    let b64 = '';
    for (;;) {
      if (i >= lines.length - 1) throw bad('a stanza body has no final line shorter than 64 columns', i + 1);
      const line = lines[i] as string;
      if (line.length > BODY_COLUMNS || !BASE64_LINE.test(line)) throw bad('a stanza body line is not base64 of at most 64 columns', i + 1);
      b64 += line;
      i++;
      if (line.length < BODY_COLUMNS) break;
    }
    const body = decodeCanonicalBase64(b64);
    if (body === undefined) throw bad('a stanza body is not canonical unpadded base64', i);
    stanzas.push({ type: args[0] as string, args: args.slice(1), body });
  }
  const macLine = lines[lines.length - 1] as string;
  const mac = /^--- ([A-Za-z0-9+/]{43})$/.exec(macLine)?.[1];
  const macBytes = mac === undefined ? undefined : decodeCanonicalBase64(mac);
  if (macBytes === undefined) throw bad('the MAC line is not "--- " and 43 base64 characters', lines.length);
  if (stanzas.length === 0) throw bad('no recipient stanza');
  checkStanzas(stanzas);
  const macInput = header.subarray(0, header.length - macLine.length - 1 + MAC_LINE_PREFIX.length);
  return { stanzas, macInput, mac: macBytes };
}

/** The rules the spec sets on stanzas regardless of which identity will open them. */
function checkStanzas(stanzas: readonly AgeStanza[]): void {
  // A passphrase file must be authenticated by the passphrase alone: mixing is refused by spec.
  if (stanzas.length > 1 && stanzas.some((s) => s.type === 'scrypt')) throw bad('an scrypt stanza is mixed with other stanzas');
  for (const s of stanzas) {
    if (s.type !== 'X25519') continue;
    if (s.args.length !== 1) throw bad(`an X25519 stanza has ${s.args.length + 1} arguments, not 2`);
    if (decodeCanonicalBase64(s.args[0] as string)?.length !== 32) throw bad('an X25519 ephemeral share is not canonical base64 of 32 bytes');
    // Checked before any decryption attempt, against partitioning-oracle attacks (spec).
    if (s.body.length !== FILE_KEY_SIZE + TAG_SIZE) throw bad(`an X25519 stanza body is ${s.body.length} bytes, not 32`);
  }
}

export function verifyHeaderMac(parsed: ParsedHeader, fileKey: Uint8Array): boolean {
  return timingSafeEqual(headerMac(fileKey, parsed.macInput), parsed.mac);
}

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hkdf(fileKey, nonce, 'payload');
}

/** STREAM nonce: 11-byte big-endian chunk counter, then 0x01 for the final chunk, 0x00 otherwise. */
export function chunkNonce(index: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(Math.floor(index / 2 ** 32), 3);
  nonce.writeUInt32BE(index >>> 0, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** One encrypted payload chunk: ciphertext || tag. */
export function sealChunk(key: Uint8Array, index: number, last: boolean, plaintext: Uint8Array): Buffer {
  return seal(key, chunkNonce(index, last), plaintext);
}

/** The sealed length of `plainLength` plaintext bytes: one tag per chunk, and an empty plaintext is one chunk. */
export function sealedSize(plainLength: number): number {
  return plainLength + Math.max(1, Math.ceil(plainLength / CHUNK_SIZE)) * TAG_SIZE;
}

/**
 * Seals `plaintext` as consecutive chunks numbered from `firstIndex` into `out` (ciphertext ||
 * tag each, sealedSize(plaintext.length) bytes), the last of them as the file's final chunk when
 * `final`; returns the bytes written. All but the last chunk are CHUNK_SIZE; a run that is not
 * final must be whole chunks. Shared by the inline path and the sealing workers, so both write
 * the same bytes.
 */
export function sealChunksInto(key: Uint8Array, firstIndex: number, final: boolean, plaintext: Uint8Array, out: Uint8Array): number {
  let at = 0;
  for (let pos = 0, index = firstIndex; ; pos += CHUNK_SIZE, index++) {
    const end = Math.min(pos + CHUNK_SIZE, plaintext.length);
    const last = end === plaintext.length;
    const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(index, final && last), { authTagLength: TAG_SIZE });
    // node:crypto cannot encrypt into a caller's buffer: one copy of each chunk into `out`.
    const ct = cipher.update(plaintext.subarray(pos, end));
    cipher.final();
    out.set(ct, at);
    out.set(cipher.getAuthTag(), at + ct.length);
    at += ct.length + TAG_SIZE;
    if (last) return at;
  }
}

/**
 * Opens `sealed`, whole non-final chunks numbered from `firstIndex`, into `out` (CHUNK_SIZE
 * bytes each) until one fails to authenticate; returns how many opened. What the chunk that
 * failed is (tampered, or a final chunk with data after it) is the caller's to tell.
 */
export function openChunksInto(key: Uint8Array, firstIndex: number, sealed: Uint8Array, out: Uint8Array): number {
  const count = sealed.length / ENCRYPTED_CHUNK_SIZE;
  for (let i = 0; i < count; i++) {
    const plaintext = openChunk(key, firstIndex + i, false, sealed.subarray(i * ENCRYPTED_CHUNK_SIZE, (i + 1) * ENCRYPTED_CHUNK_SIZE));
    if (plaintext === undefined) return i;
    out.set(plaintext, i * CHUNK_SIZE);
  }
  return count;
}

/** One chunk's plaintext, or undefined when it does not authenticate as (index, last). */
export function openChunk(key: Uint8Array, index: number, last: boolean, sealed: Uint8Array): Buffer | undefined {
  return open(key, chunkNonce(index, last), sealed);
}
