/**
 * dump.log: CRIU's log of the dump, in its format — `(SS.uuuuuu) message`, seconds since CRIU
 * started, and the parasite's own untimed `pie: <pid>: message` lines — with the milestones a real CRIU 4.2 log of a container checkpoint shows (run ids, the
 * version, freezing the cgroup, seizing each task, collecting the sockets, per task "Dumping task",
 * pages, TCP repair of established connections, core, mm, cwd/root, namespaces, cgroups,
 * inventory, unfreezing, stats). A real log is 70–100 KiB of debug lines; this keeps one to three per
 * step, with the host pids, socket inodes and cgroup path of this dump.
 */
import { cgroupPath, type ContainerIdentity } from './container-paths.js';
import type { FileSpec } from './criu-files.js';

const DEVICES = ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm', 'c 136:* rwm'];

export interface LoggedTask {
  pid: number;
  hostPid: number;
  comm: string;
  cwdId: number;
  rootId: number;
  fds: { fd: number; spec: FileSpec }[];
}

export function criuDumpLog(d: { runIds: [string, string]; container: ContainerIdentity; now: number; tasks: LoggedTask[] }): Buffer {
  const lines: string[] = [];
  let us = 0;
  const log = (msg: string, step = 17) => {
    us += step;
    lines.push(`(${(us / 1e6).toFixed(6).padStart(9, '0')}) ${msg}`);
  };
  const init = d.tasks[0]!;
  const hex = (n: number) => n.toString(16);
  const sockets = d.tasks
    .flatMap((t) => t.fds.map((f) => f.spec))
    .filter((s, i, all): s is Extract<FileSpec, { kind: 'tcp' }> => s.kind === 'tcp' && all.indexOf(s) === i);
  const cg = cgroupPath(d.container);

  lines.push('(00.000000) Unable to get $HOME directory, local configuration file will not be used.');
  lines.push(`(00.000000) CRIU run id = ${d.runIds[0]}`);
  lines.push(`(00.000000) CRIU run id = ${d.runIds[1]}`);
  log('Would overwrite RPC settings with values from /etc/criu/runc.conf');
  log('Version: 4.2 (gitid 0)');
  log('Running on worker Linux 6.8.0-49-generic #49-Ubuntu SMP PREEMPT_DYNAMIC x86_64');
  log('File /run/criu.kdat does not exist', 18);
  log('PAGEMAP_SCAN is supported', 5_400);
  log('Pagemap is fully functional');
  log('Found task size of 7ffffffff000', 150);
  log('Will dump/restore TCP connections', 37_900);
  log('========================================');
  log(`Dumping processes (pid: ${init.hostPid} comm: ${init.comm})`);
  log('========================================');
  log('Detected cgroup V1 freezer', 890);
  log(`freezing cgroup /sys/fs/cgroup/freezer${cg}: 100 x 100ms attempts, timeout: 10s`);
  log('freezer.state=FROZEN', 15);
  for (const t of d.tasks) {
    log(`Seized task ${t.hostPid}, state 1`, 60);
    log(`seccomp: Collected tid_real ${t.hostPid} mode 0`, 4);
  }
  log(`net: Collecting netns ${10}/${init.hostPid}`, 5_600);
  for (const s of sockets) {
    log(
      `inet: \tCollected: ino  0x${hex(s.ino)} family AF_INET    type SOCK_STREAM    port ${String(s.src.port).padStart(8)} state TCP_ESTABLISHED  src_addr ${s.src.ip}`,
      1_900,
    );
  }
  log(`Collecting pidns 9/${init.hostPid}`, 120);
  for (const t of d.tasks) {
    log('========================================', 130);
    log(`Dumping task (pid: ${t.hostPid} comm: ${t.comm})`);
    log('========================================');
    log(`Collecting mappings (pid: ${t.hostPid})`, 40);
    log(`Collecting fds (pid: ${t.hostPid})`, 300);
    log(`Putting tsock into pid ${t.hostPid}`, 60);
    lines.push(`pie: ${t.pid}: Running daemon thread leader`, `pie: ${t.pid}: __sent ack msg: 2 2 0`, `pie: ${t.pid}: Daemon waits for command`);
    log('Wait for parasite being daemonized...', 97);
    log(`Parasite ${t.hostPid} has been switched to daemon mode`, 30);
    log(`Dumping opened files (pid: ${t.hostPid})`, 800);
    for (const f of t.fds) {
      if (f.spec.kind !== 'tcp' || t.fds.findIndex((x) => x.spec === f.spec) !== t.fds.indexOf(f)) continue;
      log(`inet: Dumping inet socket at ${f.fd}`, 120);
      log('tcp: Dumping TCP connection', 8);
      log(`tcp: \tTurning repair on for socket ${hex(f.spec.ino)}`);
      log('tcp: Done', 64);
    }
    log(`Dumping pages (type: 59 pid: ${t.hostPid})`, 140);
    lines.push(`pie: ${t.pid}: __fetched msg: 59 0 0`, `pie: ${t.pid}: __sent ack msg: 59 59 0`, `pie: ${t.pid}: Daemon waits for command`);
    log(`Dumping core (pid: ${t.hostPid})`, 1_480);
    if (t === init) {
      // a property value with newlines is logged as it is, over several lines
      log(`cg: Dumping value 2 from /proc/self/fd/19${cg}/cpu.shares`, 9_800);
      log(`cg: Dumping value ${DEVICES.join('\n')} from /proc/self/fd/19${cg}/devices.list`, 210);
    }
    log(`Dumping mm (pid: ${t.hostPid})`, 14_100);
    log(`Dumping task cwd id 0x${hex(t.cwdId)} root id 0x${hex(t.rootId)}`, 230);
  }
  log('Dumping namespaces', 2_300);
  log('Namespaces dump complete', 41_000);
  log('cg: Dumping 1 sets', 125);
  log(`cg:    \`- Dumping freezer of ${cg}`);
  log('cg: Writing CG image', 80);
  log('unix: Dumping external sockets', 53);
  log('Writing image inventory (version 1)');
  log('Running post-dump scripts', 114);
  log('net: Unlock network', 200);
  log('Unfreezing tasks into 1', 72_800);
  for (const t of d.tasks) log(`\tUnseizing ${t.hostPid} into 1`, 12);
  log('Writing stats', 23);
  log('Dumping finished successfully', 72);
  return Buffer.from(lines.join('\n') + '\n');
}
