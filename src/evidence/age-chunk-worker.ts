import { parentPort, workerData } from 'node:worker_threads';
import { sealChunksInto, sealedSize } from './age-format.js';
import type { ChunkJobMessage, ChunkResultMessage, ChunkWorkerData } from './age-chunk-pool.js';

/*
 * The body of an AgeChunkPool worker: seals runs of payload chunks with the key the pool shares
 * with it. Each job's input ArrayBuffer comes in transferred and goes back the same way, with a
 * fresh output buffer that the stream pushes as is: no copy on either side of the message.
 */

const { key } = workerData as ChunkWorkerData;
const keyBytes = new Uint8Array(key);
const port = parentPort;
if (port === null) throw new Error('age-chunk-worker runs as a worker thread only');

port.on('message', (job: ChunkJobMessage) => {
  const input = new Uint8Array(job.input, 0, job.length);
  const output = Buffer.allocUnsafeSlow(sealedSize(job.length));
  const length = sealChunksInto(keyBytes, job.first, job.final, input, output);
  const result: ChunkResultMessage = { output: output.buffer, length, input: job.input };
  port.postMessage(result, [output.buffer, job.input]);
});
port.postMessage('ready');
