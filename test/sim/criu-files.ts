/**
 * files.img, fdinfo-N.img and tcp-stream-<ino>.img values, as CRIU 4.2 writes them (compare crit's
 * decodes in test/fixtures/real-checkpoints): ids in dump order (per task: its mapped files, then
 * its descriptors, then its cwd and root), an inherited descriptor keeping the id of the file it
 * shares; regular files with their mount id, size (regular files only), mode and, for ELF
 * executables, the build-id words; sockets with the full socket options CRIU reads
 * (criu/sockets.c dump_socket_opts), IPv4 TCP with ip_opts.ttl, ns_id and tcp_opts; an established
 * TCP socket also gets tcp-stream-<ino in hex>.img with its sequence numbers, windows and the
 * unread / unsent bytes after the record (CRIU dumps them when tcp-established is on, which the sim
 * models: a checkpoint of a container with a live connection succeeds).
 */
import { createHash } from 'node:crypto';
import { ipv4Word } from './criu-images.js';
import type { ProtoMessage } from './protobuf.js';

const O_WRONLY = 0o1,
  O_RDWR = 0o2,
  O_LARGEFILE = 0o100000;
export const FOWN = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 } as const;

export type FileSpec =
  | { kind: 'reg'; path: string; mode: number; size?: number; flags?: number; pos?: number; mnt: 'root' | 'dev'; elf?: boolean }
  | { kind: 'pipe'; pipeId: number; write: boolean }
  | { kind: 'tcp'; ino: number; src: { ip: string; port: number }; dst: { ip: string; port: number }; stream: TcpStream }
  | { kind: 'unix'; ino: number; peer: number };

export interface TcpStream {
  inq: Buffer;
  outq: Buffer;
  inqSeq: number;
  outqSeq: number;
  timestamp: number;
}

/** Five 32-bit words of a 160-bit GNU build-id, stable per path. */
const buildId = (path: string): number[] => {
  const h = createHash('sha1').update(path).digest();
  return [0, 1, 2, 3, 4].map((i) => h.readUInt32LE(i * 4));
};

const skOpts = (sndbuf: number, rcvbuf: number, unix: boolean): ProtoMessage => ({
  so_sndbuf: sndbuf,
  so_rcvbuf: rcvbuf,
  so_snd_tmo_sec: 0,
  so_snd_tmo_usec: 0,
  so_rcv_tmo_sec: 0,
  so_rcv_tmo_usec: 0,
  reuseaddr: false,
  so_priority: 0,
  so_rcvlowat: 1,
  ...(unix && { so_passcred: false, so_passsec: false }),
  so_dontroute: false,
  so_no_check: false,
  so_reuseport: false,
  so_broadcast: false,
  so_keepalive: false,
  so_oobinline: 0,
  so_buf_lock: 0,
});

/** The files.img entry of `f` under file id `id`. */
export function fileEntry(id: number, f: FileSpec, mnt: { root: number; dev: number }, netNs: number): ProtoMessage {
  switch (f.kind) {
    case 'reg':
      return {
        type: 'REG',
        id,
        reg: {
          id,
          flags: f.flags ?? 0,
          pos: f.pos ?? 0,
          fown: FOWN,
          name: f.path,
          mnt_id: mnt[f.mnt],
          size: f.size,
          mode: f.mode,
          build_id: f.elf ? buildId(f.path) : undefined,
        },
      };
    case 'pipe':
      return { type: 'PIPE', id, pipe: { id, pipe_id: f.pipeId, flags: f.write ? O_WRONLY : 0, fown: FOWN } };
    case 'tcp':
      return {
        type: 'INETSK',
        id,
        isk: {
          id,
          ino: f.ino,
          family: 2,
          type: 1,
          proto: 6,
          state: 1,
          src_port: f.src.port,
          dst_port: f.dst.port,
          flags: O_RDWR,
          backlog: 0,
          src_addr: [ipv4Word(f.src.ip)],
          dst_addr: [ipv4Word(f.dst.ip)],
          fown: FOWN,
          opts: skOpts(87_040, 131_072, false),
          ip_opts: { ttl: 64 },
          ns_id: netNs,
          tcp_opts: { keepcnt: 9, keepidle: 7200, keepintvl: 75 },
        },
      };
    case 'unix':
      return {
        type: 'UNIXSK',
        id,
        usk: {
          id,
          ino: f.ino,
          type: 1,
          state: 1,
          flags: O_RDWR,
          uflags: 0,
          backlog: 0,
          peer: f.peer,
          fown: FOWN,
          opts: skOpts(212_992, 212_992, true),
          name: Buffer.alloc(0),
          ns_id: netNs,
        },
      };
  }
}

export const fdType = (f: FileSpec): string => (({ reg: 'REG', pipe: 'PIPE', tcp: 'INETSK', unix: 'UNIXSK' }) as const)[f.kind];

/** The regular-file flags CRIU records for a descriptor: what open() was given, plus O_LARGEFILE on 64-bit. */
export const openFlags = (mode: 'r' | 'w' | 'rw') => ({ r: 0, w: O_WRONLY, rw: O_RDWR })[mode] | O_LARGEFILE;

/** tcp-stream-<ino>.img: one entry, then the receive queue, then the send queue. */
export function tcpStreamImage(s: TcpStream): { entry: ProtoMessage; extra: Buffer } {
  return {
    entry: {
      inq_len: s.inq.length,
      inq_seq: s.inqSeq,
      outq_len: s.outq.length,
      outq_seq: s.outqSeq,
      opt_mask: 0x7,
      snd_wscale: 7,
      mss_clamp: 1448,
      rcv_wscale: 7,
      timestamp: s.timestamp,
      unsq_len: 0,
      snd_wl1: (s.inqSeq - s.inq.length) >>> 0,
      snd_wnd: 64_256,
      max_window: 64_256,
      rcv_wnd: 65_535,
      rcv_wup: s.inqSeq,
    },
    extra: Buffer.concat([s.inq, s.outq]),
  };
}
