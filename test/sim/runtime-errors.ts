/**
 * What container runtimes answer the kubelet when a checkpoint fails, as the kubelet passes it on
 * inside `checkpointing of ns/pod/ctr failed (<text>)`: the gRPC status as the CRI client formats
 * it (`rpc error: code = … desc = …`). The two long texts are CRI-O 1.32's, wrapping runc's
 * output, as a real node answered them (test/fixtures/real-kubelet/16 and 17).
 */

/** Short runtime texts, for `faults.checkpointError`. */
export const RUNTIME_ERRORS = {
  /** a runtime without the CRI checkpoint call (containerd 1.x, CRI-O < 1.25) */
  notImplemented: 'rpc error: code = Unimplemented desc = method CheckpointContainer not implemented',
  /** CRI-O with `enable_criu_support = false`, or no CRIU it can use (server/container_checkpoint.go: a bare error, so gRPC's Unknown) */
  criuSupportOff: 'rpc error: code = Unknown desc = checkpoint/restore support not available',
  /** containerd 2.x without CRIU (or one older than 3.16) */
  criuMissing: (id: string) =>
    `rpc error: code = Unknown desc = CRIU binary not found or too old (<31600). Failed to checkpoint container "${id}": ` +
    'CRIU version check failed: exec: "criu": executable file not found in $PATH',
  deadline: 'rpc error: code = DeadlineExceeded desc = context deadline exceeded',
} as const;

/** Go's strconv.Quote for the characters a log line can hold. */
function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** One line of logrus' TextFormatter (runc's log): `time="…" level=… msg=…`, msg quoted unless it is all [A-Za-z0-9-._/@^+]. */
function logrusLine(time: string, level: string, msg: string): string {
  return `time="${time}" level=${level} msg=${/^[A-Za-z0-9\-._/@^+]+$/.test(msg) ? msg : goQuote(msg)}`;
}

/**
 * CRI-O pauses the container (`runc pause`) before dumping it; a second checkpoint while the
 * first holds it paused finds it not running. Real answer: fixture 16 (three parallel requests:
 * one 200, two of these).
 */
export function pausedByAnotherCheckpoint(containerId: string, time: string): string {
  return (
    `rpc error: code = Unknown desc = failed to pause container "${containerId}" before checkpointing: \`/usr/bin/runc --root /run/runc pause ${containerId}\` failed: ` +
    `${logrusLine(time, 'error', 'container not running')}\n : container process not found`
  );
}

/**
 * runc's quote of CRIU's dump.log when CRIU met an established TCP connection without
 * `tcp-established` (runc logCriuErrors: each `Error ` line with the five before it, `...` for a
 * gap, `---` at the end). Kept verbatim from the real run (fixture 17): the pids, paths and
 * timings are that run's, whatever container the sim is checkpointing.
 */
const TCP_ESTABLISHED_DUMP_LOG = [
  '65:(00.041997) Found mmap_min_addr 0x10000',
  '66:(00.042008) files stat: fs/nr_open 1048576',
  '67:(00.042043) ========================================',
  '68:(00.042062) Dumping processes (pid: 13410 comm: sh)',
  '69:(00.042064) ========================================',
  "70:(00.042077) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
  '...',
  '1180:(00.071006) Dumping path for 1 fd via self 19 [/tmp/.loot]',
  '1181:(00.071012) Only file size could be stored for validation for file /tmp/.loot',
  '1182:(00.071027) 13433 fdinfo 2: pos:                0 flags:                1/0',
  '1183:(00.071043) 13433 fdinfo 4: pos:                0 flags:                2/0',
  '1184:(00.071050) sockets: Searching for socket 0x44878 family 10',
  '1185:(00.071052) Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using --tcp-established option.',
  '1186:(00.071056) ----------------------------------------',
  '1187:(00.071110) Error (criu/cr-dump.c:1698): Dump files (pid: 13433) failed with -1',
  '...',
  '1200:(00.136110) Unfreezing tasks into 1',
  '1201:(00.136134) \tUnseizing 13410 into 1',
  '1202:(00.136144) \tUnseizing 13432 into 1',
  '1203:(00.136148) \tUnseizing 13433 into 1',
  '1204:(00.136152) \tUnseizing 13445 into 1',
  '1205:(00.136186) Error (criu/cr-dump.c:2128): Dumping FAILED.',
  '---',
];

/**
 * CRI-O runs `runc checkpoint` without `--tcp-established` (it never passes it; only CRIU's own
 * configuration — /etc/criu/runc.conf or /etc/criu/default.conf — can turn it on), so a container
 * with a live TCP connection fails with the whole quote of CRIU's log. Real answer: fixture 17.
 */
export function tcpEstablishedMissing(containerId: string, time: string): string {
  const userdata = `/var/lib/containers/storage/overlay-containers/${containerId}/userdata`;
  const args = ['checkpoint', '--file-locks', '--image-path', `${userdata}/checkpoint`, '--work-path', userdata, '--leave-running', containerId];
  const quoted = [
    logrusLine(time, 'warning', `--- Quoting ${goQuote(`${userdata}/dump.log`)}`),
    ...TCP_ESTABLISHED_DUMP_LOG.map((l) => logrusLine(time, 'warning', l)),
    logrusLine(time, 'error', 'criu failed: type DUMP errno 0'),
  ];
  return (
    `rpc error: code = Unknown desc = failed to checkpoint container ${containerId}: running "/usr/bin/runc" [${args.map((a) => goQuote(a)).join(' ')}] failed: ` +
    `\`/usr/bin/runc --root /run/runc ${args.join(' ')}\` failed: ${quoted.join('\n')}\n : exit status 1`
  );
}

/**
 * A time as Go's `time.Now().Format(time.RFC3339)` prints it in a zone: seconds, `Z` at offset 0,
 * else `±HH:MM`. `zone`: `UTC`, a fixed offset `±HH:MM`, or an IANA name (its offset at that instant).
 */
export function rfc3339InZone(ms: number, zone: string): string {
  const offsetMin = offsetMinutes(ms, zone);
  const local = new Date(Math.floor(ms / 1000) * 1000 + offsetMin * 60_000).toISOString().slice(0, 19);
  if (offsetMin === 0) return `${local}Z`;
  const abs = Math.abs(offsetMin);
  return `${local}${offsetMin < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

function offsetMinutes(ms: number, zone: string): number {
  if (zone === 'UTC' || zone === 'Z') return 0;
  const fixed = /^([+-])(\d\d):(\d\d)$/.exec(zone);
  if (fixed) return (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3]));
  // 'GMT+02:00', 'GMT-03:30', or 'GMT' at offset 0
  const name =
    new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' }).formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /^GMT([+-])(\d\d):(\d\d)$/.exec(name);
  return m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
}
