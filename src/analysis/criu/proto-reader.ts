/**
 * A small proto2 wire-format reader, driven by message schemas that we write ourselves from the
 * field numbers and types of CRIU's images/*.proto.
 *
 * Wire facts (protobuf encoding spec; protobuf-c, CRIU's library, follows it):
 * - tag = (field << 3) | wire type; 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit;
 *   3/4 are the deprecated groups (CRIU never writes them), 6/7 do not exist.
 * - int32/int64 negatives are sign-extended to 64 bits (10 varint bytes); sint* are zigzag.
 * - proto2 repeated scalars are written one tag per element unless [packed=true]; a reader must
 *   accept both forms for any repeated scalar.
 * - a singular field seen twice keeps the last value; unknown fields are skipped.
 *
 * Nothing here throws on bad input: problems become issues (with the absolute byte offset in the
 * image) and decoding of that message stops at the first one it cannot step over.
 */

/** uint64 values: a number while exact in a double, a bigint above 2^53. */
export type U64 = number | bigint;

export interface ProtoIssue {
  offset: number;
  message: string;
}

export type ScalarType = 'uint32' | 'int32' | 'sint32' | 'uint64' | 'int64' | 'sint64' | 'bool' | 'string' | 'bytes' | 'fixed32' | 'fixed64';

export interface MessageSchema {
  readonly name: string;
  /** field number → [name, type, label]; label defaults to optional */
  readonly fields: Readonly<Record<number, FieldSpec>>;
}
export type FieldSpec = readonly [name: string, type: ScalarType | MessageSchema, label?: 'required' | 'repeated'];

export type DecodedValue = number | bigint | boolean | string | Buffer | DecodedMessage | DecodedValue[];
export interface DecodedMessage {
  [name: string]: DecodedValue;
}

const MAX_VARINT_BYTES = 10;
const U64_MASK = (1n << 64n) - 1n;
const WIRE_NAMES = ['varint', 'fixed64', 'length-delimited', 'group start', 'group end', 'fixed32', 'wire type 6', 'wire type 7'];

/** Reads a base-128 varint at `pos`; null when it runs past `end` or past 10 bytes. */
export function readVarint(buf: Buffer, pos: number, end: number): { value: bigint; next: number } | null {
  // Fast path: most values (tags, lengths, ids) fit in 28 bits and need no bigint arithmetic.
  let small = 0;
  let i = pos;
  for (let shift = 0; shift < 28 && i < end; shift += 7) {
    const b = buf[i++]!;
    small |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return { value: BigInt(small >>> 0), next: i };
  }
  let value = BigInt(small >>> 0);
  let shift = 28n;
  for (let n = i - pos; n < MAX_VARINT_BYTES && i < end; n++) {
    const b = buf[i++]!;
    value |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) return { value: value & U64_MASK, next: i };
  }
  return null;
}

/** An exact number when the value fits a double, else the bigint itself. */
export function toU64(v: bigint): U64 {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A number, or undefined when `v` is not exactly representable (callers decide what to report). */
export function safeNumber(v: U64 | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (v === undefined || v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) return undefined;
  return Number(v);
}

export function zigzag(v: bigint): bigint {
  return (v & 1n) === 0n ? v >> 1n : -((v >> 1n) + 1n);
}

export interface RawField {
  field: number;
  wire: 0 | 1 | 2 | 5;
  /** varint value, or the fixed32/fixed64 value read little-endian */
  int?: bigint;
  /** length-delimited payload (a view into the input, not a copy) */
  bytes?: Buffer;
  /** absolute offset of the value (after the tag) */
  offset: number;
}

/**
 * Splits one message into its fields. `base` is the absolute offset of `buf[0]` in the image, so
 * issues point into the file. Stops at the first malformed field with one issue.
 */
export function readFields(buf: Buffer, base: number, issues: ProtoIssue[]): RawField[] {
  const out: RawField[] = [];
  const end = buf.length;
  let pos = 0;
  while (pos < end) {
    const tag = readVarint(buf, pos, end);
    if (!tag) {
      issues.push({ offset: base + pos, message: 'malformed varint in a field tag' });
      break;
    }
    const field = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    const at = tag.next;
    if (field === 0 || field > 0x1fffffff) {
      issues.push({ offset: base + pos, message: `invalid field number ${tag.value >> 3n}` });
      break;
    }
    if (wire === 0) {
      const v = readVarint(buf, at, end);
      if (!v) {
        issues.push({ offset: base + at, message: `field ${field}: malformed varint` });
        break;
      }
      out.push({ field, wire, int: v.value, offset: base + at });
      pos = v.next;
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      if (at + size > end) {
        issues.push({ offset: base + at, message: `field ${field}: ${WIRE_NAMES[wire]} value runs past the end of the message` });
        break;
      }
      const int = wire === 1 ? buf.readBigUInt64LE(at) : BigInt(buf.readUInt32LE(at));
      out.push({ field, wire, int, offset: base + at });
      pos = at + size;
    } else if (wire === 2) {
      const len = readVarint(buf, at, end);
      if (!len) {
        issues.push({ offset: base + at, message: `field ${field}: malformed length` });
        break;
      }
      if (len.value > BigInt(end - len.next)) {
        issues.push({ offset: base + at, message: `field ${field}: length ${len.value} runs past the end of the message (${end - len.next} bytes left)` });
        break;
      }
      const stop = len.next + Number(len.value);
      out.push({ field, wire, bytes: buf.subarray(len.next, stop), offset: base + len.next });
      pos = stop;
    } else {
      // Groups (3/4) are never written by CRIU; 6/7 are not wire types. Neither can be stepped over safely.
      issues.push({ offset: base + pos, message: `field ${field}: unsupported ${WIRE_NAMES[wire]}` });
      break;
    }
  }
  return out;
}

function wireOf(type: ScalarType | MessageSchema): 0 | 1 | 2 | 5 {
  if (typeof type !== 'string' || type === 'string' || type === 'bytes') return 2;
  if (type === 'fixed32') return 5;
  if (type === 'fixed64') return 1;
  return 0;
}

function scalar(type: ScalarType, v: bigint): DecodedValue {
  switch (type) {
    case 'uint32':
    case 'fixed32':
      return Number(BigInt.asUintN(32, v));
    case 'int32':
      return Number(BigInt.asIntN(32, v));
    case 'sint32':
      return Number(BigInt.asIntN(32, zigzag(v)));
    case 'uint64':
    case 'fixed64':
      return toU64(v);
    case 'int64': {
      const s = BigInt.asIntN(64, v);
      return safeNumber(s) ?? s;
    }
    case 'sint64': {
      const s = zigzag(v);
      return safeNumber(s) ?? s;
    }
    case 'bool':
      return v !== 0n;
    default:
      return Number(v);
  }
}

/** The packed form of a repeated varint field: the payload is a run of varints. */
function unpack(f: RawField, type: ScalarType, name: string, issues: ProtoIssue[]): DecodedValue[] {
  const out: DecodedValue[] = [];
  const b = f.bytes!;
  const fixed = type === 'fixed32' ? 4 : type === 'fixed64' ? 8 : 0;
  for (let pos = 0; pos < b.length;) {
    if (fixed) {
      if (pos + fixed > b.length) {
        issues.push({ offset: f.offset + pos, message: `${name}: packed values end mid-value` });
        break;
      }
      out.push(scalar(type, fixed === 4 ? BigInt(b.readUInt32LE(pos)) : b.readBigUInt64LE(pos)));
      pos += fixed;
      continue;
    }
    const v = readVarint(b, pos, b.length);
    if (!v) {
      issues.push({ offset: f.offset + pos, message: `${name}: malformed packed varint` });
      break;
    }
    out.push(scalar(type, v.value));
    pos = v.next;
  }
  return out;
}

const REQUIRED = new WeakMap<MessageSchema, [number, string][]>();
function requiredFields(schema: MessageSchema): [number, string][] {
  let list = REQUIRED.get(schema);
  if (!list) {
    list = Object.entries(schema.fields)
      .filter(([, spec]) => spec[2] === 'required')
      .map(([num, spec]) => [Number(num), spec[0]]);
    REQUIRED.set(schema, list);
  }
  return list;
}

/**
 * Decodes one message with a schema into a plain object keyed by the .proto field names. Fields
 * absent on the wire are absent in the result (as crit shows them); unknown fields are skipped;
 * a missing required field and a field with the wrong wire type are issues, not failures.
 */
export function decodeMessage(schema: MessageSchema, buf: Buffer, base: number, issues: ProtoIssue[]): DecodedMessage {
  const out: DecodedMessage = {};
  const before = issues.length;
  const fields = readFields(buf, base, issues);
  // A message cut short by damage is already reported; its missing fields would only repeat that.
  const damaged = issues.length > before;
  for (const f of fields) {
    const spec = schema.fields[f.field];
    if (!spec) continue;
    const [name, type, label] = spec;
    const repeated = label === 'repeated';
    const expected = wireOf(type);
    if (repeated && f.wire === 2 && typeof type === 'string' && expected !== 2) {
      const list = (out[name] ??= []) as DecodedValue[];
      list.push(...unpack(f, type, `${schema.name}.${name}`, issues));
      continue;
    }
    if (f.wire !== expected) {
      issues.push({ offset: f.offset, message: `${schema.name}.${name} (field ${f.field}) has ${WIRE_NAMES[f.wire]}, expected ${WIRE_NAMES[expected]}` });
      continue;
    }
    let value: DecodedValue;
    if (typeof type !== 'string') value = decodeMessage(type, f.bytes!, f.offset, issues);
    else if (type === 'string') value = f.bytes!.toString('utf8');
    else if (type === 'bytes') value = Buffer.from(f.bytes!);
    else value = scalar(type, f.int!);
    if (repeated) ((out[name] ??= []) as DecodedValue[]).push(value);
    else out[name] = value;
  }
  if (damaged) return out;
  for (const [num, name] of requiredFields(schema)) {
    if (!(name in out)) issues.push({ offset: base, message: `${schema.name} lacks required field ${name} (${num})` });
  }
  return out;
}
