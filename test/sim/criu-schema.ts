/**
 * The proto2 messages of CRIU's process and namespace images, written from the field numbers,
 * types, labels and `(criu)` print options of checkpoint-restore/criu images/*.proto (CRIU 4.2):
 * inventory, pstree, core (+ core-x86, core-aarch64, creds, timer, rlimit, sa, siginfo, rseq), mm,
 * vma, pagemap, fs, stats, seccomp, cgroup, ipc-var, utsns, timens, netdev (netns_entry), sysctl.
 * Field names are the .proto ones, which are also the keys crit prints. File and socket messages
 * are in criu-schema-files.ts. test/sim-tests/criu-golden.test.ts checks every message here
 * against real CRIU 4.2 images byte for byte.
 */
import { enumType, message } from './protobuf.js';

const R = 'required' as const;
const O = 'optional' as const;
const N = 'repeated' as const;
const HEX = { hex: true } as const;

export const E = {
  march: enumType('march', { UNKNOWN: 0, X86_64: 1, ARM: 2, AARCH64: 3, PPC64: 4, S390: 5, MIPS: 6, LOONGARCH64: 7, RISCV64: 8 }),
  lsmtype: enumType('lsmtype', { NO_LSM: 0, SELINUX: 1, APPARMOR: 2 }),
  seccomp_mode: enumType('seccomp_mode', { disabled: 0, strict: 1, filter: 2 }),
  user_x86_regs_mode: enumType('user_x86_regs_mode', { NATIVE: 1, COMPAT: 2 }),
  SysctlType: enumType('SysctlType', { CTL_STR: 5, CTL_32: 6 }),
} as const;

export const TASK_KOBJ_IDS_ENTRY = message('task_kobj_ids_entry', {
  1: ['vm_id', 'uint32', R],
  2: ['files_id', 'uint32', R],
  3: ['fs_id', 'uint32', R],
  4: ['sighand_id', 'uint32', R],
  5: ['pid_ns_id', 'uint32', O],
  6: ['net_ns_id', 'uint32', O],
  7: ['ipc_ns_id', 'uint32', O],
  8: ['uts_ns_id', 'uint32', O],
  9: ['mnt_ns_id', 'uint32', O],
  10: ['user_ns_id', 'uint32', O],
  11: ['cgroup_ns_id', 'uint32', O],
  12: ['time_ns_id', 'uint32', O],
});
export const PLUGINS_ENTRY = message('plugins_entry', {
  12: ['plugins', 'string', N],
});
export const INVENTORY_ENTRY = message('inventory_entry', {
  1: ['img_version', 'uint32', R],
  2: ['fdinfo_per_id', 'bool', O],
  3: ['root_ids', TASK_KOBJ_IDS_ENTRY, O],
  4: ['ns_per_id', 'bool', O],
  5: ['root_cg_set', 'uint32', O],
  6: ['lsmtype', E.lsmtype, O],
  8: ['dump_uptime', 'uint64', O],
  9: ['pre_dump_mode', 'uint32', O],
  10: ['tcp_close', 'bool', O],
  11: ['network_lock_method', 'uint32', O],
  12: ['plugins_entry', PLUGINS_ENTRY, O],
  13: ['dump_criu_run_id', 'string', O],
  14: ['allow_uprobes', 'bool', O],
});
export const PSTREE_ENTRY = message('pstree_entry', {
  1: ['pid', 'uint32', R],
  2: ['ppid', 'uint32', R],
  3: ['pgid', 'uint32', R],
  4: ['sid', 'uint32', R],
  5: ['threads', 'uint32', N],
});
export const USER_X86_REGS_ENTRY = message('user_x86_regs_entry', {
  1: ['r15', 'uint64', R],
  2: ['r14', 'uint64', R],
  3: ['r13', 'uint64', R],
  4: ['r12', 'uint64', R],
  5: ['bp', 'uint64', R],
  6: ['bx', 'uint64', R],
  7: ['r11', 'uint64', R],
  8: ['r10', 'uint64', R],
  9: ['r9', 'uint64', R],
  10: ['r8', 'uint64', R],
  11: ['ax', 'uint64', R],
  12: ['cx', 'uint64', R],
  13: ['dx', 'uint64', R],
  14: ['si', 'uint64', R],
  15: ['di', 'uint64', R],
  16: ['orig_ax', 'uint64', R],
  17: ['ip', 'uint64', R],
  18: ['cs', 'uint64', R],
  19: ['flags', 'uint64', R],
  20: ['sp', 'uint64', R],
  21: ['ss', 'uint64', R],
  22: ['fs_base', 'uint64', R],
  23: ['gs_base', 'uint64', R],
  24: ['ds', 'uint64', R],
  25: ['es', 'uint64', R],
  26: ['fs', 'uint64', R],
  27: ['gs', 'uint64', R],
  28: ['mode', E.user_x86_regs_mode, O],
});
export const USER_X86_CET_ENTRY = message('user_x86_cet_entry', {
  1: ['cet', 'uint64', R, HEX],
  2: ['ssp', 'uint64', R, HEX],
});
export const USER_X86_XSAVE_ENTRY = message('user_x86_xsave_entry', {
  1: ['xstate_bv', 'uint64', R],
  2: ['ymmh_space', 'uint32', N],
  3: ['bndreg_state', 'uint64', N],
  4: ['bndcsr_state', 'uint64', N],
  5: ['opmask_reg', 'uint64', N],
  6: ['zmm_upper', 'uint64', N],
  7: ['hi16_zmm', 'uint64', N],
  8: ['pkru', 'uint32', N],
  9: ['cet', USER_X86_CET_ENTRY, O],
});
export const USER_X86_FPREGS_ENTRY = message('user_x86_fpregs_entry', {
  1: ['cwd', 'uint32', R],
  2: ['swd', 'uint32', R],
  3: ['twd', 'uint32', R],
  4: ['fop', 'uint32', R],
  5: ['rip', 'uint64', R],
  6: ['rdp', 'uint64', R],
  7: ['mxcsr', 'uint32', R],
  8: ['mxcsr_mask', 'uint32', R],
  9: ['st_space', 'uint32', N],
  10: ['xmm_space', 'uint32', N],
  11: ['padding', 'uint32', N],
  13: ['xsave', USER_X86_XSAVE_ENTRY, O],
});
export const USER_DESC_T = message('user_desc_t', {
  1: ['entry_number', 'uint32', R],
  2: ['base_addr', 'uint32', R],
  3: ['limit', 'uint32', R],
  4: ['seg_32bit', 'bool', R],
  5: ['contents_h', 'bool', R],
  6: ['contents_l', 'bool', R],
  7: ['read_exec_only', 'bool', R],
  8: ['limit_in_pages', 'bool', R],
  9: ['seg_not_present', 'bool', R],
  10: ['usable', 'bool', R],
});
export const THREAD_INFO_X86 = message('thread_info_x86', {
  1: ['clear_tid_addr', 'uint64', R, HEX],
  2: ['gpregs', USER_X86_REGS_ENTRY, R, HEX],
  3: ['fpregs', USER_X86_FPREGS_ENTRY, R],
  4: ['tls', USER_DESC_T, N],
});
export const USER_AARCH64_REGS_ENTRY = message('user_aarch64_regs_entry', {
  1: ['regs', 'uint64', N],
  2: ['sp', 'uint64', R],
  3: ['pc', 'uint64', R],
  4: ['pstate', 'uint64', R],
});
export const USER_AARCH64_FPSIMD_CONTEXT_ENTRY = message('user_aarch64_fpsimd_context_entry', {
  1: ['vregs', 'uint64', N],
  2: ['fpsr', 'uint32', R],
  3: ['fpcr', 'uint32', R],
});
export const PAC_ADDRESS_KEYS = message('pac_address_keys', {
  1: ['apiakey_lo', 'uint64', R],
  2: ['apiakey_hi', 'uint64', R],
  3: ['apibkey_lo', 'uint64', R],
  4: ['apibkey_hi', 'uint64', R],
  5: ['apdakey_lo', 'uint64', R],
  6: ['apdakey_hi', 'uint64', R],
  7: ['apdbkey_lo', 'uint64', R],
  8: ['apdbkey_hi', 'uint64', R],
  9: ['pac_enabled_key', 'uint64', R],
});
export const PAC_GENERIC_KEYS = message('pac_generic_keys', {
  1: ['apgakey_lo', 'uint64', R],
  2: ['apgakey_hi', 'uint64', R],
});
export const PAC_KEYS = message('pac_keys', {
  6: ['pac_address_keys', PAC_ADDRESS_KEYS, O],
  7: ['pac_generic_keys', PAC_GENERIC_KEYS, O],
});
export const THREAD_INFO_AARCH64 = message('thread_info_aarch64', {
  1: ['clear_tid_addr', 'uint64', R, HEX],
  2: ['tls', 'uint64', R],
  3: ['gpregs', USER_AARCH64_REGS_ENTRY, R, HEX],
  4: ['fpsimd', USER_AARCH64_FPSIMD_CONTEXT_ENTRY, R],
  5: ['pac_keys', PAC_KEYS, O],
});
export const ITIMER_ENTRY = message('itimer_entry', {
  1: ['isec', 'uint64', R],
  2: ['iusec', 'uint64', R],
  3: ['vsec', 'uint64', R],
  4: ['vusec', 'uint64', R],
});
export const POSIX_TIMER_ENTRY = message('posix_timer_entry', {
  1: ['it_id', 'uint32', R],
  2: ['clock_id', 'uint32', R],
  3: ['si_signo', 'uint32', R],
  4: ['it_sigev_notify', 'uint32', R],
  5: ['sival_ptr', 'uint64', R],
  6: ['overrun', 'uint32', R],
  7: ['isec', 'uint64', R],
  8: ['insec', 'uint64', R],
  9: ['vsec', 'uint64', R],
  10: ['vnsec', 'uint64', R],
  11: ['notify_thread_id', 'int32', O],
});
export const TASK_TIMERS_ENTRY = message('task_timers_entry', {
  1: ['real', ITIMER_ENTRY, R],
  2: ['virt', ITIMER_ENTRY, R],
  3: ['prof', ITIMER_ENTRY, R],
  4: ['posix', POSIX_TIMER_ENTRY, N],
});
export const RLIMIT_ENTRY = message('rlimit_entry', {
  1: ['cur', 'uint64', R],
  2: ['max', 'uint64', R],
});
export const TASK_RLIMITS_ENTRY = message('task_rlimits_entry', {
  1: ['rlimits', RLIMIT_ENTRY, N],
});
export const SIGINFO_ENTRY = message('siginfo_entry', {
  1: ['siginfo', 'bytes', R],
});
export const SIGNAL_QUEUE_ENTRY = message('signal_queue_entry', {
  1: ['signals', SIGINFO_ENTRY, N],
});
export const SA_ENTRY = message('sa_entry', {
  1: ['sigaction', 'uint64', R, HEX],
  2: ['flags', 'uint64', R, HEX],
  3: ['restorer', 'uint64', R, HEX],
  4: ['mask', 'uint64', R, HEX],
  5: ['compat_sigaction', 'bool', O],
  6: ['mask_extended', 'uint64', O, HEX],
});
export const TASK_CORE_ENTRY = message('task_core_entry', {
  1: ['task_state', 'uint32', R, { dict: 'gen' }],
  2: ['exit_code', 'uint32', R],
  3: ['personality', 'uint32', R],
  4: ['flags', 'uint32', R],
  5: ['blk_sigset', 'uint64', R, HEX],
  6: ['comm', 'string', R],
  7: ['timers', TASK_TIMERS_ENTRY, O],
  8: ['rlimits', TASK_RLIMITS_ENTRY, O],
  9: ['cg_set', 'uint32', O],
  10: ['signals_s', SIGNAL_QUEUE_ENTRY, O],
  11: ['old_seccomp_mode', E.seccomp_mode, O],
  12: ['old_seccomp_filter', 'uint32', O],
  13: ['loginuid', 'uint32', O],
  14: ['oom_score_adj', 'int32', O],
  15: ['sigactions', SA_ENTRY, N],
  18: ['child_subreaper', 'bool', O],
  20: ['blk_sigset_extended', 'uint64', O, HEX],
  21: ['stop_signo', 'uint32', O],
  22: ['membarrier_registration_mask', 'uint32', O, HEX],
});
export const THREAD_SAS_ENTRY = message('thread_sas_entry', {
  1: ['ss_sp', 'uint64', R],
  2: ['ss_size', 'uint64', R],
  3: ['ss_flags', 'uint32', R],
});
export const CREDS_ENTRY = message('creds_entry', {
  1: ['uid', 'uint32', R],
  2: ['gid', 'uint32', R],
  3: ['euid', 'uint32', R],
  4: ['egid', 'uint32', R],
  5: ['suid', 'uint32', R],
  6: ['sgid', 'uint32', R],
  7: ['fsuid', 'uint32', R],
  8: ['fsgid', 'uint32', R],
  9: ['cap_inh', 'uint32', N],
  10: ['cap_prm', 'uint32', N],
  11: ['cap_eff', 'uint32', N],
  12: ['cap_bnd', 'uint32', N],
  13: ['secbits', 'uint32', R],
  14: ['groups', 'uint32', N],
  15: ['lsm_profile', 'string', O],
  16: ['lsm_sockcreate', 'string', O],
  17: ['apparmor_data', 'bytes', O],
  18: ['no_new_privs', 'uint32', O],
  19: ['cap_amb', 'uint32', N],
});
export const RSEQ_ENTRY = message('rseq_entry', {
  1: ['rseq_abi_pointer', 'uint64', R],
  2: ['rseq_abi_size', 'uint32', R],
  3: ['signature', 'uint32', R],
  4: ['rseq_cs_pointer', 'uint64', O],
});
export const THREAD_CORE_ENTRY = message('thread_core_entry', {
  1: ['futex_rla', 'uint64', R],
  2: ['futex_rla_len', 'uint32', R],
  3: ['sched_nice', 'sint32', O],
  4: ['sched_policy', 'uint32', O],
  5: ['sched_prio', 'uint32', O],
  6: ['blk_sigset', 'uint64', O],
  7: ['sas', THREAD_SAS_ENTRY, O],
  8: ['pdeath_sig', 'uint32', O],
  9: ['signals_p', SIGNAL_QUEUE_ENTRY, O],
  10: ['creds', CREDS_ENTRY, O],
  11: ['seccomp_mode', E.seccomp_mode, O],
  12: ['seccomp_filter', 'uint32', O],
  13: ['comm', 'string', O],
  14: ['blk_sigset_extended', 'uint64', O],
  15: ['rseq_entry', RSEQ_ENTRY, O],
  16: ['cg_set', 'uint32', O],
});
/** core.proto core_entry: only the x86-64 and aarch64 thread infos (2, 8) are declared; other architectures' are not written here. */
export const CORE_ENTRY = message('core_entry', {
  1: ['mtype', E.march, R],
  2: ['thread_info', THREAD_INFO_X86, O],
  3: ['tc', TASK_CORE_ENTRY, O],
  4: ['ids', TASK_KOBJ_IDS_ENTRY, O],
  5: ['thread_core', THREAD_CORE_ENTRY, O],
  8: ['ti_aarch64', THREAD_INFO_AARCH64, O],
});
export const VMA_ENTRY = message('vma_entry', {
  1: ['start', 'uint64', R, HEX],
  2: ['end', 'uint64', R, HEX],
  3: ['pgoff', 'uint64', R],
  4: ['shmid', 'uint64', R],
  5: ['prot', 'uint32', R, { flags: 'mmap.prot' }],
  6: ['flags', 'uint32', R, { flags: 'mmap.flags' }],
  7: ['status', 'uint32', R, { flags: 'mmap.status' }],
  8: ['fd', 'sint64', R],
  9: ['madv', 'uint64', O, HEX],
  10: ['fdflags', 'uint32', O, HEX],
});
export const AIO_RING_ENTRY = message('aio_ring_entry', {
  1: ['id', 'uint64', R],
  2: ['nr_req', 'uint32', R],
  3: ['ring_len', 'uint32', R],
});
export const MM_ENTRY = message('mm_entry', {
  1: ['mm_start_code', 'uint64', R, HEX],
  2: ['mm_end_code', 'uint64', R, HEX],
  3: ['mm_start_data', 'uint64', R, HEX],
  4: ['mm_end_data', 'uint64', R, HEX],
  5: ['mm_start_stack', 'uint64', R, HEX],
  6: ['mm_start_brk', 'uint64', R, HEX],
  7: ['mm_brk', 'uint64', R, HEX],
  8: ['mm_arg_start', 'uint64', R, HEX],
  9: ['mm_arg_end', 'uint64', R, HEX],
  10: ['mm_env_start', 'uint64', R, HEX],
  11: ['mm_env_end', 'uint64', R, HEX],
  12: ['exe_file_id', 'uint32', R],
  13: ['mm_saved_auxv', 'uint64', N],
  14: ['vmas', VMA_ENTRY, N],
  15: ['dumpable', 'int32', O],
  16: ['aios', AIO_RING_ENTRY, N],
  17: ['thp_disabled', 'bool', O],
});
export const PAGEMAP_HEAD = message('pagemap_head', {
  1: ['pages_id', 'uint32', R],
});
export const PAGEMAP_ENTRY = message('pagemap_entry', {
  1: ['vaddr', 'uint64', R, HEX],
  2: ['compat_nr_pages', 'uint32', R],
  3: ['in_parent', 'bool', O],
  4: ['flags', 'uint32', O, { flags: 'pmap.flags' }],
  5: ['nr_pages', 'uint64', O],
});
export const FS_ENTRY = message('fs_entry', {
  1: ['cwd_id', 'uint32', R],
  2: ['root_id', 'uint32', R],
  3: ['umask', 'uint32', O],
});
export const DUMP_STATS_ENTRY = message('dump_stats_entry', {
  1: ['freezing_time', 'uint32', R],
  2: ['frozen_time', 'uint32', R],
  3: ['memdump_time', 'uint32', R],
  4: ['memwrite_time', 'uint32', R],
  5: ['pages_scanned', 'uint64', R],
  6: ['pages_skipped_parent', 'uint64', R],
  7: ['pages_written', 'uint64', R],
  8: ['irmap_resolve', 'uint32', O],
  9: ['pages_lazy', 'uint64', R],
  10: ['page_pipes', 'uint64', O],
  11: ['page_pipe_bufs', 'uint64', O],
  12: ['shpages_scanned', 'uint64', O],
  13: ['shpages_skipped_parent', 'uint64', O],
  14: ['shpages_written', 'uint64', O],
});
export const RESTORE_STATS_ENTRY = message('restore_stats_entry', {
  1: ['pages_compared', 'uint64', R],
  2: ['pages_skipped_cow', 'uint64', R],
  3: ['forking_time', 'uint32', R],
  4: ['restore_time', 'uint32', R],
  5: ['pages_restored', 'uint64', O],
});
export const STATS_ENTRY = message('stats_entry', {
  1: ['dump', DUMP_STATS_ENTRY, O],
  2: ['restore', RESTORE_STATS_ENTRY, O],
});
export const SECCOMP_FILTER = message('seccomp_filter', {
  1: ['filter', 'bytes', R],
  2: ['prev', 'uint32', O],
  3: ['flags', 'uint32', O],
});
export const SECCOMP_ENTRY = message('seccomp_entry', {
  1: ['seccomp_filters', SECCOMP_FILTER, N],
});
export const CG_MEMBER_ENTRY = message('cg_member_entry', {
  1: ['name', 'string', R],
  2: ['path', 'string', R],
  3: ['cgns_prefix', 'uint32', O],
});
export const CG_SET_ENTRY = message('cg_set_entry', {
  1: ['id', 'uint32', R],
  2: ['ctls', CG_MEMBER_ENTRY, N],
});
export const CGROUP_PERMS = message('cgroup_perms', {
  1: ['mode', 'uint32', R],
  2: ['uid', 'uint32', R],
  3: ['gid', 'uint32', R],
});
export const CGROUP_PROP_ENTRY = message('cgroup_prop_entry', {
  1: ['name', 'string', R],
  2: ['value', 'string', R],
  3: ['perms', CGROUP_PERMS, O],
});
export const CGROUP_DIR_ENTRY = message('cgroup_dir_entry', {
  1: ['dir_name', 'string', R],
  3: ['properties', CGROUP_PROP_ENTRY, N],
  4: ['dir_perms', CGROUP_PERMS, O],
});
CGROUP_DIR_ENTRY.fields[2] = ['children', CGROUP_DIR_ENTRY, N]; // a tree: the only recursive message
export const CG_CONTROLLER_ENTRY = message('cg_controller_entry', {
  1: ['cnames', 'string', N],
  2: ['dirs', CGROUP_DIR_ENTRY, N],
  3: ['is_threaded', 'bool', O],
});
export const CGROUP_ENTRY = message('cgroup_entry', {
  1: ['sets', CG_SET_ENTRY, N],
  2: ['controllers', CG_CONTROLLER_ENTRY, N],
});
export const IPC_VAR_ENTRY = message('ipc_var_entry', {
  1: ['sem_ctls', 'uint32', N],
  2: ['msg_ctlmax', 'uint32', R],
  3: ['msg_ctlmnb', 'uint32', R],
  4: ['msg_ctlmni', 'uint32', R],
  5: ['auto_msgmni', 'uint32', R],
  6: ['shm_ctlmax', 'uint64', R],
  7: ['shm_ctlall', 'uint64', R],
  8: ['shm_ctlmni', 'uint32', R],
  9: ['shm_rmid_forced', 'uint32', R],
  10: ['mq_queues_max', 'uint32', R],
  11: ['mq_msg_max', 'uint32', R],
  12: ['mq_msgsize_max', 'uint32', R],
  13: ['mq_msg_default', 'uint32', O],
  14: ['mq_msgsize_default', 'uint32', O],
  15: ['msg_next_id', 'uint32', O],
  16: ['sem_next_id', 'uint32', O],
  17: ['shm_next_id', 'uint32', O],
});
export const UTSNS_ENTRY = message('utsns_entry', {
  1: ['nodename', 'string', R],
  2: ['domainname', 'string', R],
});
export const TIMESPEC = message('timespec', {
  1: ['tv_sec', 'uint64', R],
  2: ['tv_nsec', 'uint64', R],
});
export const TIMENS_ENTRY = message('timens_entry', {
  1: ['monotonic', TIMESPEC, R],
  2: ['boottime', TIMESPEC, R],
});
export const SYSCTL_ENTRY = message('sysctl_entry', {
  1: ['type', E.SysctlType, R],
  2: ['iarg', 'int32', O],
  3: ['sarg', 'string', O],
});
export const NETNS_ID = message('netns_id', {
  1: ['target_ns_id', 'uint32', R],
  2: ['netnsid_value', 'int32', R],
});
export const NETNS_ENTRY = message('netns_entry', {
  1: ['def_conf', 'int32', N],
  2: ['all_conf', 'int32', N],
  3: ['def_conf4', SYSCTL_ENTRY, N],
  4: ['all_conf4', SYSCTL_ENTRY, N],
  5: ['def_conf6', SYSCTL_ENTRY, N],
  6: ['all_conf6', SYSCTL_ENTRY, N],
  7: ['nsids', NETNS_ID, N],
  8: ['ext_key', 'string', O],
  9: ['unix_conf', SYSCTL_ENTRY, N],
  10: ['ipv4_sysctl', SYSCTL_ENTRY, N],
});
