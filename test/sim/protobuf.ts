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
    const zz = v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
    return this.tag(field, 0).rawVarint(zz);
  }

  bool(field: number, value: boolean | undefined): this {
    if (value === undefined) return this;
    return this.tag(field, 0).rawVarint(value ? 1 : 0);
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
