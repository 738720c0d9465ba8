/**
 * A decoded file_entry → what an analyst reads: kind, path, and for sockets family, protocol,
 * state and endpoints. Numbers are the kernel's (CRIU stores them as it got them from sock_diag).
 */
import type { CriuFile, CriuSocket, FileKind } from './criu-model.js';
import { FD_TYPES, type FileEntry } from './criu-file-messages.js';
import type { InetSkEntry, SkOptsEntry, UnixSkEntry } from './criu-socket-messages.js';
import { safeNumber } from './proto-reader.js';

export interface FileLookup {
  file(id: number): FileEntry | undefined;
  /** memfd.img: inode id → name */
  memfdName(inodeId: number): string | undefined;
}

/** include/net/tcp_states.h; UDP and unix sockets use the same numbers for their sk_state. */
const TCP_STATES: Readonly<Record<number, string>> = {
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
  11: 'CLOSING',
  12: 'NEW_SYN_RECV',
  13: 'BOUND_INACTIVE',
};
const SOCK_TYPES: Readonly<Record<number, string>> = { 1: 'stream', 2: 'dgram', 3: 'raw', 4: 'rdm', 5: 'seqpacket', 6: 'dccp', 10: 'packet' };
const IP_PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite', 255: 'raw' };
const NETLINK_PROTOCOLS: Readonly<Record<number, string>> = { 0: 'route', 4: 'sock_diag', 9: 'audit', 12: 'netfilter', 15: 'kobject_uevent', 16: 'generic' };
const AF_INET = 2,
  AF_INET6 = 10;
const S_IFMT = 0o170000,
  S_IFDIR = 0o040000;

export const tcpState = (n: number): string => TCP_STATES[n] ?? `state-${n}`;

/** CRIU's address words: network-order bytes stored in host (little-endian) uint32s. */
function addressBytes(words: readonly number[]): Buffer {
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
  return b;
}

function ipv4(b: Buffer, at = 0): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/** RFC 5952 text: lower case, longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIpv6(b: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(b, 12)}`;
  let best = -1,
    bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function inetAddress(family: 'ipv4' | 'ipv6', words: readonly number[] | undefined): string | undefined {
  const need = family === 'ipv4' ? 1 : 4;
  if (!words || words.length < need) return undefined;
  const b = addressBytes(words.slice(0, need));
  return family === 'ipv4' ? ipv4(b) : formatIpv6(b);
}

function inetSocket(s: InetSkEntry): CriuSocket {
  const family = s.family === AF_INET ? 'ipv4' : s.family === AF_INET6 ? 'ipv6' : undefined;
  const out: CriuSocket = {
    kind: 'inet',
    inode: s.ino,
    protocol: IP_PROTOCOLS[s.proto] ?? `proto-${s.proto}`,
    state: tcpState(s.state),
    type: SOCK_TYPES[s.type] ?? `type-${s.type}`,
    localPort: s.src_port,
    remotePort: s.dst_port,
    ...buffers(s.opts),
  };
  if (family) {
    out.family = family;
    out.localAddress = inetAddress(family, s.src_addr);
    out.remoteAddress = inetAddress(family, s.dst_addr);
  }
  return out;
}

/** A bound name as `ss` shows it: abstract names (leading NUL) as `@name`. */
export function unixName(s: Pick<UnixSkEntry, 'name' | 'name_dir'>): string | undefined {
  if (!s.name || s.name.length === 0) return undefined;
  if (s.name[0] === 0) return `@${s.name.subarray(1).toString('utf8').replace(/\0/g, '@')}`;
  const name = s.name.toString('utf8').replace(/\0+$/, '');
  return s.name_dir && !name.startsWith('/') ? `${s.name_dir.replace(/\/$/, '')}/${name}` : name;
}

function buffers(opts: SkOptsEntry | undefined): Pick<CriuSocket, 'sendBufferBytes' | 'recvBufferBytes'> {
  return opts ? { sendBufferBytes: opts.so_sndbuf, recvBufferBytes: opts.so_rcvbuf } : {};
}

function unixSocket(s: UnixSkEntry): CriuSocket {
  const out: CriuSocket = { kind: 'unix', inode: s.ino, state: tcpState(s.state), type: SOCK_TYPES[s.type] ?? `type-${s.type}`, ...buffers(s.opts) };
  const path = unixName(s);
  if (path !== undefined) out.path = path;
  if (s.peer) out.peer = s.peer;
  return out;
}

const typeName = (t: number) => FD_TYPES[t] ?? `type-${t}`;

/**
 * Resolves one file entry. `problem` says when the entry lacks the sub-message its type needs
 * (the file is then reported as `other` with CRIU's type name).
 */
export function resolveCriuFile(e: FileEntry, lookup: FileLookup): { file: CriuFile; problem?: string } {
  const base = (kind: FileKind, extra: Partial<CriuFile> = {}): { file: CriuFile } => ({ file: { id: e.id, kind, ...extra } });
  const regPath = (id: number | undefined) => (id === undefined ? undefined : lookup.file(id)?.reg?.name);
  const name = typeName(e.type);
  switch (name) {
    case 'REG':
      if (e.reg) {
        const r = e.reg;
        const kind = r.mode !== undefined && (r.mode & S_IFMT) === S_IFDIR ? 'dir' : 'file';
        return base(kind, {
          path: r.name,
          flags: r.flags,
          ...(r.mode !== undefined && { mode: r.mode }),
          ...(r.size !== undefined && { size: safeNumber(r.size) }),
        });
      }
      break;
    case 'PIPE':
      if (e.pipe) return base('pipe', { pipeId: e.pipe.pipe_id, flags: e.pipe.flags });
      break;
    case 'FIFO':
      if (e.fifo) return base('fifo', { pipeId: e.fifo.pipe_id, ...(regPath(e.fifo.regf_id) !== undefined && { path: regPath(e.fifo.regf_id) }) });
      break;
    case 'INETSK':
      if (e.isk) return base('socket', { flags: e.isk.flags, socket: inetSocket(e.isk) });
      break;
    case 'UNIXSK':
      if (e.usk) {
        const socket = unixSocket(e.usk);
        return base('socket', { flags: e.usk.flags, socket, ...(socket.path !== undefined && { path: socket.path }) });
      }
      break;
    case 'NETLINKSK':
      if (e.nlsk) {
        return base('socket', {
          flags: e.nlsk.flags,
          socket: {
            kind: 'netlink',
            inode: e.nlsk.ino,
            protocol: NETLINK_PROTOCOLS[e.nlsk.protocol] ?? `netlink-${e.nlsk.protocol}`,
            state: tcpState(e.nlsk.state),
          },
        });
      }
      break;
    case 'PACKETSK':
      if (e.psk) {
        return base('socket', {
          flags: e.psk.flags,
          socket: {
            kind: 'packet',
            inode: 0,
            protocol: `0x${e.psk.protocol.toString(16).padStart(4, '0')}`,
            type: SOCK_TYPES[e.psk.type] ?? `type-${e.psk.type}`,
          },
        });
      }
      break;
    case 'TTY':
      if (e.tty) return base('tty', { flags: e.tty.flags, ...(regPath(e.tty.regf_id) !== undefined && { path: regPath(e.tty.regf_id) }) });
      break;
    case 'EVENTFD':
      return base('eventfd', e.efd ? { flags: e.efd.flags } : {});
    case 'EVENTPOLL':
      return base('epoll', e.epfd ? { flags: e.epfd.flags } : {});
    case 'MEMFD':
      if (e.memfd) {
        const memName = lookup.memfdName(e.memfd.inode_id);
        return base('memfd', { flags: e.memfd.flags, path: `memfd:${memName ?? `inode-${e.memfd.inode_id}`}` });
      }
      break;
    default:
      return base('other', { type: name });
  }
  return { ...base('other', { type: name }), problem: `file ${e.id} has type ${name} but no ${name} details` };
}
