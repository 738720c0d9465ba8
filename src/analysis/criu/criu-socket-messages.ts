/**
 * The CRIU messages of sockets (sk-opts.proto, sk-inet.proto, sk-unix.proto, sk-netlink.proto,
 * packet-sock.proto) and the data CRIU keeps for them (tcp-stream.proto, sk-packet.proto), written
 * from their field numbers and types. files.img holds them inside file_entry (criu-file-messages.ts).
 */
import { FOWN, type FownEntry } from './criu-fown.js';
import type { MessageSchema, U64 } from './proto-reader.js';

const R = 'required' as const;
const N = 'repeated' as const;

/** sk-opts.proto: what the analysis shows (buffer sizes) and the required fields around them. */
export const SK_OPTS: MessageSchema = {
  name: 'sk_opts_entry',
  fields: {
    1: ['so_sndbuf', 'uint32', R],
    2: ['so_rcvbuf', 'uint32', R],
    3: ['so_snd_tmo_sec', 'uint64', R],
    4: ['so_snd_tmo_usec', 'uint64', R],
    5: ['so_rcv_tmo_sec', 'uint64', R],
    6: ['so_rcv_tmo_usec', 'uint64', R],
    7: ['reuseaddr', 'bool'],
    8: ['so_priority', 'uint32'],
    9: ['so_rcvlowat', 'uint32'],
    10: ['so_mark', 'uint32'],
    15: ['so_bound_dev', 'string'],
    17: ['so_reuseport', 'bool'],
    18: ['so_broadcast', 'bool'],
    19: ['so_keepalive', 'bool'],
  },
};
export interface SkOptsEntry {
  so_sndbuf: number;
  so_rcvbuf: number;
  so_snd_tmo_sec: U64;
  so_snd_tmo_usec: U64;
  so_rcv_tmo_sec: U64;
  so_rcv_tmo_usec: U64;
  reuseaddr?: boolean;
  so_priority?: number;
  so_rcvlowat?: number;
  so_mark?: number;
  so_bound_dev?: string;
  so_reuseport?: boolean;
  so_broadcast?: boolean;
  so_keepalive?: boolean;
}

export const INET_SK: MessageSchema = {
  name: 'inet_sk_entry',
  fields: {
    1: ['id', 'uint32', R],
    2: ['ino', 'uint32', R],
    3: ['family', 'uint32', R],
    4: ['type', 'uint32', R],
    5: ['proto', 'uint32', R],
    6: ['state', 'uint32', R],
    7: ['src_port', 'uint32', R],
    8: ['dst_port', 'uint32', R],
    9: ['flags', 'uint32', R],
    10: ['backlog', 'uint32', R],
    11: ['src_addr', 'uint32', N],
    12: ['dst_addr', 'uint32', N],
    13: ['fown', FOWN, R],
    14: ['opts', SK_OPTS, R],
    15: ['v6only', 'bool'],
    17: ['ifname', 'string'],
    18: ['ns_id', 'uint32'],
  },
};
/** Addresses: IPv4 one word, IPv6 four; each word holds network-order bytes read as a host (LE) uint32. */
export interface InetSkEntry {
  id: number;
  ino: number;
  family: number;
  type: number;
  proto: number;
  state: number;
  src_port: number;
  dst_port: number;
  flags: number;
  backlog: number;
  src_addr?: number[];
  dst_addr?: number[];
  fown: FownEntry;
  opts: SkOptsEntry;
  v6only?: boolean;
  ifname?: string;
  ns_id?: number;
}

export const UNIX_SK: MessageSchema = {
  name: 'unix_sk_entry',
  fields: {
    1: ['id', 'uint32', R],
    2: ['ino', 'uint32', R],
    3: ['type', 'uint32', R],
    4: ['state', 'uint32', R],
    5: ['flags', 'uint32', R],
    6: ['uflags', 'uint32', R],
    7: ['backlog', 'uint32', R],
    8: ['peer', 'uint32', R],
    9: ['fown', FOWN, R],
    10: ['opts', SK_OPTS, R],
    11: ['name', 'bytes', R],
    12: ['shutdown', 'uint32'],
    14: ['name_dir', 'string'],
    15: ['deleted', 'bool'],
  },
};
/** `name` is bytes: an abstract name starts with NUL and may contain more of them. */
export interface UnixSkEntry {
  id: number;
  ino: number;
  type: number;
  state: number;
  flags: number;
  uflags: number;
  backlog: number;
  peer: number;
  fown: FownEntry;
  opts: SkOptsEntry;
  name: Buffer;
  shutdown?: number;
  name_dir?: string;
  deleted?: boolean;
}

export const NETLINK_SK: MessageSchema = {
  name: 'netlink_sk_entry',
  fields: {
    1: ['id', 'uint32', R],
    2: ['ino', 'uint32', R],
    3: ['protocol', 'uint32', R],
    4: ['state', 'uint32', R],
    6: ['flags', 'uint32', R],
    7: ['portid', 'uint32', R],
    9: ['dst_portid', 'uint32', R],
    10: ['dst_group', 'uint32', R],
  },
};
export interface NetlinkSkEntry {
  id: number;
  ino: number;
  protocol: number;
  state: number;
  flags: number;
  portid: number;
  dst_portid: number;
  dst_group: number;
}

export const PACKET_SK: MessageSchema = {
  name: 'packet_sock_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['type', 'uint32', R], 3: ['protocol', 'uint32', R], 4: ['flags', 'uint32', R], 5: ['ifindex', 'uint32', R] },
};
export interface PacketSockEntry {
  id: number;
  type: number;
  protocol: number;
  flags: number;
  ifindex: number;
}

/**
 * tcp-stream-<inode hex>.img (written with --tcp-established): the state of one connected TCP socket,
 * then `inq_len` bytes of its receive queue and `outq_len` bytes of its send queue, raw.
 */
export const TCP_STREAM: MessageSchema = {
  name: 'tcp_stream_entry',
  fields: {
    1: ['inq_len', 'uint32', R],
    2: ['inq_seq', 'uint32', R],
    3: ['outq_len', 'uint32', R],
    4: ['outq_seq', 'uint32', R],
    5: ['opt_mask', 'uint32', R],
    6: ['snd_wscale', 'uint32', R],
    7: ['mss_clamp', 'uint32', R],
    8: ['rcv_wscale', 'uint32'],
    9: ['timestamp', 'uint32'],
    12: ['unsq_len', 'uint32'],
    13: ['snd_wl1', 'uint32'],
    14: ['snd_wnd', 'uint32'],
    15: ['max_window', 'uint32'],
    16: ['rcv_wnd', 'uint32'],
    17: ['rcv_wup', 'uint32'],
  },
};
export interface TcpStreamEntry {
  inq_len: number;
  inq_seq: number;
  outq_len: number;
  outq_seq: number;
  opt_mask: number;
  snd_wscale: number;
  mss_clamp: number;
  rcv_wscale?: number;
  timestamp?: number;
  unsq_len?: number;
  snd_wl1?: number;
  snd_wnd?: number;
  max_window?: number;
  rcv_wnd?: number;
  rcv_wup?: number;
}

/** sk-queues.img: per queued packet of a unix/packet socket, the socket's id and `length` raw bytes that follow the record. */
export const SK_PACKET: MessageSchema = {
  name: 'sk_packet_entry',
  fields: {
    1: ['id_for', 'uint32', R],
    2: ['length', 'uint32', R],
    4: ['scm', { name: 'scm_entry', fields: { 1: ['type', 'uint32', R], 2: ['rights', 'uint32', N] } }, N],
  },
};
export interface SkPacketEntry {
  id_for: number;
  length: number;
  scm?: { type: number; rights?: number[] }[];
}
