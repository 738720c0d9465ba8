/**
 * The archives real engines wrote with CRIU 4.2 (test/fixtures/real-checkpoints, see its README),
 * with what was known about each before it was checkpointed: `ground-truth.json` (read from /proc),
 * `crit/` (CRIU's own decode of every image) and `checkpointctl-1.5.0/` (a peer's output).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { extract } from 'tar-stream';

export const REAL_DIR = fileURLToPath(new URL('../fixtures/real-checkpoints/', import.meta.url));

export interface RealArchive {
  /** file name in REAL_DIR */
  file: string;
  /** the folder beside it with ground-truth.json, crit/ and checkpointctl-1.5.0/ */
  folder: string;
  engine: 'podman' | 'cri-o' | 'containerd';
}

const byPrefix = (prefix: string) => {
  const name = readdirSync(REAL_DIR).find((f) => f.startsWith(prefix));
  if (!name) throw new Error(`no archive ${prefix}… in ${REAL_DIR}`);
  return name;
};

/** Every archive of the fixtures; a test that walks them all fails when one goes missing. */
export const REAL_ARCHIVES: readonly RealArchive[] = [
  { file: 'shell.tar', folder: 'shell', engine: 'podman' },
  { file: 'shell-gzip.tar.gz', folder: 'shell-gzip', engine: 'podman' },
  { file: 'revshell.tar', folder: 'revshell', engine: 'podman' },
  { file: byPrefix('checkpoint-amber-pod_default-shell-'), folder: 'crio-shell', engine: 'cri-o' },
  { file: byPrefix('checkpoint-amber-pod_default-revshell-'), folder: 'crio-revshell', engine: 'cri-o' },
  { file: byPrefix('checkpoint-ctrd-pod_default-app-'), folder: 'ctrd-app', engine: 'containerd' },
];

export const realPath = (a: RealArchive): string => REAL_DIR + a.file;

/** Every member of an archive (gunzipped when it is gzip), by name, in archive order. */
export async function realMembers(a: RealArchive): Promise<Map<string, Buffer>> {
  let raw = readFileSync(realPath(a));
  if (raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  const ex = extract();
  const out = new Map<string, Buffer>();
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      out.set(entry.header.name, Buffer.concat(chunks));
    }
  })();
  ex.end(raw);
  await done;
  return out;
}

/** The CRIU images of an archive's `checkpoint/` folder, by base name. */
export function imagesOf(members: ReadonlyMap<string, Buffer>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, data] of members) if (name.startsWith('checkpoint/') && name.length > 'checkpoint/'.length) out.set(name.slice('checkpoint/'.length), data);
  return out;
}

export type Json = Record<string, any>;

/** A JSON file with integers too large for a double kept exact as BigInt (crit prints u64s as numbers). */
export function readJsonExact(path: string): unknown {
  const text = readFileSync(path, 'utf8').replace(/([:[,]\s*)(\d{16,})(?=\s*[,\]\n}])/g, '$1"#big:$2"');
  return JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && v.startsWith('#big:') ? BigInt(v.slice(5)) : v));
}

/** crit's decode of one image (`crit/<image>.json`): its magic and entries. */
export function realCrit(a: RealArchive, image: string): { magic: string; entries: Json[] } {
  return readJsonExact(`${REAL_DIR}${a.folder}/crit/${image}.json`) as { magic: string; entries: Json[] };
}

/** The images crit decoded for this archive (`crit/*.img.json` and `stats-dump.json`). */
export function critImages(a: RealArchive): string[] {
  return readdirSync(`${REAL_DIR}${a.folder}/crit`)
    .filter((f) => f.endsWith('.img.json') || f === 'stats-dump.json')
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
}

export function groundTruth(a: RealArchive): Json {
  return JSON.parse(readFileSync(`${REAL_DIR}${a.folder}/ground-truth.json`, 'utf8')) as Json;
}

export function checkpointctl(a: RealArchive, file: string): Json {
  return JSON.parse(readFileSync(`${REAL_DIR}${a.folder}/checkpointctl-1.5.0/${file}`, 'utf8')) as Json;
}
