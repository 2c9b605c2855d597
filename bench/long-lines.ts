/**
 * Reading one very long NDJSON line (a resource of many MiB in a Bulk Data file), as population screening
 * reads every export file (src/population/ndjson.ts): time per line length, and the longest the event loop
 * waited meanwhile.   tsx bench/long-lines.ts [MiB...]   (default 16 64)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ndjsonLines } from '../src/population/ndjson.js';

const dir = mkdtempSync(join(tmpdir(), 'trialmatch-long-lines-'));
try {
  for (const mib of (process.argv.length > 2 ? process.argv.slice(2) : ['16', '64']).map(Number)) {
    const file = join(dir, `${mib}.ndjson`);
    writeFileSync(file, `{"resourceType":"Observation","id":"o","note":"${'x'.repeat(mib * 1024 * 1024)}"}\n{"resourceType":"Patient","id":"p"}\n`);
    let last = performance.now();
    let longestGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    let chars = 0;
    for await (const line of ndjsonLines(file)) chars += line.length;
    clearInterval(timer);
    console.log(`${mib} MiB line: ${(performance.now() - started).toFixed(0)} ms, ${chars} characters; longest event-loop wait ${longestGap.toFixed(0)} ms`);
    rmSync(file);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
