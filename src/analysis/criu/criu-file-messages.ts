/**
 * The CRIU messages that describe open files (fdinfo.proto, regfile.proto, pipe.proto, fifo.proto,
 * tty.proto, eventfd.proto, eventpoll.proto, memfd.proto), written from their field numbers and
 * types; those of sockets are in criu-socket-messages.ts.
 * files.img holds one file_entry per open file (type + one typed sub-message); older CRIU kept
 * each type in its own image (reg-files.img, pipes.img, …) holding the sub-messages directly.
 */
import { FOWN, type FownEntry } from './criu-fown.js';
import {
  INET_SK,
  NETLINK_SK,
  PACKET_SK,
  UNIX_SK,
  type InetSkEntry,
  type NetlinkSkEntry,
  type PacketSockEntry,
  type UnixSkEntry,
} from './criu-socket-messages.js';
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
