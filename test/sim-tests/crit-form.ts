/**
 * CRIU images ⇄ crit's JSON (`crit decode --pretty`), driven by the sim's message schemas
 * (test/sim/criu-schema*.ts), so that our images can be compared with what crit printed for the
 * real ones, and crit's decode of a real image can be encoded back and compared with its bytes.
 *
 * crit's pretty rules (lib/pycriu/images/pb2dict.py, images.py): fields in number order, only those
 * present; enums by name; `(criu).hex` ints as "0x…" (inherited by every int of a nested message);
 * `dev` as "major:minor" (minor in the low 20 bits); `flags` through its table, unknown bits as
 * "0x…"; `dict` through its table; `ipadd` repeated words as one address string (IPv6 compressed
 * as Python prints it); bytes as base64 with a newline every 76 characters; unix socket names as
 * quoted-printable. Image: {magic, entries}; pagemap's first record is a pagemap_head; tcp-stream
 * and pipes-data records are followed by data crit shows as `extra`.
 */
import { readFileSync } from 'node:fs';
import { MAGIC, imageKind } from '../sim/criu-images.js';
import type { CritOpts, FieldSpec, FieldType, MessageSchema, ProtoMessage, ProtoValue } from '../sim/protobuf.js';
import { decode, type Field } from './helpers.js';

export type Crit = Record<string, any>;
export interface CritImage {
  magic: string;
  entries: Crit[];
}

const FLAGS: Readonly<Record<string, readonly [string, number][]>> = {
  'mmap.prot': [
    ['PROT_READ', 0x1],
    ['PROT_WRITE', 0x2],
    ['PROT_EXEC', 0x4],
  ],
  'mmap.flags': [
    ['MAP_SHARED', 0x1],
    ['MAP_PRIVATE', 0x2],
    ['MAP_DROPPABLE', 0x08],
    ['MAP_ANON', 0x20],
    ['MAP_GROWSDOWN', 0x0100],
  ],
  'mmap.status': [
    ['VMA_AREA_NONE', 0],
    ['VMA_AREA_REGULAR', 1 << 0],
    ['VMA_AREA_STACK', 1 << 1],
    ['VMA_AREA_VSYSCALL', 1 << 2],
    ['VMA_AREA_VDSO', 1 << 3],
    ['VMA_AREA_HEAP', 1 << 5],
    ['VMA_FILE_PRIVATE', 1 << 6],
    ['VMA_FILE_SHARED', 1 << 7],
    ['VMA_ANON_SHARED', 1 << 8],
    ['VMA_ANON_PRIVATE', 1 << 9],
    ['VMA_AREA_SYSVIPC', 1 << 10],
    ['VMA_AREA_SOCKET', 1 << 11],
    ['VMA_AREA_VVAR', 1 << 12],
    ['VMA_AREA_AIORING', 1 << 13],
    ['VMA_AREA_MEMFD', 1 << 14],
    ['VMA_AREA_SHSTK', 1 << 15],
    ['VMA_AREA_UPROBES', 1 << 17],
    ['VMA_UNSUPP', 2 ** 31],
  ],
  'rfile.flags': [
    ['O_WRONLY', 0o1],
    ['O_RDWR', 0o2],
    ['O_CREAT', 0o100],
    ['O_EXCL', 0o200],
    ['O_NOCTTY', 0o400],
    ['O_TRUNC', 0o1000],
    ['O_APPEND', 0o2000],
    ['O_NONBLOCK', 0o4000],
    ['O_DSYNC', 0o10000],
    ['FASYNC', 0o20000],
    ['O_DIRECT', 0o40000],
    ['O_LARGEFILE', 0o100000],
    ['O_DIRECTORY', 0o200000],
    ['O_NOFOLLOW', 0o400000],
    ['O_NOATIME', 0o1000000],
    ['O_CLOEXEC', 0o2000000],
  ],
  'pmap.flags': [
    ['PE_PARENT', 1],
    ['PE_LAZY', 2],
    ['PE_PRESENT', 4],
  ],
  'seals.flags': [
    ['F_SEAL_SEAL', 1],
    ['F_SEAL_SHRINK', 2],
    ['F_SEAL_GROW', 4],
    ['F_SEAL_WRITE', 8],
    ['F_SEAL_FUTURE_WRITE', 0x10],
  ],
};
const DICTS: Readonly<Record<string, Readonly<Record<string, Readonly<Record<number, string>>>>>> = {
  gen: { task_state: { 1: 'Alive', 3: 'Zombie', 6: 'Stopped' } },
  sk: {
    family: { 1: 'UNIX', 2: 'INET', 10: 'INET6', 16: 'NETLINK', 17: 'PACKET' },
    type: { 1: 'STREAM', 2: 'DGRAM', 3: 'RAW', 5: 'SEQPACKET', 10: 'PACKET' },
    state: {
      1: 'ESTABLISHED',
      2: 'SYN_SENT',
      3: 'SYN_RECV',
      4: 'FIN_WAIT1',
      5: 'FIN_WAIT2',
      6: 'TIME_WAIT',
      7: 'CLOSE',
      8: 'CLOSE_WAIT',
      9: 'LAST_ACK',
      10: 'LISTEN',
    },
    proto: { 0: 'IP', 6: 'TCP', 17: 'UDP', 136: 'UDPLITE' },
  },
};

const isMessage = (t: FieldType): t is MessageSchema => typeof t === 'object' && 'fields' in t;
const isEnum = (t: FieldType): t is { enum: string; values: Record<string, number> } => typeof t === 'object' && 'enum' in t;
/** A number while exact in a double, else a bigint (as the JSON loader below gives them). */
const exact = (v: bigint): number | bigint => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);

/** Python's base64.encodebytes: a newline after every 76 characters and at the end ('' for no bytes). */
function base64Lines(b: Buffer): string {
  const s = b.toString('base64');
  let out = '';
  for (let i = 0; i < s.length; i += 76) out += s.slice(i, i + 76) + '\n';
  return out;
}

/** Python's quopri.encodestring (quotetabs off): enough for socket names. */
function quotedPrintable(b: Buffer): string {
  let out = '',
    line = '';
  for (const c of b) {
    const lit = (c >= 33 && c <= 126 && c !== 61) || c === 32 || c === 9;
    const piece = c === 10 ? '\n' : lit ? String.fromCharCode(c) : `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
    if (piece === '\n') {
      out += line + '\n';
      line = '';
      continue;
    }
    if (line.length + piece.length > 75) {
      out += line + '=\n';
      line = '';
    }
    line += piece;
  }
  return out + line;
}

function ipString(words: number[]): string {
  const bytes = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => bytes.writeUInt32LE(w >>> 0, i * 4));
  if (words.length === 1) return [...bytes].join('.');
  const hextets = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8;) {
    if (hextets[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return hextets.join(':');
  const head = hextets.slice(0, best).join(':'),
    tail = hextets.slice(best + bestLen).join(':');
  return `${head}::${tail}`;
}

function parseIp(s: string): number[] {
  if (!s.includes(':')) return [Buffer.from(s.split('.').map(Number)).readUInt32LE(0)];
  const [h, t = ''] = s.split('::');
  const parts = (x: string) => (x === '' ? [] : x.split(':'));
  let groups = parts(h ?? '');
  if (s.includes('::')) groups = [...groups, ...new Array<string>(8 - groups.length - parts(t).length).fill('0'), ...parts(t)];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return [0, 1, 2, 3].map((i) => b.readUInt32LE(i * 4));
}

function renderInt(v: bigint, name: string, opts: CritOpts, hex: boolean): unknown {
  if (hex) return `0x${v.toString(16)}`;
  if (opts.dev) return `${v >> 20n}:${v & 0xfffffn}`;
  if (opts.flags) {
    const table = FLAGS[opts.flags];
    if (!table) return `0x${v.toString(16)}`;
    const names = table.filter(([, bit]) => (v & BigInt(bit)) !== 0n).map(([n]) => n);
    const rest = table.reduce((r, [, bit]) => r & ~BigInt(bit), v);
    if (rest !== 0n) names.push(`0x${rest.toString(16)}`);
    return names.join(' | ');
  }
  if (opts.dict) return DICTS[opts.dict]?.[name]?.[Number(v)] ?? exact(v);
  return exact(v);
}

function renderScalar(raw: Field, [name, type, , opts = {}]: FieldSpec, hex: boolean): unknown {
  if (isMessage(type)) return critDecodeMessage(type, raw as Buffer, hex || opts.hex === true);
  if (isEnum(type)) {
    const n = Number(raw as bigint);
    const found = Object.entries(type.values).find(([, v]) => v === n);
    if (!found) throw new Error(`${name}: no ${type.enum} value ${n}`);
    return found[0];
  }
  const h = hex || opts.hex === true;
  switch (type) {
    case 'bool':
      return (raw as bigint) !== 0n;
    case 'string':
      return (raw as Buffer).toString('utf8');
    case 'bytes':
      return opts.conv === 'unix_name' ? quotedPrintable(raw as Buffer) : base64Lines(raw as Buffer);
    case 'int32':
      return renderInt(BigInt.asIntN(32, raw as bigint), name, opts, h);
    case 'int64':
      return renderInt(BigInt.asIntN(64, raw as bigint), name, opts, h);
    case 'sint32':
    case 'sint64': {
      const v = raw as bigint;
      return renderInt((v & 1n) === 0n ? v >> 1n : -((v >> 1n) + 1n), name, opts, h);
    }
    case 'fixed64':
      return renderInt((raw as Buffer).readBigUInt64LE(0), name, opts, h);
    case 'fixed32':
      return renderInt(BigInt((raw as Buffer).readUInt32LE(0)), name, opts, h);
    default:
      return renderInt(raw as bigint, name, opts, h);
  }
}

/** One message as crit prints it. An unknown field or a missing required one is an error. */
export function critDecodeMessage(schema: MessageSchema, bytes: Buffer, hex = false): Crit {
  const wire = decode(bytes);
  for (const f of wire.keys()) if (!schema.fields[f]) throw new Error(`${schema.name}: unknown field ${f}`);
  const out: Crit = {};
  for (const f of Object.keys(schema.fields)
    .map(Number)
    .sort((a, b) => a - b)) {
    const spec = schema.fields[f]!;
    const [name, , label, opts = {}] = spec;
    const raws = wire.get(f);
    if (!raws) {
      if (label === 'required') throw new Error(`${schema.name}: required ${name} missing`);
      continue;
    }
    if (label !== 'repeated') out[name] = renderScalar(raws[raws.length - 1]!, spec, hex);
    else if (opts.ipadd) out[name] = [ipString(raws.map((r) => Number(r as bigint)))];
    else out[name] = raws.map((r) => renderScalar(r, spec, hex));
  }
  return out;
}

/** Checks the image's header words; returns where its records start. */
function headerLength(name: string, bytes: Buffer): number {
  const k = imageKind(name);
  if (!k) throw new Error(`${name}: not an image kind we know`);
  const first = k.header === 'single' ? MAGIC[k.magic] : k.header === 'service' ? MAGIC.IMG_SERVICE : MAGIC.IMG_COMMON;
  const ok = bytes.readUInt32LE(0) === first && (k.header === 'single' || bytes.readUInt32LE(4) === MAGIC[k.magic]);
  if (!ok) throw new Error(`${name}: not a ${k.magic} image`);
  return k.header === 'single' ? 4 : 8;
}

/** A whole image as crit prints it. */
export function critDecodeImage(name: string, bytes: Buffer): CritImage {
  const start = headerLength(name, bytes);
  const k = imageKind(name)!;
  const entries: Crit[] = [];
  for (let i = start; i < bytes.length;) {
    const len = bytes.readUInt32LE(i);
    const msg = bytes.subarray(i + 4, i + 4 + len);
    if (msg.length !== len) throw new Error(`${name}: record at ${i} runs past the end`);
    i += 4 + len;
    const entry = critDecodeMessage(entries.length === 0 && k.head ? k.head : k.entry, msg);
    if (k.extra === 'tcp-stream') {
      const inq = bytes.subarray(i, i + Number(entry.inq_len)),
        outq = bytes.subarray(i + inq.length, i + inq.length + Number(entry.outq_len));
      i += inq.length + outq.length;
      entry.extra = { inq: base64Lines(inq), outq: base64Lines(outq) };
    } else if (k.extra === 'pipe-data') {
      const data = bytes.subarray(i, i + Number(entry.bytes));
      i += data.length;
      entry.extra = base64Lines(data);
    }
    entries.push(entry);
  }
  return { magic: k.magic, entries };
}

// ---- crit JSON back to message values (pb2dict.dict2pb) ----

function intFromCrit(v: unknown, name: string, opts: CritOpts): number | bigint {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (typeof v !== 'string') throw new Error(`${name}: not an integer: ${String(v)}`);
  if (opts.dev) {
    const [maj, min] = v.split(':').map(BigInt);
    return exact((maj! << 20n) | min!);
  }
  if (opts.flags && FLAGS[opts.flags]) {
    if (v === '') return 0;
    const table = new Map(FLAGS[opts.flags]);
    return exact(
      v
        .split('|')
        .map((x) => x.trim())
        .reduce((n, x) => n | BigInt(table.get(x) ?? x), 0n),
    );
  }
  if (opts.dict) {
    const found = Object.entries(DICTS[opts.dict]?.[name] ?? {}).find(([, s]) => s === v);
    if (found) return Number(found[0]);
  }
  return exact(BigInt(v));
}

function valueFromCrit(v: unknown, [name, type, , opts = {}]: FieldSpec, hex: boolean): ProtoValue {
  if (isMessage(type)) return critToMessage(type, v as Crit, hex || opts.hex === true);
  if (isEnum(type)) return typeof v === 'string' ? v : Number(v);
  switch (type) {
    case 'bool':
      return v as boolean;
    case 'string':
      return v as string;
    case 'bytes':
      return opts.conv === 'unix_name'
        ? Buffer.from(
            (v as string).replace(/=\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          )
        : Buffer.from(v as string, 'base64');
    default:
      return intFromCrit(v, name, opts);
  }
}

/** crit's JSON of one message → values the sim's encoder takes. */
export function critToMessage(schema: MessageSchema, c: Crit, hex = false): ProtoMessage {
  const byName = new Map(Object.values(schema.fields).map((s) => [s[0], s]));
  const out: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === 'extra') continue;
    const spec = byName.get(k);
    if (!spec) throw new Error(`${schema.name}: crit key ${k} is not a field`);
    if (spec[2] !== 'repeated') out[k] = valueFromCrit(v, spec, hex);
    else if (spec[3]?.ipadd && typeof (v as unknown[])[0] === 'string') out[k] = parseIp((v as string[])[0]!);
    else out[k] = (v as unknown[]).map((x) => valueFromCrit(x, spec, hex));
  }
  return out;
}

/** The extra bytes crit shows after a record (tcp-stream queues, pipe contents). */
export function critExtra(c: Crit): Buffer | undefined {
  const e = c.extra as unknown;
  if (e === undefined) return undefined;
  if (typeof e === 'string') return Buffer.from(e, 'base64');
  const q = e as { inq: string; outq: string };
  return Buffer.concat([Buffer.from(q.inq, 'base64'), Buffer.from(q.outq, 'base64')]);
}

/**
 * crit's JSON file, with integers too large for a double kept exact as BigInt (16+ digit numbers
 * outside strings), and those that fit turned back into numbers.
 */
export function loadCritJson(path: string): unknown {
  const text = readFileSync(path, 'utf8').replace(/([:\[,]\s*)(\d{16,})(?=\s*[,\]\n}])/g, '$1"#big:$2"');
  return JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && v.startsWith('#big:') ? exact(BigInt(v.slice(5))) : v));
}

/** Every key path of a decoded image (`.entries[].tc.rlimits.rlimits[].cur`…): its shape, values aside. */
export function keyPaths(v: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) keyPaths(x, `${prefix}[]`, out);
  else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    for (const [k, x] of Object.entries(v)) {
      out.add(`${prefix}.${k}`);
      keyPaths(x, `${prefix}.${k}`, out);
    }
  }
  return out;
}
