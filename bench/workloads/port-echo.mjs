// The far end of bench/ipi-floor.ts's bare round trip: wait for the doorbell word to change, drain
// the port with receiveMessageOnPort, acknowledge in shared memory. Spins, as a busy CPU would.
import { receiveMessageOnPort, workerData } from 'node:worker_threads';

const words = new Int32Array(workerData.words);
const port = workerData.port;
let seen = 0;
for (;;) {
  const bell = Atomics.load(words, 0);
  if (bell === -1) break;
  if (bell === seen) continue;
  seen = bell;
  if (receiveMessageOnPort(port) === undefined) throw new Error('a doorbell without a message');
  Atomics.store(words, 16, bell);
}
