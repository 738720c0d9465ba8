import type { CaptureQueue } from '../capture-queue.js';

/**
 * Responder housekeeping: a capture still Pending, never attempted, `timeoutMs` after it was
 * queued has no agent on its node (or none that works): it fails with NoAgent, so it does not
 * wait forever unseen. Returns the ids failed.
 */
export async function failUnclaimed(queue: Pick<CaptureQueue, 'list' | 'updateStatus'>, timeoutMs: number, now = Date.now()): Promise<string[]> {
  const failed: string[] = [];
  for (const c of await queue.list({ phase: 'Pending', limit: Number.MAX_SAFE_INTEGER })) {
    if (c.status.attempts > 0 || now - Date.parse(c.createdAt) < timeoutMs) continue;
    const at = new Date(now).toISOString();
    await queue.updateStatus(c.id, {
      ...c.status,
      phase: 'Failed',
      phaseTimes: { ...c.status.phaseTimes, Failed: at },
      reason: 'NoAgent',
      message: `no amber agent on node ${c.spec.target.node ?? '(unknown)'} took the capture within ${Math.round(timeoutMs / 1000)} s`,
    });
    failed.push(c.id);
  }
  return failed;
}
