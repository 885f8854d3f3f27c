// Module worker: solves one proof-of-work challenge off the main thread, so
// the page stays responsive and can show progress or cancel (by terminating
// this worker). Message in: {challenge, bits}. Messages out:
//   {type: 'progress', hashes, ms}   about every 100 ms
//   {type: 'solved', solution, hashes, ms}
//   {type: 'failed', hashes, ms, reason}

import { PowSearch, verify } from './pow.js';

// Hashes per run() call, about half a millisecond: short calls let the JIT
// optimise run() early (it tiers up on calls; one long call waits for
// on-stack replacement, which warmed up more slowly when measured).
const BATCH = 1_024;
const REPORT_EVERY_MS = 100;

self.onmessage = (event) => {
  const { challenge, bits } = event.data;
  const started = performance.now();
  let search;
  try {
    search = new PowSearch(challenge, bits);
  } catch (err) {
    self.postMessage({ type: 'failed', hashes: 0, ms: 0, reason: String(err) });
    return;
  }
  let reported = started;
  for (;;) {
    const solution = search.run(BATCH);
    const now = performance.now();
    if (solution) {
      // One independent check of the fast path before the server sees it.
      if (!verify(challenge, solution, bits)) {
        self.postMessage({ type: 'failed', hashes: search.hashes, ms: now - started, reason: `the solver's answer ${solution} does not verify` });
      } else {
        self.postMessage({ type: 'solved', solution, hashes: search.hashes, ms: now - started });
      }
      return;
    }
    if (search.exhausted) {
      self.postMessage({ type: 'failed', hashes: search.hashes, ms: now - started, reason: 'no solution in the search space' });
      return;
    }
    if (now - reported >= REPORT_EVERY_MS) {
      reported = now;
      self.postMessage({ type: 'progress', hashes: search.hashes, ms: now - started });
    }
  }
};
