/**
 * The proto2 messages of CRIU's file, socket and mount images (files.img, fdinfo-N, tcp-stream-X,
 * pipes-data, mountpoints-N), written from checkpoint-restore/criu images/*.proto (fdinfo, fown,
 * regfile, pipe, fifo, sk-inet, sk-opts, sk-unix, tcp-stream, pipe-data, mnt) for CRIU 4.2.
 * file_entry declares the variants a container checkpoint of ours holds (reg, isk, usk, fifo, pipe).
 */
import { enumType, message } from './protobuf.js';

const R = 'required' as const;
const O = 'optional' as const;
const N = 'repeated' as const;
const HEX = { hex: true } as const;

export const FE = {
  fd_types: enumType('fd_types', {
    UND: 0,
    REG: 1,
    PIPE: 2,
    FIFO: 3,
    INETSK: 4,
    UNIXSK: 5,
    EVENTFD: 6,
    EVENTPOLL: 7,
    INOTIFY: 8,
    SIGNALFD: 9,
    PACKETSK: 10,
    TTY: 11,
    FANOTIFY: 12,
    NETLINKSK: 13,
    NS: 14,
    TUNF: 15,
    EXT: 16,
    TIMERFD: 17,
    MEMFD: 18,
    BPFMAP: 19,
    PIDFD: 20,
    CTL_TTY: 65534,
    AUTOFS_PIPE: 65535,
  }),
  sk_shutdown: enumType('sk_shutdown', { NONE: 0, READ: 1, WRITE: 2, BOTH: 3 }),
} as const;

export const FOWN_ENTRY = message('fown_entry', {
  1: ['uid', 'uint32', R],
  2: ['euid', 'uint32', R],
  3: ['signum', 'uint32', R],
  4: ['pid_type', 'uint32', R],
  5: ['pid', 'uint32', R],
});
export const FDINFO_ENTRY = message('fdinfo_entry', {
  1: ['id', 'uint32', R],
  2: ['flags', 'uint32', R],
  3: ['type', FE.fd_types, R],
  4: ['fd', 'uint32', R],
  5: ['xattr_security_selinux', 'string', O],
});
export const FILE_PERMS_ENTRY = message('file_perms_entry', {
  1: ['mode', 'uint32', R],
  2: ['uid', 'uint32', R],
  3: ['gid', 'uint32', R],
});
export const SK_OPTS_ENTRY = message('sk_opts_entry', {
  1: ['so_sndbuf', 'uint32', R],
  2: ['so_rcvbuf', 'uint32', R],
  3: ['so_snd_tmo_sec', 'uint64', R],
  4: ['so_snd_tmo_usec', 'uint64', R],
  5: ['so_rcv_tmo_sec', 'uint64', R],
  6: ['so_rcv_tmo_usec', 'uint64', R],
  7: ['reuseaddr', 'bool', O],
  8: ['so_priority', 'uint32', O],
  9: ['so_rcvlowat', 'uint32', O],
  10: ['so_mark', 'uint32', O],
  11: ['so_passcred', 'bool', O],
  12: ['so_passsec', 'bool', O],
  13: ['so_dontroute', 'bool', O],
  14: ['so_no_check', 'bool', O],
  15: ['so_bound_dev', 'string', O],
  16: ['so_filter', 'fixed64', N],
  17: ['so_reuseport', 'bool', O],
  18: ['so_broadcast', 'bool', O],
  19: ['so_keepalive', 'bool', O],
  20: ['tcp_keepcnt', 'uint32', O],
  21: ['tcp_keepidle', 'uint32', O],
  22: ['tcp_keepintvl', 'uint32', O],
  23: ['so_oobinline', 'uint32', O],
  24: ['so_linger', 'uint32', O],
  25: ['so_buf_lock', 'uint32', O],
});
export const IP_OPTS_RAW_ENTRY = message('ip_opts_raw_entry', {
  1: ['hdrincl', 'bool', O],
  2: ['nodefrag', 'bool', O],
  3: ['checksum', 'bool', O],
  4: ['icmpv_filter', 'uint32', N],
});
export const IP_OPTS_ENTRY = message('ip_opts_entry', {
  1: ['freebind', 'bool', O],
  4: ['raw', IP_OPTS_RAW_ENTRY, O],
  5: ['pktinfo', 'bool', O],
  6: ['tos', 'uint32', O],
  7: ['ttl', 'uint32', O],
});
export const TCP_OPTS_ENTRY = message('tcp_opts_entry', {
  1: ['cork', 'bool', O],
  2: ['nodelay', 'bool', O],
  3: ['keepcnt', 'uint32', O],
  4: ['keepidle', 'uint32', O],
  5: ['keepintvl', 'uint32', O],
});
export const INET_SK_ENTRY = message('inet_sk_entry', {
  1: ['id', 'uint32', R],
  2: ['ino', 'uint32', R],
  3: ['family', 'uint32', R, { dict: 'sk' }],
  4: ['type', 'uint32', R, { dict: 'sk' }],
  5: ['proto', 'uint32', R, { dict: 'sk' }],
  6: ['state', 'uint32', R, { dict: 'sk' }],
  7: ['src_port', 'uint32', R],
  8: ['dst_port', 'uint32', R],
  9: ['flags', 'uint32', R, HEX],
  10: ['backlog', 'uint32', R],
  11: ['src_addr', 'uint32', N, { ipadd: true }],
  12: ['dst_addr', 'uint32', N, { ipadd: true }],
  13: ['fown', FOWN_ENTRY, R],
  14: ['opts', SK_OPTS_ENTRY, R],
  15: ['v6only', 'bool', O],
  16: ['ip_opts', IP_OPTS_ENTRY, O],
  17: ['ifname', 'string', O],
  18: ['ns_id', 'uint32', O],
  19: ['shutdown', FE.sk_shutdown, O],
  20: ['tcp_opts', TCP_OPTS_ENTRY, O],
});
export const UNIX_SK_ENTRY = message('unix_sk_entry', {
  1: ['id', 'uint32', R],
  2: ['ino', 'uint32', R],
  3: ['type', 'uint32', R, { dict: 'sk' }],
  4: ['state', 'uint32', R, { dict: 'sk' }],
  5: ['flags', 'uint32', R, HEX],
  6: ['uflags', 'uint32', R, HEX],
  7: ['backlog', 'uint32', R],
  8: ['peer', 'uint32', R],
  9: ['fown', FOWN_ENTRY, R],
  10: ['opts', SK_OPTS_ENTRY, R],
  11: ['name', 'bytes', R, { conv: 'unix_name' }],
  12: ['shutdown', FE.sk_shutdown, O],
  13: ['file_perms', FILE_PERMS_ENTRY, O],
  14: ['name_dir', 'string', O],
  15: ['deleted', 'bool', O],
  16: ['ns_id', 'uint32', O],
  17: ['mnt_id', 'sint32', O],
});
export const REG_FILE_ENTRY = message('reg_file_entry', {
  1: ['id', 'uint32', R],
  2: ['flags', 'uint32', R, { flags: 'rfile.flags' }],
  3: ['pos', 'uint64', R],
  5: ['fown', FOWN_ENTRY, R],
  6: ['name', 'string', R],
  7: ['mnt_id', 'sint32', O],
  8: ['size', 'uint64', O],
  9: ['ext', 'bool', O],
  10: ['mode', 'uint32', O],
  11: ['build_id', 'uint32', N],
  12: ['checksum', 'uint32', O],
  13: ['checksum_config', 'uint32', O],
  14: ['checksum_parameter', 'uint32', O],
});
export const PIPE_ENTRY = message('pipe_entry', {
  1: ['id', 'uint32', R],
  2: ['pipe_id', 'uint32', R],
  3: ['flags', 'uint32', R, HEX],
  4: ['fown', FOWN_ENTRY, R],
});
export const FIFO_ENTRY = message('fifo_entry', {
  1: ['id', 'uint32', R],
  2: ['pipe_id', 'uint32', R],
  3: ['regf_id', 'uint32', O],
});
export const TCP_STREAM_ENTRY = message('tcp_stream_entry', {
  1: ['inq_len', 'uint32', R],
  2: ['inq_seq', 'uint32', R],
  3: ['outq_len', 'uint32', R],
  4: ['outq_seq', 'uint32', R],
  5: ['opt_mask', 'uint32', R, HEX],
  6: ['snd_wscale', 'uint32', R],
  7: ['mss_clamp', 'uint32', R],
  8: ['rcv_wscale', 'uint32', O],
  9: ['timestamp', 'uint32', O],
  10: ['cork', 'bool', O],
  11: ['nodelay', 'bool', O],
  12: ['unsq_len', 'uint32', O],
  13: ['snd_wl1', 'uint32', O],
  14: ['snd_wnd', 'uint32', O],
  15: ['max_window', 'uint32', O],
  16: ['rcv_wnd', 'uint32', O],
  17: ['rcv_wup', 'uint32', O],
});
export const PIPE_DATA_ENTRY = message('pipe_data_entry', {
  1: ['pipe_id', 'uint32', R],
  2: ['bytes', 'uint32', R],
  3: ['size', 'uint32', O],
});
export const MNT_ENTRY = message('mnt_entry', {
  1: ['fstype', 'uint32', R],
  2: ['mnt_id', 'uint32', R],
  3: ['root_dev', 'uint32', R, { dev: true }],
  4: ['parent_mnt_id', 'uint32', R],
  5: ['flags', 'uint32', R, HEX],
  6: ['root', 'string', R],
  7: ['mountpoint', 'string', R],
  8: ['source', 'string', R],
  9: ['options', 'string', R],
  10: ['shared_id', 'uint32', O],
  11: ['master_id', 'uint32', O],
  12: ['with_plugin', 'bool', O],
  13: ['ext_mount', 'bool', O],
  14: ['fsname', 'string', O],
  15: ['internal_sharing', 'bool', O],
  16: ['deleted', 'bool', O],
  17: ['sb_flags', 'uint32', O, HEX],
  18: ['ext_key', 'string', O],
});
export const FILE_ENTRY = message('file_entry', {
  1: ['type', FE.fd_types, R],
  2: ['id', 'uint32', R],
  3: ['reg', REG_FILE_ENTRY, O],
  4: ['isk', INET_SK_ENTRY, O],
  16: ['usk', UNIX_SK_ENTRY, O],
  17: ['fifo', FIFO_ENTRY, O],
  18: ['pipe', PIPE_ENTRY, O],
});
