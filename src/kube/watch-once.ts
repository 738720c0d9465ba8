import type { Watch } from '@kubernetes/client-node';
import type { CaptureResource } from './capture-resource.js';

/** What one watch of Captures tells its owner as it runs. */
export interface WatchHandlers {
  /** the resourceVersion of each event, bookmarks included: where the next watch starts */
  resourceVersion(rv: string): void;
  changed(r: CaptureResource): void;
  deleted(r: CaptureResource): void;
  /** the watch is open; `abort()` ends it */
  started(controller: AbortController): void;
}

/**
 * One watch of Captures at `path`, until it ends, and how it ended: expired (410 Gone, in an ERROR
 * event or as the status), an error, or a clean end; and how many events it brought (a watch that
 * ends at once with none counts as a failure for the caller's backoff).
 */
export function watchOnce(
  watch: Watch,
  path: string,
  from: { labelSelector: string | undefined; resourceVersion: string | undefined },
  on: WatchHandlers,
): Promise<{ gone: boolean; error?: unknown; events: number }> {
  return new Promise((resolve) => {
    let gone = false;
    let events = 0;
    const { labelSelector, resourceVersion } = from;
    void watch
      .watch(
        path,
        { allowWatchBookmarks: true, ...(labelSelector !== undefined ? { labelSelector } : {}), ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
        (type, obj: CaptureResource & { code?: number }) => {
          events++;
          if (type === 'ERROR') {
            gone ||= obj.code === 410;
            return;
          }
          if (obj.metadata?.resourceVersion !== undefined) on.resourceVersion(obj.metadata.resourceVersion);
          if (type === 'ADDED' || type === 'MODIFIED') on.changed(obj);
          if (type === 'DELETED') on.deleted(obj);
        },
        (err: unknown) => {
          const statusCode = (err as { statusCode?: number } | null)?.statusCode;
          if (gone || statusCode === 410) resolve({ gone: true, events });
          else resolve({ gone: false, events, ...(err !== null && err !== undefined ? { error: err } : {}) });
        },
      )
      .then(on.started, (err: unknown) => resolve({ gone: false, error: err, events }));
  });
}
