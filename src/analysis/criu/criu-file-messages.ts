/**
 * The CRIU messages that describe open files (fdinfo.proto, regfile.proto, pipe.proto, fifo.proto,
 * sk-inet.proto, sk-opts.proto, sk-unix.proto, sk-netlink.proto, packet-sock.proto, tty.proto, eventfd.proto,
 * eventpoll.proto, memfd.proto, fown.proto) and the data CRIU keeps for sockets (tcp-stream.proto,
 * sk-packet.proto), written from their field numbers and types.
 * files.img holds one file_entry per open file (type + one typed sub-message); older CRIU kept
 * each type in its own image (reg-files.img, pipes.img, …) holding the sub-messages directly.
 */
import type { MessageSchema, U64 } from './proto-reader.js';

const R = 'required' as const;
const N = 'repeated' as const;

/** fdinfo.proto enum fd_types. */
export const FD_TYPES: Readonly<Record<number, string>> = {
  0: 'UND',
  1: 'REG',
  2: 'PIPE',
  3: 'FIFO',
  4: 'INETSK',
  5: 'UNIXSK',
  6: 'EVENTFD',
  7: 'EVENTPOLL',
  8: 'INOTIFY',
  9: 'SIGNALFD',
  10: 'PACKETSK',
  11: 'TTY',
  12: 'FANOTIFY',
  13: 'NETLINKSK',
  14: 'NS',
  15: 'TUNF',
  16: 'EXT',
  17: 'TIMERFD',
  18: 'MEMFD',
};

const FOWN: MessageSchema = {
  name: 'fown_entry',
  fields: { 1: ['uid', 'uint32', R], 2: ['euid', 'uint32', R], 3: ['signum', 'uint32', R], 4: ['pid_type', 'uint32', R], 5: ['pid', 'uint32', R] },
};
export interface FownEntry {
  uid: number;
  euid: number;
  signum: number;
  pid_type: number;
  pid: number;
}

export const REG_FILE: MessageSchema = {
  name: 'reg_file_entry',
  fields: {
    1: ['id', 'uint32', R],
    2: ['flags', 'uint32', R],
    3: ['pos', 'uint64', R],
    5: ['fown', FOWN, R],
    6: ['name', 'string', R],
    7: ['mnt_id', 'sint32'],
    8: ['size', 'uint64'],
    9: ['ext', 'bool'],
    10: ['mode', 'uint32'],
    11: ['build_id', 'uint32', N],
  },
};
export interface RegFileEntry {
  id: number;
  flags: number;
  pos: U64;
  fown: FownEntry;
  name: string;
  mnt_id?: number;
  size?: U64;
  ext?: boolean;
  mode?: number;
  build_id?: number[];
}

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

const NETLINK_SK: MessageSchema = {
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

const PACKET_SK: MessageSchema = {
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

export const PIPE: MessageSchema = {
  name: 'pipe_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['pipe_id', 'uint32', R], 3: ['flags', 'uint32', R], 4: ['fown', FOWN, R] },
};
export interface PipeEntry {
  id: number;
  pipe_id: number;
  flags: number;
  fown: FownEntry;
}

export const FIFO: MessageSchema = {
  name: 'fifo_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['pipe_id', 'uint32', R], 3: ['regf_id', 'uint32'], 4: ['wait_writer', 'bool'] },
};
export interface FifoEntry {
  id: number;
  pipe_id: number;
  regf_id?: number;
  wait_writer?: boolean;
}

/** `regf_id` (6) names the reg_file_entry of the device path (/dev/pts/0, /dev/ttyAMA3). */
export const TTY_FILE: MessageSchema = {
  name: 'tty_file_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['tty_info_id', 'uint32', R], 3: ['flags', 'uint32', R], 4: ['fown', FOWN, R], 6: ['regf_id', 'uint32'] },
};
export interface TtyFileEntry {
  id: number;
  tty_info_id: number;
  flags: number;
  fown: FownEntry;
  regf_id?: number;
}

const EVENTFD: MessageSchema = {
  name: 'eventfd_file_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['flags', 'uint32', R], 3: ['fown', FOWN, R], 4: ['counter', 'uint64', R] },
};
const EVENTPOLL: MessageSchema = { name: 'eventpoll_file_entry', fields: { 1: ['id', 'uint32', R], 2: ['flags', 'uint32', R], 3: ['fown', FOWN, R] } };

const MEMFD_FILE: MessageSchema = {
  name: 'memfd_file_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['flags', 'uint32', R], 3: ['pos', 'uint64', R], 4: ['fown', FOWN, R], 5: ['inode_id', 'uint32', R] },
};
export interface MemfdFileEntry {
  id: number;
  flags: number;
  pos: U64;
  fown: FownEntry;
  inode_id: number;
}

/** memfd.img: one entry per memfd inode; its name is what the kernel shows as `/memfd:<name>`. */
export const MEMFD_INODE: MessageSchema = {
  name: 'memfd_inode_entry',
  fields: {
    1: ['name', 'string', R],
    2: ['uid', 'uint32', R],
    3: ['gid', 'uint32', R],
    4: ['size', 'uint64', R],
    5: ['shmid', 'uint32', R],
    6: ['seals', 'uint32', R],
    7: ['inode_id', 'uint64', R],
  },
};
export interface MemfdInodeEntry {
  name: string;
  uid: number;
  gid: number;
  size: U64;
  shmid: number;
  seals: number;
  inode_id: U64;
}

export const FILE_ENTRY: MessageSchema = {
  name: 'file_entry',
  fields: {
    1: ['type', 'uint32', R],
    2: ['id', 'uint32', R],
    3: ['reg', REG_FILE],
    4: ['isk', INET_SK],
    6: ['psk', PACKET_SK],
    7: ['nlsk', NETLINK_SK],
    8: ['efd', EVENTFD],
    9: ['epfd', EVENTPOLL],
    16: ['usk', UNIX_SK],
    17: ['fifo', FIFO],
    18: ['pipe', PIPE],
    19: ['tty', TTY_FILE],
    20: ['memfd', MEMFD_FILE],
  },
};
export interface FileEntry {
  type: number;
  id: number;
  reg?: RegFileEntry;
  isk?: InetSkEntry;
  psk?: PacketSockEntry;
  nlsk?: NetlinkSkEntry;
  efd?: { id: number; flags: number };
  epfd?: { id: number; flags: number };
  usk?: UnixSkEntry;
  fifo?: FifoEntry;
  pipe?: PipeEntry;
  tty?: TtyFileEntry;
  memfd?: MemfdFileEntry;
}

export const FDINFO: MessageSchema = {
  name: 'fdinfo_entry',
  fields: { 1: ['id', 'uint32', R], 2: ['flags', 'uint32', R], 3: ['type', 'uint32', R], 4: ['fd', 'uint32', R], 5: ['xattr_security_selinux', 'string'] },
};
export interface FdinfoEntry {
  id: number;
  flags: number;
  type: number;
  fd: number;
  xattr_security_selinux?: string;
}

/** Pre-files.img images: which sub-message each holds and which file_entry field it stands for. */
export const LEGACY_FILE_IMAGES: Readonly<Record<string, { type: number; key: keyof FileEntry; schema: MessageSchema }>> = {
  'reg-files': { type: 1, key: 'reg', schema: REG_FILE },
  pipes: { type: 2, key: 'pipe', schema: PIPE },
  fifo: { type: 3, key: 'fifo', schema: FIFO },
  inetsk: { type: 4, key: 'isk', schema: INET_SK },
  unixsk: { type: 5, key: 'usk', schema: UNIX_SK },
  tty: { type: 11, key: 'tty', schema: TTY_FILE },
};

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
