import { Readable } from 'node:stream';
import { AmberError, isAmberError } from '../core/amber-error.js';
import { isSafeArtifactName, type BundleSource } from '../evidence/bundle-source.js';

/** A file put in the tar beside the bundle (the JWKS, a README), held in memory: they are small. */
export interface TarExtra {
  readonly name: string;
  readonly body: Buffer;
}

export interface BundleTarOptions {
  /** The tar's top folder, e.g. `amber-<capture-id>`; relative, `/`-separated, no `.` or `..` segment. */
  readonly root: string;
  /** Written as `<root>/<name>`, after the bundle. */
  readonly extras: readonly TarExtra[];
  /**
   * The bundle's own folder under root; default the source's capture id. `amber verify` insists
   * that the folder is named after the capture id and holds nothing the manifest does not list, so
   * the extras cannot sit beside the bundle files.
   */
  readonly bundleDir?: string;
  /** Every entry's modification time; default the epoch, so that the same bundle gives the same bytes. */
  readonly mtime?: Date;
}

const BLOCK = 512;
/** ustar's size field: 11 octal digits. A larger file has its size in a pax record. */
const USTAR_MAX_SIZE = 0o77777777777;
const FILE_MODE = 0o644;
const DIR_MODE = 0o755;

/**
 * The bundle as ONE POSIX tar (ustar, with pax records where ustar cannot say it), streamed:
 *
 *   <root>/                       (directory)
 *   <root>/<bundleDir>/<file>     every plain file of `source.list()`, in list order
 *   <root>/<extra.name>           each extra, in order
 *
 * One bundle file is open at a time and read only as fast as the consumer reads the tar, so memory
 * stays flat whatever the bundle's size. Entries of the list that are not plain files (ending in
 * `/`) are left out. A file that cannot be opened or read, or whose streamed length differs from
 * its `size()` (it changed or was truncated while read), destroys the stream with a
 * BUNDLE_READ_FAILED error: the tar is cut off rather than made to lie. Nothing is read before the
 * consumer starts reading; a bad root, bundle folder or extra name throws at once.
 */
export function bundleTar(source: BundleSource, opts: BundleTarOptions): Readable {
  const root = checkedRoot(opts.root);
  const bundleDir = opts.bundleDir ?? source.captureId;
  if (bundleDir === undefined || !isSafeArtifactName(bundleDir)) {
    throw new AmberError('CONFIG_INVALID', { setting: 'bundle tar folder', problem: `not a single safe path segment: ${JSON.stringify(bundleDir)}` });
  }
  const extraNames = new Set<string>();
  for (const e of opts.extras) {
    if (!isSafeArtifactName(e.name) || e.name === bundleDir || extraNames.has(e.name)) {
      throw new AmberError('CONFIG_INVALID', { setting: 'bundle tar extra', problem: `a bad or repeated name: ${JSON.stringify(e.name)}` });
    }
    extraNames.add(e.name);
  }
  const mtime = Math.max(0, Math.floor((opts.mtime?.getTime() ?? 0) / 1000));
  return Readable.from(entries(source, root, bundleDir, opts.extras, mtime), { objectMode: false });
}

function checkedRoot(root: string): string {
  const segments = root.split('/');
  if (root.startsWith('/') || !segments.every(isSafeArtifactName)) {
    throw new AmberError('CONFIG_INVALID', { setting: 'bundle tar root', problem: `not a relative path of safe segments: ${JSON.stringify(root)}` });
  }
  return root;
}

async function* entries(source: BundleSource, root: string, bundleDir: string, extras: readonly TarExtra[], mtime: number): AsyncGenerator<Buffer> {
  yield* header(`${root}/`, 0, { mtime, dir: true });
  yield* header(`${root}/${bundleDir}/`, 0, { mtime, dir: true });
  const names = (await source.list()).filter((n) => !n.endsWith('/'));
  for (const name of names) yield* fileEntry(source, name, `${root}/${bundleDir}/${name}`, mtime);
  for (const e of extras) {
    yield* header(`${root}/${e.name}`, e.body.length, { mtime, dir: false });
    if (e.body.length > 0) yield e.body;
    yield* padding(e.body.length);
  }
  yield Buffer.alloc(2 * BLOCK);
}

function readFailed(file: string, reason: string, cause?: unknown): AmberError {
  return new AmberError('BUNDLE_READ_FAILED', { file, reason }, cause === undefined ? undefined : { cause });
}

async function* fileEntry(source: BundleSource, name: string, path: string, mtime: number): AsyncGenerator<Buffer> {
  let size: number | undefined;
  let stream: Readable;
  try {
    size = await source.size(name);
    if (size === undefined) throw readFailed(name, 'listed, but there is no such file any more');
    stream = await source.open(name);
  } catch (e) {
    throw isAmberError(e, 'BUNDLE_READ_FAILED') ? e : readFailed(name, `cannot open it: ${(e as Error).message}`, e);
  }
  yield* header(path, size, { mtime, dir: false });
  let sent = 0;
  try {
    // `for await` pulls one chunk at a time, and the generator resumes only when the tar's consumer
    // asks for more: backpressure reaches the source without a buffer of our own.
    for await (const chunk of stream as AsyncIterable<Buffer | string>) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      // hard stop: bytes past the size would be read as the next header by whoever extracts it
      if (sent + bytes.length > size) throw readFailed(name, `longer than its listed size of ${size} bytes (it changed while read)`);
      sent += bytes.length;
      yield bytes;
    }
  } catch (e) {
    throw isAmberError(e, 'BUNDLE_READ_FAILED') ? e : readFailed(name, `reading it failed after ${sent} bytes: ${(e as Error).message}`, e);
  } finally {
    stream.destroy(); // closes the file on every way out, the consumer giving up included
  }
  if (sent !== size) throw readFailed(name, `ended after ${sent} bytes, its listed size is ${size} (it changed or was truncated while read)`);
  yield* padding(size);
}

/** The zeros that fill an entry's data to a whole block (none when it already is one). */
function* padding(size: number): Generator<Buffer> {
  const n = (BLOCK - (size % BLOCK)) % BLOCK;
  if (n > 0) yield Buffer.alloc(n);
}

/**
 * The header block(s) of one entry: a pax extended header first (typeflag `x`) when the path does
 * not fit ustar's name (100 bytes) + prefix (155 bytes) split, is not ASCII, or the size does not
 * fit 11 octal digits; then the ustar header, whose fields then hold a truncated stand-in.
 */
function* header(path: string, size: number, opts: { mtime: number; dir: boolean }): Generator<Buffer> {
  const split = ustarSplit(path);
  const records: [key: string, value: string][] = [];
  if (split === undefined) records.push(['path', path]);
  if (size > USTAR_MAX_SIZE) records.push(['size', String(size)]);
  if (records.length > 0) {
    const body = Buffer.from(records.map(([k, v]) => paxRecord(k, v)).join(''), 'utf8');
    const base = path.replace(/\/$/, '').split('/').pop() ?? 'entry';
    yield ustarHeader({ name: truncate(`PaxHeaders/${base}`, 100), prefix: '' }, body.length, opts.mtime, 'x', FILE_MODE);
    yield body;
    yield* padding(body.length);
  }
  const fields = split ?? { name: truncate(path, 100), prefix: '' };
  yield ustarHeader(fields, size > USTAR_MAX_SIZE ? 0 : size, opts.mtime, opts.dir ? '5' : '0', opts.dir ? DIR_MODE : FILE_MODE);
}

/** ustar's split of a path into prefix (≤ 155 bytes) + `/` + name (≤ 100 bytes), or undefined when none exists. */
function ustarSplit(path: string): { name: string; prefix: string } | undefined {
  if (!/^[\x20-\x7e]*$/.test(path)) return undefined; // pax says UTF-8; ustar fields say nothing
  if (path.length <= 100) return { name: path, prefix: '' };
  // the name part keeps a directory's trailing slash, so search from the last `/` before it
  for (let i = path.lastIndexOf('/', path.length - 2); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (name.length > 100) return undefined; // longer with every step left
    if (prefix.length <= 155) return { name, prefix };
  }
  return undefined;
}

/** `"<len> <key>=<value>\n"`, where len counts the whole record, its own digits included. */
function paxRecord(key: string, value: string): string {
  const rest = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
  let digits = String(rest).length;
  while (String(rest + digits).length !== digits) digits += 1;
  return `${rest + digits} ${key}=${value}\n`;
}

/** The longest prefix of `s` that fits `bytes` bytes of UTF-8 without cutting a character. */
function truncate(s: string, bytes: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch, 'utf8') > bytes) break;
    out += ch;
  }
  return out;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function ustarHeader(fields: { name: string; prefix: string }, size: number, mtime: number, type: '0' | '5' | 'x', mode: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(fields.name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write(' '.repeat(8), 148, 'ascii'); // the checksum counts its own field as spaces
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(fields.prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/**
 * The text of the README.txt put in the tar beside the bundle: how a third party verifies the
 * download offline, in plain words, with amber or with common tools alone. `root` is the tar's top
 * folder, the bundle is at `<root>/<captureId>/`, the JWKS at `<root>/<jwksName>`;
 * `manifestSha256`, when given, is the SHA-256 of manifest.json as amber served it.
 */
export function offlineVerifyReadme(opts: { captureId: string; root: string; manifestSha256?: string; jwksName: string }): string {
  const dir = `${opts.root}/${opts.captureId}`;
  const jwks = `${opts.root}/${opts.jwksName}`;
  const served =
    opts.manifestSha256 === undefined
      ? []
      : ['', `When this download was made, manifest.json had the SHA-256`, `  ${opts.manifestSha256}`, `(\`sha256sum ${dir}/manifest.json\` prints it).`];
  return `${[
    `Evidence bundle ${opts.captureId}, as downloaded from amber`,
    '',
    `${dir}/   the sealed bundle, exactly as stored`,
    `${jwks}   the public keys amber said it signs with`,
    ...served,
    '',
    '1. Unpack',
    '',
    '  tar -xf <this download>.tar',
    '',
    '2. Verify with the amber CLI (no network, no cluster needed)',
    '',
    `  amber verify ${dir} --jwks ${jwks}`,
    '',
    'It prints one line per check and ends with VALID (exit 0): the signature over',
    'manifest.json verifies with a key of the JWKS, every file has the size and',
    'SHA-256 the manifest lists, no file is there that the manifest (or a signed',
    'addendum or restore record) does not list, and the custody chain is whole and',
    'ends at the head hash the manifest signs. INVALID (exit 1) means at least one',
    'check failed; the FAIL lines name the file or custody line. Exit 2 means the',
    'check could not run (a missing JWKS, a bundle that is not there).',
    '',
    '3. Trust the key, not the download',
    '',
    `VALID only says the bundle was signed by a key in ${opts.jwksName}. A JWKS that`,
    'comes inside the download proves nothing by itself: whoever could change the',
    'bundle could change the keys too. Compare it with a JWKS obtained independently',
    "from the cluster's operator (by another channel: they can print it with",
    '`amber jwks`, or serve it at /.well-known/jwks.json): the "kid" of each key is',
    'its RFC 7638 thumbprint, and the kid in manifest.jws must be one of theirs.',
    'Better still, verify with their copy: --jwks <their jwks.json>.',
    '',
    '4. Without amber',
    '',
    'manifest.jws is a detached JWS (RFC 7515, compact form with an empty payload:',
    "'header..signature') over the exact bytes of manifest.json. Its protected header",
    'names the alg (EdDSA with an Ed25519 key, or ES256 with a P-256 key) and the kid.',
    'To check it with any JOSE tool, put the base64url of manifest.json (no padding)',
    'between the two dots and verify that compact JWS with the matching key:',
    '',
    `  cd ${dir}`,
    '  h=$(cut -d. -f1 manifest.jws); s=$(cut -d. -f3 manifest.jws)',
    '  p=$(basenc --base64url -w0 manifest.json | tr -d =)',
    '  echo "$h.$p.$s" > manifest.compact.jws   # verify this with the key',
    '',
    'Then check each file against the SHA-256 the manifest lists for it:',
    '',
    '  sha256sum checkpoint-<container>.tar      # compare with manifest.json',
    '  jq -r \'.artifacts[] | "\\(.sha256)  \\(.name)"\' manifest.json | sha256sum -c -',
    '',
    'custody.jsonl is one of those files; its entries are hash-linked, and the',
    "manifest's custody.head is the hash of the last one, so the signature covers it.",
    '',
    '5. Encrypted files',
    '',
    'Files ending in .age are encrypted with age (https://age-encryption.org) to the',
    "operator's recipients. Their stored bytes are checked as above without any key;",
    'what is inside needs the age identity (the private key) they were encrypted to:',
    '',
    '  age -d -i <identity file> checkpoint-<container>.tar.age > checkpoint-<container>.tar',
    `  amber verify ${dir} --jwks ${jwks} --identity <identity file>`,
    '',
    "The second also checks the decrypted size and SHA-256 (the manifest's",
    '"plaintext" entry of each encrypted file).',
  ].join('\n')}\n`;
}
