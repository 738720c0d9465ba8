/**
 * A streaming zstd decoder for checkpoint archives (Podman exports `.tar.zst` by default).
 *
 * Node 20 has no zstd in zlib (it arrived in 22.15 / 23.8), so the decoding is fzstd's: pure
 * JavaScript, no dependencies, a push-based streaming API, and the same code on every Node we run
 * (README "Analysis" says why it won over the native bindings and the WASM builds).
 *
 * fzstd trusts the frame header: it allocates the window the header asks for (up to 2 GiB) before
 * reading a block, and does not bound block sizes. So every byte first passes a small frame tracker
 * that follows the format (RFC 8878: frame header, block headers, checksum, skippable frames) and
 * refuses what the reference decoder refuses by default: a window over 128 MiB (zstd's
 * ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27), a dictionary we do not have, a reserved block type, a block
 * over 128 KiB. Memory then stays within one window plus a block, whatever the archive's size.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { Decompress } from 'fzstd';

export const ZSTD_MAGIC = 0xfd2fb528;
/** Largest window accepted, as the zstd CLI decodes without `--long` / `--memory`. */
export const MAX_WINDOW = 1 << 27;
const MAX_BLOCK = 128 * 1024;

export class ZstdFormatError extends Error {}

type State =
  | { at: 'magic' }
  | { at: 'frame-header'; need: number }
  | { at: 'block-header' }
  | { at: 'block'; left: number; last: boolean }
  | { at: 'checksum'; left: number }
  | { at: 'skip-size' }
  | { at: 'skip'; left: number };

/**
 * Follows the frame structure of the bytes that pass, without decoding them, and throws
 * ZstdFormatError where the stream asks for more than we allow or is not zstd at all.
 */
export class ZstdFrameTracker {
  private state: State = { at: 'magic' };
  private readonly head = Buffer.alloc(18);
  private fill = 0;
  private checksum = false;
  private window = 0;
  /** frames completed so far */
  frames = 0;

  /** Whether the bytes so far end at a frame boundary (a stream may end only there). */
  get atBoundary(): boolean {
    return this.state.at === 'magic' && this.fill === 0;
  }

  /**
   * Follows `chunk`. Returns how many of its bytes are sound to decode: all of them, or, with the
   * error, those before the header or field that is refused.
   */
  scan(chunk: Uint8Array): { sound: number; error?: ZstdFormatError } {
    let i = 0;
    let sound = 0;
    while (i < chunk.length) {
      const s = this.state;
      if (s.at === 'block' || s.at === 'checksum' || s.at === 'skip') {
        const n = Math.min(s.left, chunk.length - i);
        s.left -= n;
        i += n;
        if (s.left === 0) this.afterPayload(s);
        sound = i;
        continue;
      }
      const want = s.at === 'frame-header' ? s.need : s.at === 'block-header' ? 3 : 4;
      const n = Math.min(want - this.fill, chunk.length - i);
      this.head.set(chunk.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill < want) break;
      try {
        this.onHead();
      } catch (e) {
        if (e instanceof ZstdFormatError) return { sound, error: e };
        throw e;
      }
      if (this.fill === 0) sound = i;
    }
    return { sound: this.fill === 0 ? i : sound };
  }

  private afterPayload(s: Extract<State, { left: number }>): void {
    if (s.at === 'block' && s.last) {
      if (this.checksum) {
        this.state = { at: 'checksum', left: 4 };
        return;
      }
    }
    if (s.at === 'block' && !s.last) {
      this.state = { at: 'block-header' };
      return;
    }
    this.frames++;
    this.state = { at: 'magic' };
  }

  private onHead(): void {
    const h = this.head;
    const s = this.state;
    if (s.at === 'magic') {
      this.fill = 0;
      const magic = h.readUInt32LE(0);
      if (magic === ZSTD_MAGIC) {
        this.state = { at: 'frame-header', need: 1 };
        return;
      }
      if ((magic & 0xfffffff0) === 0x184d2a50) {
        this.state = { at: 'skip-size' };
        return;
      }
      throw new ZstdFormatError(`not a zstd frame (magic 0x${magic.toString(16).padStart(8, '0')})${this.frames > 0 ? ` after ${this.frames} frames` : ''}`);
    }
    if (s.at === 'skip-size') {
      this.fill = 0;
      const size = h.readUInt32LE(0);
      this.state = size === 0 ? { at: 'magic' } : { at: 'skip', left: size };
      if (size === 0) this.frames++;
      return;
    }
    if (s.at === 'frame-header') {
      const fhd = h[0] ?? 0;
      const fcsFlag = fhd >> 6,
        single = (fhd >> 5) & 1,
        reserved = (fhd >> 3) & 1,
        dictFlag = fhd & 3;
      const fcsBytes = fcsFlag === 0 ? single : 1 << fcsFlag;
      const total = 1 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]! + fcsBytes;
      if (s.need < total) {
        this.state = { at: 'frame-header', need: total };
        return;
      }
      if (reserved) throw new ZstdFormatError('a zstd frame header with its reserved bit set');
      let p = 1;
      if (!single) {
        const wd = h[p++] ?? 0;
        const base = 2 ** (10 + (wd >> 3));
        this.window = base + (base / 8) * (wd & 7);
      }
      const dictBytes = [0, 1, 2, 4][dictFlag]!;
      let dict = 0;
      for (let k = 0; k < dictBytes; k++) dict += (h[p + k] ?? 0) * 2 ** (8 * k);
      p += dictBytes;
      if (dict !== 0) throw new ZstdFormatError(`a zstd frame that needs dictionary ${dict}, which the archive does not carry`);
      if (single) {
        let fcs = 0;
        for (let k = 0; k < fcsBytes; k++) fcs += (h[p + k] ?? 0) * 2 ** (8 * k);
        if (fcsBytes === 2) fcs += 256;
        this.window = fcs;
      }
      if (this.window > MAX_WINDOW) {
        throw new ZstdFormatError(`a zstd frame with a ${this.window}-byte window, more than the ${MAX_WINDOW} a decoder accepts by default`);
      }
      this.checksum = ((fhd >> 2) & 1) === 1;
      this.fill = 0;
      this.state = { at: 'block-header' };
      return;
    }
    // block header
    this.fill = 0;
    const v = (h[0] ?? 0) | ((h[1] ?? 0) << 8) | ((h[2] ?? 0) << 16);
    const last = (v & 1) === 1,
      type = (v >> 1) & 3,
      size = v >>> 3;
    if (type === 3) throw new ZstdFormatError('a zstd block of the reserved type');
    const max = Math.min(MAX_BLOCK, Math.max(this.window, 1));
    if (size > max) throw new ZstdFormatError(`a zstd block of ${size} bytes, more than the ${max} allowed`);
    const block = { at: 'block', left: type === 1 ? 1 : size, last } as const; // an RLE block carries one byte
    this.state = { ...block };
    if (block.left === 0) this.afterPayload(block);
  }
}

/** A Transform that ends cleanly at the first fault, with the fault in `failure`. */
export type ZstdDecompress = Transform & { readonly failure?: Error };

/**
 * A Transform from zstd bytes to the decoded bytes; nothing is buffered beyond one block.
 *
 * A fault (bytes that are not zstd, a refused frame, a stream that ends inside a frame) does not
 * error the stream: everything decoded before it is still delivered, then the stream ends and
 * `failure` says what went wrong. (An errored stream would drop what its reader had not yet
 * taken, and with it the tar entries before the damage.)
 */
export function createZstdDecompress(): ZstdDecompress {
  const tracker = new ZstdFrameTracker();
  // eslint-disable-next-line prefer-const -- assigned below: its callback pushes into the transform declared in between
  let decoder: Decompress;
  let failure: Error | undefined;
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      if (failure) {
        done();
        return;
      } // what follows a fault is not read
      try {
        const { sound, error } = tracker.scan(chunk);
        // fzstd may keep a reference to what it was given: hand it a copy (the source reuses its buffers)
        decoder.push(new Uint8Array(chunk.subarray(0, error ? sound : chunk.length)));
        releaseEmptyTail(decoder);
        failure = error;
      } catch (e) {
        failure = describe(e);
      }
      done();
    },
    flush(done: TransformCallback) {
      try {
        if (!failure && !tracker.atBoundary)
          failure = new ZstdFormatError(`the zstd stream ends inside a frame (truncated after ${tracker.frames} complete frames)`);
        if (!failure) decoder.push(new Uint8Array(0), true);
      } catch (e) {
        failure = describe(e);
      }
      done();
    },
  }) as ZstdDecompress;
  Object.defineProperty(t, 'failure', { get: () => failure });
  decoder = new Decompress((data) => {
    if (data.length > 0) t.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return t;
}

/**
 * fzstd 0.1.1 keeps the unread tail of each chunk in a list that it empties only when the tail is
 * not empty: when a chunk ends exactly at a block boundary it keeps an empty view of that chunk,
 * and with it the whole chunk, until a later chunk ends mid-block. Aligned input (raw blocks,
 * chunks cut at blocks) would then hold every chunk read. Emptying the list when it holds no byte
 * keeps memory flat (the version is pinned; test/analysis/zstd-archive.test.ts holds it to that).
 */
function releaseEmptyTail(d: Decompress): void {
  const state = d as unknown as { c?: unknown[]; l?: number };
  if (state.l === 0 && Array.isArray(state.c) && state.c.length > 0) state.c = [];
}

function describe(e: unknown): Error {
  if (e instanceof ZstdFormatError) return e;
  return new ZstdFormatError(`zstd: ${e instanceof Error ? e.message : String(e)}`);
}
