/**
 * Bech32 (BIP-173), as age writes its X25519 keys: recipients with HRP `age`, identities with HRP
 * `AGE-SECRET-KEY-` in upper case. age lifts BIP-173's 90-character limit, so neither the encoder
 * nor the decoder here has one. In core so that policies can check recipients at load time.
 */
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3] as const;

function polymod(values: readonly number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i] as number;
  }
  return chk >>> 0;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >>> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | undefined {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    acc = (acc << from) | (data[i] as number);
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >>> bits) & max);
    }
    acc &= (1 << bits) - 1;
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & max);
  } else if (bits >= from || acc !== 0) {
    return undefined; // leftover bits that are not zero padding: not an encoding of whole bytes
  }
  return out;
}

/** Bech32 (BIP-173) of `bytes` under `hrp`, lower case. */
export function bech32Encode(hrp: string, bytes: Uint8Array): string {
  const lower = hrp.toLowerCase();
  const data = convertBits(bytes, 8, 5, true) as number[];
  const mod = polymod([...hrpExpand(lower), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  let out = `${lower}1`;
  for (const d of data) out += CHARSET[d];
  for (let i = 0; i < 6; i++) out += CHARSET[(mod >>> (5 * (5 - i))) & 31];
  return out;
}

/**
 * Decodes Bech32 (BIP-173) without its length limit. The HRP comes back lower case; an
 * all-upper-case string is accepted, a mixed-case one is not. Returns a reason on failure.
 */
export function bech32Decode(s: string): { hrp: string; bytes: Buffer } | { error: string } {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126) return { error: 'a character outside printable ASCII' };
  }
  const lower = s.toLowerCase();
  if (lower !== s && s.toUpperCase() !== s) return { error: 'mixed upper and lower case' };
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || sep + 7 > lower.length) return { error: 'no separator, or too short for a checksum' };
  const hrp = lower.slice(0, sep);
  const data: number[] = [];
  for (const ch of lower.slice(sep + 1)) {
    const v = CHARSET.indexOf(ch);
    if (v < 0) return { error: `'${ch}' is not a bech32 character` };
    data.push(v);
  }
  if (polymod([...hrpExpand(hrp), ...data]) !== 1) return { error: 'checksum mismatch' };
  const bytes = convertBits(data.slice(0, -6), 5, 8, false);
  if (bytes === undefined) return { error: 'invalid padding' };
  return { hrp, bytes: Buffer.from(bytes) };
}

/** Why `s` is not an age X25519 recipient (`age1…`, 32 bytes), or undefined when it is one. */
export function ageRecipientProblem(s: string): string | undefined {
  const decoded = bech32Decode(s);
  if ('error' in decoded) return decoded.error;
  if (decoded.hrp !== 'age') return `type '${decoded.hrp}' is not an X25519 recipient ('age')`;
  if (decoded.bytes.length !== 32) return `${decoded.bytes.length} bytes, not 32`;
  return undefined;
}
