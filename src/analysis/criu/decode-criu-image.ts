/**
 * One CRIU image → its kind and its records as plain decoded messages (for golden tests, `inspect`
 * debugging, and the join in read-criu-dump.ts). Never throws: damage becomes warnings.
 */
import type { AnalysisWarning } from './criu-model.js';
import { classifyImage, frameImage, issuesToWarnings, type ImageKind, type PayloadLength } from './criu-image.js';
import { CORE, CREDS, FS, INVENTORY, MM, PAGEMAP_ENTRY, PAGEMAP_HEAD, PSTREE, STATS, TASK_KOBJ_IDS } from './criu-messages.js';
import { FDINFO, FILE_ENTRY, FIFO, MEMFD_INODE, PIPE, REG_FILE, TTY_FILE } from './criu-file-messages.js';
import { INET_SK, SK_PACKET, TCP_STREAM, UNIX_SK } from './criu-socket-messages.js';
import { MNT, NETNS } from './criu-ns-messages.js';
import { decodeMessage, readFields, toU64, type DecodedMessage, type DecodedValue, type MessageSchema, type ProtoIssue } from './proto-reader.js';

export interface DecodedImage {
  kind: ImageKind;
  /** one plain object per record, keyed by .proto field names (field numbers for unknown images) */
  records: DecodedMessage[];
  /** byte offset of each record's length prefix, parallel to `records` */
  offsets: number[];
  /** the raw data after a record (a socket's queued bytes), parallel to `records`, for tcp-stream and sk-queues */
  payloads?: ({ offset: number; length: number } | undefined)[];
  warnings: AnalysisWarning[];
}

const SCHEMAS: Partial<Record<ImageKind, MessageSchema>> = {
  inventory: INVENTORY,
  pstree: PSTREE,
  core: CORE,
  ids: TASK_KOBJ_IDS,
  creds: CREDS,
  mm: MM,
  fs: FS,
  stats: STATS,
  files: FILE_ENTRY,
  fdinfo: FDINFO,
  'reg-files': REG_FILE,
  pipes: PIPE,
  fifo: FIFO,
  inetsk: INET_SK,
  unixsk: UNIX_SK,
  tty: TTY_FILE,
  memfd: MEMFD_INODE,
  'tcp-stream': TCP_STREAM,
  'sk-queues': SK_PACKET,
  mountpoints: MNT,
  netns: NETNS,
};

/** The wire value of a uint32 field of a record, without decoding the rest (for framing). */
function uintField(record: Buffer, field: number): number | undefined {
  for (const f of readFields(record, 0, [])) if (f.field === field && f.int !== undefined) return Number(f.int);
  return undefined;
}

const PAYLOADS: Partial<Record<ImageKind, PayloadLength>> = {
  // one tcp_stream_entry, then inq_len bytes of the receive queue and outq_len of the send queue
  'tcp-stream': (r) => {
    const inq = uintField(r, 1),
      outq = uintField(r, 3);
    return inq === undefined || outq === undefined ? undefined : inq + outq;
  },
  // every sk_packet_entry is followed by its `length` bytes
  'sk-queues': (r) => uintField(r, 2),
};

/** Fields by number, for images we have no schema for: enough to look at, never to rely on. */
function generic(buf: Buffer, base: number, issues: ProtoIssue[]): DecodedMessage {
  const out: DecodedMessage = {};
  for (const f of readFields(buf, base, issues)) {
    const value: DecodedValue = f.bytes ? Buffer.from(f.bytes) : toU64(f.int!);
    const prev = out[f.field];
    out[f.field] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export function decodeImage(name: string, data: Buffer, file: string = name): DecodedImage {
  const { kind } = classifyImage(name);
  const framed = frameImage(data, file, kind, PAYLOADS[kind]);
  const issues: ProtoIssue[] = [];
  const records = framed.records.map((r, i) => {
    // pagemap-N.img: a pagemap_head, then pagemap_entry records.
    const schema = kind === 'pagemap' ? (i === 0 ? PAGEMAP_HEAD : PAGEMAP_ENTRY) : SCHEMAS[kind];
    return schema ? decodeMessage(schema, r.data, r.offset + 4, issues) : generic(r.data, r.offset + 4, issues);
  });
  const out: DecodedImage = { kind, records, offsets: framed.records.map((r) => r.offset), warnings: [...issuesToWarnings(file, issues), ...framed.warnings] };
  if (PAYLOADS[kind]) out.payloads = framed.records.map((r) => r.payload);
  return out;
}
