/**
 * CPU profile of the service under load (the hook, typical and heavy patient in turn), for finding what to
 * optimise:  tsx bench/profile-service.ts [name]  writes bench/profiles/<name>.cpuprofile and prints the
 * top self-time functions. PROFILE_BODIES=typical (or heavy) profiles one patient only.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { largestSynthea, syntheaHookRequest, typicalHookRequest } from './fixtures.js';
import { runLoad, startTarget } from './http.js';
import { summarise } from './summarise-profile.js';

const name = process.argv[2] ?? 'service';
const dir = join(import.meta.dirname, 'profiles');
// tsx's loader thread writes a profile of its own; the main thread's is the largest file in the run's directory.
const runDir = join(dir, `${name}.tmp`);
rmSync(runDir, { recursive: true, force: true });
mkdirSync(runDir, { recursive: true });
const target = await startTarget('service', {}, ['--cpu-prof', `--cpu-prof-dir=${runDir}`]);
const which = process.env.PROFILE_BODIES ?? 'typical,heavy';
const bodies = [
  ...(which.includes('typical') ? [JSON.stringify(typicalHookRequest(new Date()))] : []),
  ...(which.includes('heavy') ? [JSON.stringify(syntheaHookRequest(largestSynthea()))] : []),
];
const load = await runLoad(target, bodies, { durationS: Number(process.env.BENCH_DURATION ?? 10), connections: 10 });
await target.stop();
const [main] = readdirSync(runDir)
  .map((f) => join(runDir, f))
  .sort((a, b) => statSync(b).size - statSync(a).size);
if (!main) throw new Error('no profile written');
renameSync(main, join(dir, `${name}.cpuprofile`));
rmSync(runDir, { recursive: true, force: true });
console.log(`${load.requests} requests, ${load.requestsPerSec.toFixed(0)} req/s, ${load.non2xx} non-2xx`);
console.log(summarise(join(dir, `${name}.cpuprofile`), 35).join('\n'));
