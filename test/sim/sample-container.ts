import type { ContainerContext, RuntimeLayout } from './runtime-metadata.js';

/** 12:00 UTC, 28 November 2026: when the sample container is checkpointed, unless told otherwise. */
export const SAMPLE_CHECKPOINTED_AT = Date.UTC(2026, 10, 28, 12, 0, 0);

/**
 * The container the analysis tests and the inspection benches write archives of: shop/web's `app`,
 * started an hour before it is checkpointed at `at`; `over` changes what a test needs different.
 */
export function sampleContainer(layout: RuntimeLayout, over: Partial<ContainerContext> = {}, at = SAMPLE_CHECKPOINTED_AT): ContainerContext {
  return {
    layout,
    namespace: 'shop',
    pod: 'web',
    podUid: '5b0f7c1e-9a64-4d2b-8e3f-2c71a9d4b6e0',
    container: 'app',
    containerId: '3f'.repeat(32),
    sandboxId: '9c'.repeat(32),
    image: 'ghcr.io/acme/app:1.4.2',
    imageRef: `ghcr.io/acme/app@sha256:${'ab'.repeat(32)}`,
    imageId: 'cd'.repeat(32),
    podIP: '10.244.1.7',
    hostPid: 48121,
    createdAt: at - 3_600_000,
    startedAt: at - 3_599_000,
    checkpointedAt: at,
    restartCount: 0,
    argv: ['/bin/sh', '/app/entrypoint.sh'],
    env: ['PATH=/usr/bin:/bin', 'HOSTNAME=web', 'APP_ENV=production'],
    logLines: ['listening on :8080'],
    ...over,
  };
}
