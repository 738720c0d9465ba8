import { parentPort, workerData } from 'node:worker_threads';
import type { ChunkJobMessage, ChunkResultMessage, ChunkWorkerData } from './age-chunk-pool.js';
import { CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE, openChunksInto, sealChunksInto, sealedSize } from './age-format.js';

/*
 * The body of an AgeChunkPool worker thread: seals or opens runs of whole non-final payload
 * chunks with the key the pool shares with it. A job's input ArrayBuffer comes in transferred and
 * goes back the same way, for reuse, with a fresh output buffer that the stream pushes as it is:
 * no copy on either side of the message.
 */

const { op, key } = workerData as ChunkWorkerData;
const keyBytes = new Uint8Array(key);
const port = parentPort;
if (port === null) throw new Error('age-chunk-worker runs as a worker thread only');

port.on('message', (job: ChunkJobMessage) => {
  const input = new Uint8Array(job.input, 0, job.length);
  let output: Buffer;
  let length: number;
  if (op === 'seal') {
    output = Buffer.allocUnsafeSlow(sealedSize(job.length));
    length = sealChunksInto(keyBytes, job.first, false, input, output);
  } else {
    output = Buffer.allocUnsafeSlow((job.length / ENCRYPTED_CHUNK_SIZE) * CHUNK_SIZE);
    length = openChunksInto(keyBytes, job.first, input, output) * CHUNK_SIZE;
  }
  const result: ChunkResultMessage = { output: output.buffer as ArrayBuffer, length, input: job.input };
  port.postMessage(result, [result.output, job.input]);
});
port.postMessage('ready');
