import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const AMBER_BIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface AmberProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves with the first stdout JSON log line whose msg matches. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited(): Promise<number | null>;
}

/**
 * Runs the built `amber` binary (npm test builds first) as a real child process.
 *
 * Started through `env -u NODE_OPTIONS`, so without tap's coverage instrumentation: tap's
 * processinfo hooks `spawn` and puts its module loader back into NODE_OPTIONS whatever env we
 * pass, and on Node 20 that loader runs off-thread for every module, which makes a child start
 * 3–5× slower (`serve`: ~5 s instead of ~1.5 s). The coverage floor is held by the in-process
 * tests; these ones prove the process boundary (flags, env, exit codes, signals).
 */
export function spawnAmber(args: readonly string[], env: Record<string, string> = {}, cwd?: string): AmberProcess {
  const argv = ['-u', 'NODE_OPTIONS', process.execPath, AMBER_BIN, ...args];
  const child = spawn('/usr/bin/env', argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString('utf8');
    let nl: number;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      stdout.push(line);
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const w of [...waiters]) {
        if (parsed['msg'] === w.msg) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString('utf8')));
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    stdout,
    stderr,
    waitForLog(msg, timeoutMs = 15_000) {
      const seen = stdout
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        })
        .find((l) => l['msg'] === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no '${msg}' log within ${timeoutMs} ms; stderr: ${stderr.join('')}; stdout: ${stdout.join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          msg,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exit.then((code) => {
          clearTimeout(timer);
          reject(new Error(`amber exited (${code}) before '${msg}'; stderr: ${stderr.join('')}`));
        });
      });
    },
    exited: () => exit,
  };
}

/** Runs `amber ARGS` to completion. */
export async function runAmber(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnAmber(args, env);
  const code = await p.exited();
  return { code, stdout: p.stdout.join('\n'), stderr: p.stderr.join('') };
}

/** The CLI in this process (no dist/, no child): for commands that need neither dist/sim nor a clean stdout. */
export async function runCliHere(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { runCli } = await import('../../src/cli/run-cli.js');
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s), env });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
