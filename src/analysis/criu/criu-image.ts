/**
 * CRIU image framing (criu/include/magic.h, criu/image.c, criu/image-desc.c).
 *
 * A regular image starts with the 4-byte LE IMG_COMMON_MAGIC and its own type magic; inventory.img
 * carries only INVENTORY_MAGIC; the service file `stats-*` starts with IMG_SERVICE_MAGIC then
 * STATS_MAGIC; `pages-*.img` and a few others are raw (no header, no records). After the header:
 * records, each a uint32 LE length and that many bytes of one proto2 message.
 *
 * A damaged image (empty, truncated, wrong magic, a length that runs past the end) yields the
 * records read so far and one warning with the file name and byte offset: each step consumes at
 * least four bytes, so the walk ends in time linear in the size, whatever the bytes say.
 */
import type { AnalysisWarning } from './criu-model.js';
import type { ProtoIssue } from './proto-reader.js';

export const CRIU_MAGIC = {
  IMG_COMMON: 0x54564319,
  IMG_SERVICE: 0x55105940,
  INVENTORY: 0x58313116,
  PSTREE: 0x50273030,
  CORE: 0x55053847,
  IDS: 0x54432030,
  CREDS: 0x54023547,
  MM: 0x57492820,
  PAGEMAP: 0x56084025,
  FILES: 0x56303138,
  FDINFO: 0x56213732,
  FS: 0x51403912,
  REG_FILES: 0x50363636,
  PIPES: 0x56513555,
  FIFO: 0x58364939,
  INETSK: 0x56443851,
  UNIXSK: 0x54373943,
  TTY_FILES: 0x59433025,
  MEMFD_INODE: 0x48453499,
  STATS: 0x57093306,
  TCP_STREAM: 0x51465506,
  SK_QUEUES: 0x56264026,
  MNTS: 0x55563928,
  NETNS: 0x55933752,
} as const;

export type ImageKind =
  | 'inventory'
  | 'pstree'
  | 'core'
  | 'ids'
  | 'creds'
  | 'mm'
  | 'pagemap'
  | 'files'
  | 'fdinfo'
  | 'fs'
  | 'stats'
  /* older CRIU kept each file type in its own image instead of files.img */
  | 'reg-files'
  | 'pipes'
  | 'fifo'
  | 'inetsk'
  | 'unixsk'
  | 'tty'
  | 'memfd'
  /* socket data: records followed by raw queue bytes */
  | 'tcp-stream'
  | 'sk-queues'
  | 'mountpoints'
  | 'netns'
  /* no records: raw pages, or data CRIU appends after its messages */
  | 'pages'
  | 'raw'
  | 'unknown';

export interface ImageName {
  kind: ImageKind;
  /** the number in `core-7.img`, `fdinfo-2.img`, `pages-1.img` */
  id?: number;
}

const BY_NAME: Readonly<Record<string, ImageKind>> = {
  'inventory.img': 'inventory',
  'pstree.img': 'pstree',
  'files.img': 'files',
  'reg-files.img': 'reg-files',
  'pipes.img': 'pipes',
  'fifo.img': 'fifo',
  'inetsk.img': 'inetsk',
  'unixsk.img': 'unixsk',
  'tty.img': 'tty',
  'memfd.img': 'memfd',
  'sk-queues.img': 'sk-queues',
};
const BY_PREFIX: Readonly<Record<string, ImageKind>> = {
  core: 'core',
  ids: 'ids',
  creds: 'creds',
  mm: 'mm',
  pagemap: 'pagemap',
  fdinfo: 'fdinfo',
  fs: 'fs',
  pages: 'pages',
  mountpoints: 'mountpoints',
  netns: 'netns',
};
/** Images whose bytes are not (only) length-prefixed messages: pipe/fifo/tty/socket queue data, tarballs, netlink dumps. */
const RAW =
  /^(pipes-data|fifo-data|tty-data|ghost-file-[0-9a-f]+|ipcns-shm-\d+|(ifaddr|route6?|rule|iptables|ip6tables|nftables|netns-ct|netns-exp)-\d+)\.img$|\.tar(\.gz)?$/;

/** What a file in a checkpoint folder holds, from its name alone (as CRIU names them). */
export function classifyImage(name: string): ImageName {
  const known = BY_NAME[name];
  if (known) return { kind: known };
  if (name === 'stats-dump' || name === 'stats-restore') return { kind: 'stats' };
  if (RAW.test(name)) return { kind: 'raw' };
  // tcp-stream-<socket inode in hex>.img
  const tcp = /^tcp-stream-([0-9a-f]+)\.img$/.exec(name);
  if (tcp) return { kind: 'tcp-stream', id: Number.parseInt(tcp[1]!, 16) };
  const m = /^([a-z]+)-(\d+)\.img$/.exec(name);
  const kind = m ? BY_PREFIX[m[1]!] : undefined;
  if (m && kind) return { kind, id: Number(m[2]) };
  return { kind: 'unknown' };
}

const TYPE_MAGIC: Partial<Record<ImageKind, number>> = {
  pstree: CRIU_MAGIC.PSTREE,
  core: CRIU_MAGIC.CORE,
  ids: CRIU_MAGIC.IDS,
  creds: CRIU_MAGIC.CREDS,
  mm: CRIU_MAGIC.MM,
  pagemap: CRIU_MAGIC.PAGEMAP,
  files: CRIU_MAGIC.FILES,
  fdinfo: CRIU_MAGIC.FDINFO,
  fs: CRIU_MAGIC.FS,
  'reg-files': CRIU_MAGIC.REG_FILES,
  pipes: CRIU_MAGIC.PIPES,
  fifo: CRIU_MAGIC.FIFO,
  inetsk: CRIU_MAGIC.INETSK,
  unixsk: CRIU_MAGIC.UNIXSK,
  tty: CRIU_MAGIC.TTY_FILES,
  memfd: CRIU_MAGIC.MEMFD_INODE,
  'tcp-stream': CRIU_MAGIC.TCP_STREAM,
  'sk-queues': CRIU_MAGIC.SK_QUEUES,
  mountpoints: CRIU_MAGIC.MNTS,
  netns: CRIU_MAGIC.NETNS,
};

/** The header words an image of this kind must start with; `undefined` in a slot accepts any value. */
function headerOf(kind: ImageKind): (number | undefined)[] {
  if (kind === 'inventory') return [CRIU_MAGIC.INVENTORY];
  if (kind === 'stats') return [CRIU_MAGIC.IMG_SERVICE, CRIU_MAGIC.STATS];
  return [CRIU_MAGIC.IMG_COMMON, TYPE_MAGIC[kind]];
}

export interface ImageRecord {
  /** offset of the record's length prefix; the message starts 4 bytes later */
  offset: number;
  data: Buffer;
  /** raw bytes CRIU wrote right after this record (a socket's queued data), when the kind has them */
  payload?: { offset: number; length: number };
}

/**
 * How many raw bytes follow a record (tcp-stream: the queues after its one entry; sk-queues: each
 * packet after its entry); `undefined` when the record's message does not say (damage).
 */
export type PayloadLength = (record: Buffer, index: number) => number | undefined;

export interface FramedImage {
  records: ImageRecord[];
  warnings: AnalysisWarning[];
}

/**
 * No CRIU message comes near this (the largest, an mm_entry with thousands of VMAs or a cgroup
 * tree, is a few MiB): a larger length is damage, not data.
 */
export const MAX_RECORD_BYTES = 64 << 20;

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

export function frameImage(data: Buffer, file: string, kind: ImageKind, payloadLength?: PayloadLength): FramedImage {
  const records: ImageRecord[] = [];
  const warnings: AnalysisWarning[] = [];
  const warn = (offset: number, message: string) => {
    warnings.push({ file, offset, message });
    return { records, warnings };
  };
  if (kind === 'pages' || kind === 'raw') return { records, warnings };
  if (data.length === 0) return warn(0, 'empty image: no magic, no records');
  const header = headerOf(kind);
  for (let i = 0; i < header.length; i++) {
    const at = i * 4;
    if (data.length < at + 4) return warn(at, `truncated header: ${data.length} bytes, the magic needs ${header.length * 4}`);
    const want = header[i];
    const got = data.readUInt32LE(at);
    if (want !== undefined && got !== want) return warn(at, `wrong magic ${hex(got)}, expected ${hex(want)}: not a CRIU ${kind} image`);
  }
  let pos = header.length * 4;
  while (pos < data.length) {
    if (data.length - pos < 4) return warn(pos, `truncated record: ${data.length - pos} bytes where a 4-byte length should be`);
    const size = data.readUInt32LE(pos);
    if (size > MAX_RECORD_BYTES) return warn(pos, `absurd record length ${size} (${hex(size)}): the image is damaged here`);
    if (size > data.length - pos - 4) return warn(pos, `truncated record: length ${size} runs past the end of the image (${data.length - pos - 4} bytes left)`);
    const record: ImageRecord = { offset: pos, data: data.subarray(pos + 4, pos + 4 + size) };
    records.push(record);
    pos += 4 + size;
    if (payloadLength) {
      const length = payloadLength(record.data, records.length - 1);
      if (length === undefined) return warn(record.offset, 'the record does not say how much data follows it: the rest of the image is not read');
      if (length > data.length - pos) return warn(pos, `${length} bytes of data should follow the record, but only ${data.length - pos} are left`);
      record.payload = { offset: pos, length };
      pos += length;
    }
  }
  return { records, warnings };
}

/** One image's decoding problems as warnings, at most `cap` of them (a garbage image should not drown the report). */
export function issuesToWarnings(file: string, issues: readonly ProtoIssue[], cap = 20): AnalysisWarning[] {
  const out: AnalysisWarning[] = issues.slice(0, cap).map((i) => ({ file, offset: i.offset, message: i.message }));
  if (issues.length > cap) out.push({ file, message: `${issues.length - cap} further decoding problems in this image not listed` });
  return out;
}
