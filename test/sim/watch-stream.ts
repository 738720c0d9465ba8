/**
 * The API server's watch machinery for one resource: a bounded window of past events (the watch
 * cache) and the open watch streams. A stream is a chunked 200 response of JSON lines
 * `{"type":…,"object":…}`; a watch from a resourceVersion older than the window gets one ERROR
 * event (410 Expired) and ends, which is what makes a client relist (apiserver
 * storage/cacher/watch_cache.go: `too old resource version: %d (%d)`).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { WatchEvent } from '@kubernetes-models/apimachinery/apis/meta/v1/WatchEvent';
import { expired } from './api-errors.js';
import type { WatchCut } from './api-faults.js';
import type { JsonObject } from './object-patch.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One write: the object after it (for DELETED: its last state, carrying the deletion's resourceVersion). */
export interface Change {
  type: ChangeType;
  object: JsonObject;
  prev?: JsonObject;
  rv: number;
}

export interface WatchOptions {
  /** undefined (or "0"): synthetic ADDED events for every current object, then live events */
  fromRv: number | undefined;
  current: () => JsonObject[];
  matches: (o: JsonObject) => boolean;
  timeoutMs: number;
  bookmarks: boolean;
  bookmarkMs: number;
  /** `{kind, apiVersion, metadata: {resourceVersion}}` for a BOOKMARK */
  bookmark: (rv: number) => JsonObject;
  /** the global resourceVersion now */
  rv: () => number;
  /** a planned cut of this stream (a `cutWatch` fault), asked once the stream is served */
  cut?: () => WatchCut | undefined;
}

interface Stream {
  res: ServerResponse;
  opts: WatchOptions;
  stop: () => void;
  send: (text: string) => void;
}

function line(type: string, object: JsonObject): string {
  const ev = { type, object };
  try {
    new WatchEvent(ev as never).validate();
  } catch (err) {
    throw new Error(`sim: the watch event it was about to send fails kubernetes-models validation: ${(err as Error).message}`);
  }
  return `${JSON.stringify(ev)}\n`;
}

/** What a filtered watcher sees of a change (cacher.go: an object leaving the selector is DELETED for it). */
function view(c: Change, matches: (o: JsonObject) => boolean): { type: ChangeType; object: JsonObject } | undefined {
  const now = matches(c.object);
  if (c.type !== 'MODIFIED') return now ? { type: c.type, object: c.object } : undefined;
  const was = c.prev !== undefined && matches(c.prev);
  if (now) return { type: was ? 'MODIFIED' : 'ADDED', object: c.object };
  if (!was || !c.prev) return undefined;
  const gone = structuredClone(c.prev);
  (gone.metadata as JsonObject).resourceVersion = String(c.rv);
  return { type: 'DELETED', object: gone };
}

export class WatchHub {
  private log: Change[] = [];
  /** every change with rv > horizon is still in the log */
  private horizon: number;
  private readonly streams = new Set<Stream>();

  constructor(
    startRv: number,
    private readonly window: () => number,
    private readonly down: () => boolean,
  ) {
    this.horizon = startRv;
  }

  record(c: Change): void {
    this.log.push(c);
    this.trim();
    for (const s of [...this.streams]) {
      if (this.down()) {
        s.res.socket?.destroy();
        continue;
      }
      const v = view(c, s.opts.matches);
      if (v) s.send(line(v.type, v.object));
    }
  }

  /** Forgets every remembered change (as after a compaction or an API server restart). */
  expire(rv: number): void {
    this.log = [];
    this.horizon = Math.max(this.horizon, rv);
  }

  get open(): number {
    return this.streams.size;
  }

  /** Ends every open stream: `close` ends the chunked body cleanly, `reset` destroys the socket. */
  endAll(how: 'close' | 'reset'): number {
    const n = this.streams.size;
    for (const s of [...this.streams]) {
      s.stop();
      if (how === 'reset') s.res.socket?.destroy();
      else s.res.end();
    }
    return n;
  }

  private trim(): void {
    const max = Math.max(0, Math.floor(this.window()));
    while (this.log.length > max) {
      const dropped = this.log.shift();
      if (dropped) this.horizon = dropped.rv;
    }
  }

  serve(res: ServerResponse, opts: WatchOptions): void {
    this.trim();
    res.writeHead(200, { 'Audit-Id': randomUUID(), 'Cache-Control': 'no-cache, private', 'Content-Type': 'application/json' });
    res.flushHeaders();
    if (opts.fromRv !== undefined && opts.fromRv < this.horizon) {
      res.end(line('ERROR', expired(`too old resource version: ${opts.fromRv} (${this.horizon})`).body as JsonObject));
      return;
    }
    const replay =
      opts.fromRv === undefined
        ? opts
            .current()
            .filter(opts.matches)
            .map((object) => ({ type: 'ADDED' as const, object }))
        : this.log
            .filter((c) => c.rv > (opts.fromRv ?? 0))
            .map((c) => view(c, opts.matches))
            .filter((v) => v !== undefined);
    const timers: NodeJS.Timeout[] = [];
    const cut = opts.cut?.();
    let written = 0;
    let ended = false;
    // what was written reaches the client before the connection is destroyed
    let unflushed = 0;
    let destroyWhenFlushed = false;
    const write = (text: string) => {
      unflushed++;
      res.write(text, () => {
        if (--unflushed === 0 && destroyWhenFlushed) res.socket?.destroy();
      });
    };
    const end = (how: WatchCut['how'], text?: string) => {
      ended = true;
      stream.stop();
      if (how === 'close') return void res.end();
      // truncate: half of a line, as a connection lost in the middle of an event leaves it
      if (how === 'truncate' && text !== undefined) write(text.slice(0, Math.max(1, Math.floor(text.length / 2))));
      destroyWhenFlushed = true;
      if (unflushed === 0) res.socket?.destroy();
    };
    const stream: Stream = {
      res,
      opts,
      stop: () => {
        for (const t of timers) clearTimeout(t);
        this.streams.delete(stream);
      },
      send: (text) => {
        if (ended) return;
        if (cut?.how === 'truncate' && cut.afterEvents !== undefined && written >= cut.afterEvents) return end('truncate', text);
        write(text);
        written++;
        if (cut && cut.how !== 'truncate' && cut.afterEvents !== undefined && written >= cut.afterEvents) end(cut.how);
      },
    };
    this.streams.add(stream);
    if (cut && cut.how !== 'truncate' && cut.afterEvents === 0) {
      end(cut.how);
      return;
    }
    for (const v of replay) stream.send(line(v.type, v.object));
    if (ended) return;
    const sendBookmark = () => {
      if (this.down()) res.socket?.destroy();
      else stream.send(line('BOOKMARK', opts.bookmark(opts.rv())));
    };
    if (cut?.afterMs !== undefined) timers.push(setTimeout(() => end(cut.how, line('BOOKMARK', opts.bookmark(opts.rv()))), cut.afterMs));
    if (opts.bookmarks) timers.push(setInterval(sendBookmark, Math.max(10, opts.bookmarkMs)));
    timers.push(
      setTimeout(() => {
        // the watch cache sends a last bookmark as the timeout nears, so the client resumes from it
        if (opts.bookmarks) sendBookmark();
        stream.stop();
        res.end();
      }, opts.timeoutMs),
    );
    res.on('close', stream.stop);
  }

  /** the resourceVersion a watch must be at or after (for tests and the README) */
  get oldestRv(): number {
    return this.horizon;
  }
}
