/**
 * A tiny proto2 encoder: just what CRIU's images need (varint, zigzag, length-delimited, fixed64).
 *
 * Wire facts (protobuf encoding spec, and what protobuf-c — CRIU's library — emits):
 * - tag = (field << 3) | wireType; 0 = varint, 1 = 64-bit, 2 = length-delimited.
 * - int32/int64 negatives are sign-extended to 64 bits and take 10 varint bytes
 *   (the real core-2956.img has oom_score_adj -1000 encoded that way).
 * - sint32/sint64 are zigzag-encoded (vma_entry.fd = -1 is the single byte 0x01).
 * - proto2 repeated scalars are NOT packed unless the .proto says [packed=true]: one tag per element.
 * - protobuf-c emits fields in ascending field number; required fields always, optional ones
 *   only when set. Callers here write fields in ascending order and skip `undefined`.
 */

export type Int = number | bigint;

const MASK64 = (1n << 64n) - 1n;

function toBig(v: Int): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isInteger(v)) throw new Error(`protobuf: not an integer: ${v}`);
  return BigInt(v);
}

export class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  private rawVarint(value: Int): this {
    let v = toBig(value);
    if (v < 0n) v &= MASK64; // two's complement, 10 bytes
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    return this.push(Buffer.from(bytes));
  }

  private tag(field: number, wire: 0 | 1 | 2 | 5): this {
    return this.rawVarint((field << 3) | wire);
  }

  /** uint32, uint64, int32, int64, enum. */
  uint(field: number, value: Int | undefined): this {
    if (value === undefined) return this;
    return this.tag(field, 0).rawVarint(value);
  }

  /** sint32 / sint64 (zigzag). */
  sint(field: number, value: Int | undefined): this {
    if (value === undefined) return this;
    const v = toBig(value);
    const zz = v >= 0n ? v << 1n : (-v << 1n) - 1n;
    return this.tag(field, 0).rawVarint(zz);
  }

  bool(field: number, value: boolean | undefined): this {
    if (value === undefined) return this;
    return this.tag(field, 0).rawVarint(value ? 1 : 0);
  }

  fixed32(field: number, value: Int | undefined): this {
    if (value === undefined) return this;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(Number(toBig(value) & 0xffffffffn));
    return this.tag(field, 5).push(b);
  }

  fixed64(field: number, value: Int | undefined): this {
    if (value === undefined) return this;
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(toBig(value) & MASK64);
    return this.tag(field, 1).push(b);
  }

  bytes(field: number, value: Uint8Array | undefined): this {
    if (value === undefined) return this;
    this.tag(field, 2).rawVarint(value.length);
    return this.push(Buffer.from(value));
  }

  string(field: number, value: string | undefined): this {
    if (value === undefined) return this;
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** An embedded message (already encoded). */
  message(field: number, value: Buffer | undefined): this {
    return this.bytes(field, value);
  }

  repeatedUint(field: number, values: readonly Int[] | undefined): this {
    for (const v of values ?? []) this.uint(field, v);
    return this;
  }

  repeatedMessage(field: number, values: readonly Buffer[] | undefined): this {
    for (const v of values ?? []) this.message(field, v);
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

export function proto(): ProtoWriter {
  return new ProtoWriter();
}

// ---- schema-driven messages ----

export type ScalarType = 'uint32' | 'uint64' | 'int32' | 'int64' | 'sint32' | 'sint64' | 'bool' | 'string' | 'bytes' | 'fixed32' | 'fixed64';
export interface EnumType {
  readonly enum: string;
  readonly values: Readonly<Record<string, number>>;
}
/**
 * How crit prints a field: CRIU's `(criu)` field options (images/opts.proto). They change nothing
 * on the wire; they are kept so that a crit-style decode of our images can be compared with crit's.
 */
export interface CritOpts {
  readonly hex?: true;
  readonly ipadd?: true;
  readonly flags?: string;
  readonly dev?: true;
  readonly dict?: string;
  readonly conv?: string;
}
export type FieldType = ScalarType | EnumType | MessageSchema;
export type Label = 'required' | 'optional' | 'repeated';
export type FieldSpec = readonly [name: string, type: FieldType, label: Label, opts?: CritOpts];
/** A proto2 message: field number → [name, type, label, crit options], as in the .proto file. */
export interface MessageSchema {
  readonly name: string;
  readonly fields: Record<number, FieldSpec>;
}

export type ProtoValue = Int | boolean | string | Uint8Array | ProtoMessage | readonly ProtoValue[];
/** A message value keyed by the .proto field names (crit's names); absent = not written. */
export interface ProtoMessage {
  readonly [field: string]: ProtoValue | undefined;
}

export function message(name: string, fields: Record<number, FieldSpec>): MessageSchema {
  return { name, fields };
}

export function enumType(name: string, values: Record<string, number>): EnumType {
  return { enum: name, values };
}

const isSchema = (t: FieldType): t is MessageSchema => typeof t === 'object' && 'fields' in t;

function writeField(w: ProtoWriter, schema: MessageSchema, field: number, [name, type]: FieldSpec, v: ProtoValue): void {
  const where = `${schema.name}.${name}`;
  if (isSchema(type)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new Error(`sim: ${where} is a message`);
    w.message(field, encodeMessage(type, v as ProtoMessage));
    return;
  }
  if (typeof type === 'object') {
    // enum: its number, or its name
    const n = typeof v === 'string' ? type.values[v] : v;
    if (typeof n !== 'number') throw new Error(`sim: ${where}: no ${type.enum} value ${String(v)}`);
    w.uint(field, n);
    return;
  }
  const int = (): Int => {
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new Error(`sim: ${where} is an integer, not ${typeof v}`);
    return v;
  };
  switch (type) {
    case 'uint32':
    case 'uint64':
    case 'int32':
    case 'int64':
      w.uint(field, int());
      return;
    case 'sint32':
    case 'sint64':
      w.sint(field, int());
      return;
    case 'fixed32':
      w.fixed32(field, int());
      return;
    case 'fixed64':
      w.fixed64(field, int());
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw new Error(`sim: ${where} is a bool`);
      w.bool(field, v);
      return;
    case 'string':
      if (typeof v !== 'string') throw new Error(`sim: ${where} is a string`);
      w.string(field, v);
      return;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw new Error(`sim: ${where} is bytes`);
      w.bytes(field, v);
  }
}

/**
 * Encodes `value` as protobuf-c packs a proto2 message: fields in ascending number, required ones
 * always (missing → an error: a bug in the sim), optional ones when present, repeated scalars
 * unpacked. A key the schema does not know is an error too, so a misspelt field cannot vanish.
 */
export function encodeMessage(schema: MessageSchema, value: ProtoMessage): Buffer {
  const known = new Set<string>();
  const w = proto();
  for (const field of Object.keys(schema.fields)
    .map(Number)
    .sort((a, b) => a - b)) {
    const spec = schema.fields[field]!;
    const [name, , label] = spec;
    known.add(name);
    const v = value[name];
    if (v === undefined) {
      if (label === 'required') throw new Error(`sim: ${schema.name}.${name} is required`);
      continue;
    }
    if (label === 'repeated') {
      if (!Array.isArray(v)) throw new Error(`sim: ${schema.name}.${name} is repeated`);
      for (const x of v as ProtoValue[]) writeField(w, schema, field, spec, x);
    } else {
      writeField(w, schema, field, spec, v);
    }
  }
  for (const k of Object.keys(value)) if (!known.has(k) && value[k] !== undefined) throw new Error(`sim: ${schema.name} has no field ${k}`);
  return w.finish();
}
