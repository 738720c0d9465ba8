import t from 'tap';
import { AmberError, ERROR_CODES, isTransient, sentenceOf, type ErrorCode } from '../../src/core/amber-error.js';

t.test('the failures that pass by themselves are retried; every other code fails the attempt', async (t) => {
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];
  t.same(codes.filter(isTransient).sort(), [
    'CHECKPOINT_IN_PROGRESS',
    'EVIDENCE_BUSY',
    'EVIDENCE_STORE_UNREACHABLE',
    'KUBELET_UNREACHABLE',
    'KUBE_API_UNAVAILABLE',
    // a Capture resource changed under a status write: read it again, retry
    'QUEUE_CONFLICT',
    'QUEUE_UNAVAILABLE',
    // the push already retried; a later run of amber restore may succeed
    'REGISTRY_UNAVAILABLE',
    // the evidence browser's sign-in: Retry-After says when
    'SIGN_IN_RATE_LIMITED',
    'STORE_LOCK_FAILED',
    'STORE_UNAVAILABLE',
  ]);
  t.notOk(isTransient('POD_GONE'));
  t.notOk(isTransient('EVIDENCE_CONFLICT'));
});

t.test('an error says its code’s sentence, transient or not, with its facts', async (t) => {
  t.equal(sentenceOf('KUBELET_UNREACHABLE'), 'the kubelet did not answer');
  t.equal(new AmberError('KUBELET_UNREACHABLE').message, 'the kubelet did not answer');
  t.equal(new AmberError('POD_GONE', { pod: 'web-1' }).message, 'the pod no longer exists (pod=web-1)');
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) t.match(sentenceOf(code), /^\S.*\S$/, `${code} has a sentence`);
});
