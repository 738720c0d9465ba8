/**
 * The CRIU messages of a dump's namespaces that analysis reads, written from the field numbers and
 * types of checkpoint-restore/criu images/mnt.proto and netdev.proto (+ sysctl.proto).
 */
import type { MessageSchema } from './proto-reader.js';

const R = 'required' as const;
const N = 'repeated' as const;

/** mnt.proto enum fstype; crit prints the number. */
export const FSTYPES: Readonly<Record<number, string>> = {
  0: 'unsupported',
  1: 'proc',
  2: 'sysfs',
  3: 'devtmpfs',
  4: 'binfmt_misc',
  5: 'tmpfs',
  6: 'devpts',
  7: 'simfs',
  8: 'pstore',
  9: 'securityfs',
  10: 'fusectl',
  11: 'debugfs',
  12: 'cgroup',
  13: 'aufs',
  14: 'mqueue',
  15: 'fuse',
  16: 'auto',
  17: 'overlay',
  18: 'autofs',
  19: 'tracefs',
  23: 'cgroup2',
};

/**
 * mountpoints-<mnt ns id>.img: one mnt_entry per mount of the container's mount namespace. A bind
 * mount from the host (`/etc/hosts`, volumes) is `ext_mount` / has an `ext_key`, fstype 0 when
 * CRIU does not know the filesystem (it then restores it as the runtime says).
 */
export const MNT: MessageSchema = {
  name: 'mnt_entry',
  fields: {
    1: ['fstype', 'uint32', R],
    2: ['mnt_id', 'uint32', R],
    3: ['root_dev', 'uint32', R],
    4: ['parent_mnt_id', 'uint32', R],
    5: ['flags', 'uint32', R],
    6: ['root', 'string', R],
    7: ['mountpoint', 'string', R],
    8: ['source', 'string', R],
    9: ['options', 'string', R],
    10: ['shared_id', 'uint32'],
    11: ['master_id', 'uint32'],
    12: ['with_plugin', 'bool'],
    13: ['ext_mount', 'bool'],
    14: ['fsname', 'string'],
    15: ['internal_sharing', 'bool'],
    16: ['deleted', 'bool'],
    17: ['sb_flags', 'uint32'],
    18: ['ext_key', 'string'],
  },
};
export interface MntEntry {
  fstype: number;
  mnt_id: number;
  root_dev: number;
  parent_mnt_id: number;
  flags: number;
  root: string;
  mountpoint: string;
  source: string;
  options: string;
  shared_id?: number;
  master_id?: number;
  with_plugin?: boolean;
  ext_mount?: boolean;
  fsname?: string;
  internal_sharing?: boolean;
  deleted?: boolean;
  sb_flags?: number;
  ext_key?: string;
}

const SYSCTL: MessageSchema = { name: 'sysctl_entry', fields: { 1: ['type', 'uint32', R], 2: ['iarg', 'int32'], 3: ['sarg', 'string'] } };
const NETNS_ID: MessageSchema = { name: 'netns_id', fields: { 1: ['target_ns_id', 'uint32', R], 2: ['netnsid_value', 'int32', R] } };

/** netns-<id>.img: the network namespace's sysctls; `ext_key` when the namespace was external (a pod's, joined from the sandbox). */
export const NETNS: MessageSchema = {
  name: 'netns_entry',
  fields: {
    1: ['def_conf', 'int32', N],
    2: ['all_conf', 'int32', N],
    3: ['def_conf4', SYSCTL, N],
    4: ['all_conf4', SYSCTL, N],
    5: ['def_conf6', SYSCTL, N],
    6: ['all_conf6', SYSCTL, N],
    7: ['nsids', NETNS_ID, N],
    8: ['ext_key', 'string'],
    9: ['unix_conf', SYSCTL, N],
    10: ['ipv4_sysctl', SYSCTL, N],
  },
};
export interface NetnsEntry {
  ext_key?: string;
  nsids?: { target_ns_id: number; netnsid_value: number }[];
}
