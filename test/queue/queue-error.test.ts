import t from 'tap';
import { STATUS_BY_CODE } from '../../src/http/error-status.js';
import { queueError } from '../../src/queue/kube/queue-error.js';

t.test("a failed Capture call's code says what happened; the status stays a fact in the details", async (t) => {
  const cases = [
    { status: 409, code: 'QUEUE_CONFLICT' },
    { status: 404, code: 'CAPTURE_RESOURCE_NOT_FOUND' },
    { status: 403, code: 'KUBE_FORBIDDEN' },
    { status: 401, code: 'KUBE_FORBIDDEN' },
    { status: 429, code: 'QUEUE_UNAVAILABLE' },
    { status: 503, code: 'QUEUE_UNAVAILABLE' },
    { status: undefined, code: 'QUEUE_UNAVAILABLE' },
  ] as const;
  for (const { status, code } of cases) {
    const e = queueError('update status', { ...(status !== undefined ? { status } : {}), message: 'the answer', transient: false });
    t.equal(e.code, code, `${status ?? 'no answer'} → ${code}`);
    t.match(e.details, { what: 'update status', message: 'the answer', ...(status !== undefined ? { status } : {}) });
  }
});

t.test('a conflict or a missing Capture CRD that reaches the intake is a 503: the sender retries', async (t) => {
  t.equal(STATUS_BY_CODE.QUEUE_CONFLICT, 503);
  t.equal(STATUS_BY_CODE.CAPTURE_RESOURCE_NOT_FOUND, 503);
});
