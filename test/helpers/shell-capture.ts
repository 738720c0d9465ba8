import { planCapture } from '../../src/core/decision.js';

/** The capture request a Falco "shell in container" alert for `pod`/`container` in `shop` plans (interactive-shell policy, one day, no lock). */
export function shellCaptureRequest(pod: string, container: string): ReturnType<typeof planCapture> {
  return planCapture({
    policy: 'interactive-shell',
    signal: {
      source: 'falco',
      rule: 'r',
      priority: 'Notice',
      time: new Date().toISOString(),
      tags: [],
      fields: {},
      target: { namespace: 'shop', pod, container },
      raw: {},
    },
    containers: 'target',
    cooldownMs: 60_000,
    timeoutSeconds: 120,
    include: [],
    evidence: { retentionDays: 1, lock: 'none' },
  });
}
