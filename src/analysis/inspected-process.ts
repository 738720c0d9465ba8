/**
 * A process as the CRIU reader joined it (criu-model.ts) → as `amber inspect` shows it: its
 * command line and environment from memory, open files and sockets per descriptor.
 */
import type { CriuFd, CriuProcess } from './criu/criu-model.js';
import type { InspectedFile, InspectedProcess, InspectedSocket } from './inspection.js';
import type { ProcessStrings } from './criu/process-memory.js';

const octal = (mode: number | undefined) => (mode === undefined ? undefined : (mode & 0o7777).toString(8).padStart(4, '0'));
const hostPort = (addr: string | undefined, port: number | undefined, family: string | undefined) =>
  addr === undefined ? undefined : `${family === 'ipv6' ? `[${addr}]` : addr}:${port ?? 0}`;
const unspecified = (addr: string | undefined) => addr === undefined || addr === '0.0.0.0' || addr === '::';

export function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function inspectedFile({ fd, file: f }: CriuFd): InspectedFile {
  return compact({
    fd,
    kind: f.kind === 'other' && f.type ? f.type.toLowerCase() : f.kind,
    path: f.path,
    mode: octal(f.mode),
    flags: f.flags,
    pipeId: f.pipeId,
  });
}

function inspectedSocket({ fd, file: f }: CriuFd): InspectedSocket {
  const s = f.socket;
  if (!s) return { fd, kind: 'other', inode: 0 };
  const connected = !(s.remotePort === 0 || s.remotePort === undefined) || !unspecified(s.remoteAddress);
  return compact({
    fd,
    kind: s.kind,
    family: s.family,
    protocol: s.protocol,
    state: s.state,
    type: s.type,
    local: s.kind === 'inet' ? hostPort(s.localAddress, s.localPort, s.family) : undefined,
    remote: s.kind === 'inet' && connected ? hostPort(s.remoteAddress, s.remotePort, s.family) : undefined,
    path: s.path ?? f.path,
    inode: s.inode,
    peer: s.peer,
    sendBuffer: s.sendBufferBytes,
    recvBuffer: s.recvBufferBytes,
    recvQueue: s.inQueueBytes,
    sendQueue: s.outQueueBytes,
    unsentQueue: s.unsentQueueBytes,
  });
}

export function inspectedProcess(p: CriuProcess, strings: ProcessStrings | undefined): InspectedProcess {
  return compact({
    pid: p.pid,
    ppid: p.ppid,
    comm: p.comm ?? '',
    threads: p.threads,
    state: p.state,
    uid: p.creds?.uid,
    exe: p.exe,
    cmdline: strings?.argv ?? [],
    env: strings?.env ?? [],
    cwd: p.cwd,
    root: p.root,
    files: p.fds.filter((d) => d.file.kind !== 'socket').map(inspectedFile),
    sockets: p.fds.filter((d) => d.file.kind === 'socket').map(inspectedSocket),
  });
}
