/** Test-only helpers for the sim's tests: HTTPS requests, tar reading, a tiny protobuf/CRIU decoder. */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { request } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { extract, type Header } from 'tar-stream';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export function https(
  url: string,
  opts: { method?: string; token?: string; ca: string; headers?: Record<string, string>; body?: string },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    const r = request(url, { method: opts.method ?? 'GET', ca: opts.ca, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString('utf8'),
          json: <T>() => JSON.parse(body.toString('utf8')) as T,
        });
      });
    });
    r.on('error', reject);
    r.end(opts.body);
  });
}

export interface TarEntry {
  header: Header;
  size: number;
  data?: Buffer;
}

/** Reads a tar; keeps the bodies of entries `keep` accepts (default: all but pages-*.img). */
export async function readTar(source: string | Buffer, keep: (name: string) => boolean = (n) => !/pages-\d+\.img$/.test(n)): Promise<TarEntry[]> {
  const ex = extract();
  const out: TarEntry[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      let size = 0;
      const wanted = keep(entry.header.name);
      for await (const c of entry) {
        const b = c as Buffer;
        size += b.length;
        if (wanted) chunks.push(b);
      }
      out.push({ header: entry.header, size, data: wanted ? Buffer.concat(chunks) : undefined });
    }
  })();
  if (Buffer.isBuffer(source)) ex.end(source);
  else createReadStream(source).pipe(ex as unknown as NodeJS.WritableStream);
  await done;
  return out;
}

/**
 * Lists a tar the way Go's archive/tar and GNU tar read one: stop at the first zero block (the
 * end-of-archive marker), whatever follows. (tar-stream keeps parsing past it.) ustar only.
 */
export function listTarUntilEnd(path: string): { name: string; size: number; offset: number }[] {
  const fd = openSync(path, 'r');
  const out: { name: string; size: number; offset: number }[] = [];
  try {
    const h = Buffer.alloc(512);
    for (let pos = 0; ;) {
      if (readSync(fd, h, 0, 512, pos) < 512 || h.every((b) => b === 0)) return out;
      const field = (o: number, n: number) => h.toString('latin1', o, o + n).replace(/\0.*$/s, '');
      const size = h[124] === 0x80 ? Number(h.readBigUInt64BE(128)) : parseInt(field(124, 12).trim() || '0', 8);
      const prefix = field(345, 155);
      out.push({ name: prefix ? `${prefix}/${field(0, 100)}` : field(0, 100), size, offset: pos + 512 });
      pos += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    closeSync(fd);
  }
}

// ---- protobuf (test decoder, independent of the sim's encoder) ----
export type Field = bigint | Buffer;
export type Msg = Map<number, Field[]>;

function varint(b: Buffer, i: number): [bigint, number] {
  let r = 0n,
    s = 0n;
  for (;;) {
    const c = b[i++];
    if (c === undefined) throw new Error('truncated varint');
    r |= BigInt(c & 0x7f) << s;
    s += 7n;
    if (c < 0x80) return [r, i];
  }
}

export function decode(b: Buffer): Msg {
  const m: Msg = new Map();
  let i = 0;
  while (i < b.length) {
    const [key, j] = varint(b, i);
    i = j;
    const field = Number(key >> 3n),
      wire = Number(key & 7n);
    let v: Field;
    if (wire === 0) [v, i] = varint(b, i);
    else if (wire === 2) {
      const [len, k] = varint(b, i);
      v = b.subarray(k, k + Number(len));
      i = k + Number(len);
    } else if (wire === 1) {
      v = b.subarray(i, i + 8);
      i += 8;
    } else if (wire === 5) {
      v = b.subarray(i, i + 4);
      i += 4;
    } else throw new Error(`wire type ${wire}`);
    const list = m.get(field) ?? [];
    list.push(v);
    m.set(field, list);
  }
  return m;
}

export const num = (m: Msg, f: number): number => Number((m.get(f)?.[0] as bigint | undefined) ?? NaN);
export const big = (m: Msg, f: number): bigint | undefined => m.get(f)?.[0] as bigint | undefined;
export const nums = (m: Msg, f: number): number[] => (m.get(f) ?? []).map((x) => Number(x as bigint));
export const str = (m: Msg, f: number): string | undefined => (m.get(f)?.[0] as Buffer | undefined)?.toString('utf8');
export const sub = (m: Msg, f: number): Msg | undefined => {
  const b = m.get(f)?.[0] as Buffer | undefined;
  return b ? decode(b) : undefined;
};
export const subs = (m: Msg, f: number): Msg[] => (m.get(f) ?? []).map((b) => decode(b as Buffer));

export interface CriuImage {
  magic: number;
  typeMagic?: number;
  records: Buffer[];
}

/** Splits a CRIU image: inventory has one magic, everything else two (common/service + type). */
export function criuImage(b: Buffer): CriuImage {
  const magic = b.readUInt32LE(0);
  const single = magic === 0x58313116;
  let i = single ? 4 : 8;
  const records: Buffer[] = [];
  while (i < b.length) {
    const len = b.readUInt32LE(i);
    records.push(b.subarray(i + 4, i + 4 + len));
    i += 4 + len;
  }
  return { magic, typeMagic: single ? undefined : b.readUInt32LE(4), records };
}

export function ipv4FromWord(w: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(w);
  return [...b].join('.');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
