import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Why the tests that run the real `age` / `age-keygen` binaries (Debian package `age`) cannot
 * run, or undefined when they can. With AMBER_REQUIRE_AGE=1 (CI) a missing binary throws, so the
 * interoperability proof cannot silently turn into a skip.
 */
export function ageMissing(): string | undefined {
  const missing = ['age', 'age-keygen'].filter((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return undefined;
  const reason = `${missing.join(' and ')} not on PATH (Debian package "age"): interoperability with the real age tool NOT checked`;
  if (process.env.AMBER_REQUIRE_AGE === '1') throw new Error(`AMBER_REQUIRE_AGE=1 but ${reason}`);
  return reason;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs a binary with `input` on stdin; buffers its output (small files only). */
export function run(cmd: string, args: readonly string[], input?: Buffer): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on('error', () => undefined); // the tool may exit before reading all input
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/**
 * `size` pseudo-random bytes (AES-128-CTR keystream of `seed`), generated as they are read, in
 * pieces of `piece` bytes: fast enough for GiB inputs, and every 64 KiB chunk differs.
 */
export function generated(size: number, seed = 1, piece = 1024 * 1024): Readable {
  const key = createHash('sha256').update(`amber-age-test-${seed}`).digest().subarray(0, 16);
  const keystream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(piece);
  let left = size;
  return new Readable({
    highWaterMark: piece,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(piece, left);
      left -= n;
      this.push(keystream.update(zeros.subarray(0, n)));
    },
  });
}

/** All of `stream` as one Buffer (small inputs only). */
export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** A sink that hashes and counts what it receives. */
export function hashSink(): Writable & { result(): { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done();
    },
  });
  let digest: string | undefined;
  return Object.assign(sink, { result: () => ({ size, sha256: (digest ??= hash.digest('hex')) }) });
}

/** Runs `input` through `transform` and returns what came out before the stream ended or failed. */
export async function through(transform: Transform, input: Buffer, pieces: readonly number[] = []): Promise<{ output: Buffer; error: unknown }> {
  const out: Buffer[] = [];
  const parts: Buffer[] = [];
  let pos = 0;
  for (const n of pieces) {
    if (pos >= input.length) break;
    parts.push(input.subarray(pos, pos + n));
    pos += n;
  }
  if (pos < input.length || parts.length === 0) parts.push(input.subarray(pos));
  try {
    await pipeline(
      Readable.from(parts, { objectMode: false }),
      transform,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    return { output: Buffer.concat(out), error: undefined };
  } catch (error) {
    return { output: Buffer.concat(out), error };
  }
}
