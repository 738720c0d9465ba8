/**
 * Compares what our CRIU reader decoded with what CRIU's own `crit decode --pretty` printed for the
 * same image: every leaf we decode must be crit's value at the same path. crit prints enums by
 * name, flag fields as `A | B | 0x4000`, hex fields as `0x…` strings and addresses as text; these
 * tables hold the names the real dumps use, with the values of the kernel and CRIU headers (crit
 * names rfile flags with the x86-64 O_* values).
 */
import { isIP } from 'node:net';

const ENUMS: Record<string, Record<string, number>> = {
  mtype: { X86_64: 1, AARCH64: 3 },
  task_state: { Alive: 1, Dead: 2, Stopped: 3, Zombie: 6 },
  lsmtype: { NO_LSM: 0 },
  type: { REG: 1, PIPE: 2, INETSK: 4, UNIXSK: 5, TTY: 11, STREAM: 1, DGRAM: 2, RAW: 3, SEQPACKET: 5 },
  family: { UNIX: 1, INET: 2, INET6: 10, NETLINK: 16, PACKET: 17 },
  proto: { IP: 0, ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58, UDPLITE: 136 },
  state: { ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, TIME_WAIT: 6, CLOSE: 7, CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10, CLOSING: 11 },
  // core.proto thread_core seccomp_mode (seccomp.h SECCOMP_MODE_*); core-x86.proto user_x86_regs_mode
  seccomp_mode: { disabled: 0, strict: 1, filter: 2 },
  mode: { NATIVE: 1, COMPAT: 2 },
  // mnt_entry fstype (fstype enum of mnt.proto)
  fstype: {
    UNSUPPORTED: 0,
    PROC: 1,
    SYSFS: 2,
    DEVTMPFS: 3,
    BINFMT_MISC: 4,
    TMPFS: 5,
    DEVPTS: 6,
    SIMFS: 7,
    PSTORE: 8,
    SECURITYFS: 9,
    FUSECTL: 10,
    DEBUGFS: 11,
    CGROUP: 12,
    AUFS: 13,
    MQUEUE: 14,
    FUSE: 15,
    AUTO: 16,
    OVERLAYFS: 17,
    AUTOFS: 18,
    TRACEFS: 19,
    CGROUP2: 23,
  },
};
const FLAGS: Record<string, Record<string, number>> = {
  prot: { PROT_READ: 1, PROT_WRITE: 2, PROT_EXEC: 4 },
  'mm.flags': { MAP_SHARED: 1, MAP_PRIVATE: 2, MAP_ANON: 0x20, MAP_GROWSDOWN: 0x100 },
  status: {
    VMA_AREA_REGULAR: 1,
    VMA_AREA_STACK: 2,
    VMA_AREA_VSYSCALL: 4,
    VMA_AREA_VDSO: 8,
    VMA_AREA_HEAP: 32,
    VMA_FILE_PRIVATE: 64,
    VMA_FILE_SHARED: 128,
    VMA_ANON_SHARED: 256,
    VMA_ANON_PRIVATE: 512,
    VMA_AREA_VVAR: 4096,
  },
  'pagemap.flags': { PE_PARENT: 1, PE_LAZY: 2, PE_PRESENT: 4 },
  'files.flags': {
    O_WRONLY: 1,
    O_RDWR: 2,
    O_APPEND: 0o2000,
    O_NONBLOCK: 0o4000,
    O_LARGEFILE: 0o100000,
    O_DIRECTORY: 0o200000,
    O_NOFOLLOW: 0o400000,
    O_CLOEXEC: 0o2000000,
  },
};

export function critNumber(v: unknown, key: string, kind: string): bigint | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return BigInt(v);
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v !== 'string') return undefined;
  if (/^0x[0-9a-f]+$/i.test(v)) return BigInt(v);
  // (criu).dev fields: crit prints the kernel's dev_t as major:minor (MINORBITS = 20)
  const dev = /^(\d+):(\d+)$/.exec(v);
  if (dev) return (BigInt(dev[1]!) << 20n) | BigInt(dev[2]!);
  const en = ENUMS[key]?.[v];
  if (en !== undefined) return BigInt(en);
  const table = FLAGS[`${kind}.${key}`] ?? FLAGS[key];
  if (!table) return undefined;
  if (v === '') return 0n;
  let n = 0n;
  for (const part of v.split('|').map((s) => s.trim())) {
    const bit = part.startsWith('0x') ? Number.parseInt(part, 16) : table[part];
    if (bit === undefined) return undefined;
    n |= BigInt(bit);
  }
  return n;
}

/** An address crit prints as text, as the uint32 words of sk-inet.proto (network byte order in each word). */
function addressWords(text: string): number[] | undefined {
  const v = isIP(text);
  if (v === 4) return [Buffer.from(text.split('.').map(Number)).readUInt32LE(0)];
  if (v !== 6) return undefined;
  const [head = '', tail = ''] = text.split('::');
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  let groups = [...part(head)];
  const rest = part(tail);
  // an IPv4 tail (::ffff:127.0.0.1) is two groups
  const last = rest[rest.length - 1] ?? groups[groups.length - 1];
  if (last?.includes('.')) {
    const b = last.split('.').map(Number);
    const ipv4 = [((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
    if (rest.length > 0) rest.splice(rest.length - 1, 1, ...ipv4);
    else groups.splice(groups.length - 1, 1, ...ipv4);
  }
  groups = text.includes('::') ? [...groups, ...Array<string>(8 - groups.length - rest.length).fill('0'), ...rest] : groups;
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(Number.parseInt(g, 16), i * 2));
  return [0, 4, 8, 12].map((o) => bytes.readUInt32LE(o));
}

/** Walks what we decoded; every leaf must equal crit's value at the same path. Returns [mismatches, leaves compared]. */
export function agree(ours: unknown, theirs: unknown, kind: string, path = '', key = ''): [string[], number] {
  if (ours !== null && typeof ours === 'object' && !Array.isArray(ours) && !Buffer.isBuffer(ours)) {
    if (typeof theirs !== 'object' || theirs === null) return [[`${path}: crit has ${JSON.stringify(theirs)}, we have an object`], 0];
    let bad: string[] = [],
      n = 0;
    for (const [k, v] of Object.entries(ours)) {
      const [b, c] = agree(v, (theirs as Record<string, unknown>)[k], kind, `${path}.${k}`, k);
      bad = bad.concat(b);
      n += c;
    }
    return [bad, n];
  }
  if (Array.isArray(ours)) {
    if ((key === 'src_addr' || key === 'dst_addr') && Array.isArray(theirs) && theirs.length === 1 && typeof theirs[0] === 'string') {
      const want = addressWords(theirs[0]);
      return [JSON.stringify(want) === JSON.stringify(ours) ? [] : [`${path}: crit ${theirs[0]} (${JSON.stringify(want)}), we ${JSON.stringify(ours)}`], 1];
    }
    if (!Array.isArray(theirs) || theirs.length !== ours.length)
      return [[`${path}: crit has ${Array.isArray(theirs) ? theirs.length : 'no'} elements, we have ${ours.length}`], 0];
    let bad: string[] = [],
      n = 0;
    ours.forEach((v, i) => {
      const [b, c] = agree(v, theirs[i], kind, `${path}[${i}]`, key);
      bad = bad.concat(b);
      n += c;
    });
    return [bad, n];
  }
  if (typeof ours === 'number' || typeof ours === 'bigint') {
    const want = critNumber(theirs, key, kind);
    return [want === BigInt(ours) ? [] : [`${path}: crit ${String(theirs)}, we ${String(ours)}`], 1];
  }
  if (Buffer.isBuffer(ours)) {
    // crit prints bytes fields as base64
    return [
      typeof theirs === 'string' && ours.toString('base64') === theirs ? [] : [`${path}: crit ${String(theirs)}, we ${ours.toString('base64')} (base64)`],
      1,
    ];
  }
  if (typeof ours === 'boolean' && typeof theirs === 'boolean') return [ours === theirs ? [] : [`${path}: crit ${String(theirs)}, we ${String(ours)}`], 1];
  return [ours === theirs ? [] : [`${path}: crit ${String(theirs)}, we ${String(ours)}`], 1];
}
