import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * `npm run screenshots [-- demo sandbox smart]` (issue #21 item 3): refreshes the README's screenshots in docs/.
 * The tests only ever write their screenshots to test-output/screenshots/ (ignored), so `npm test` leaves the
 * tree clean; this runs the tests that take the README's three shots, each in the project that provides what
 * it needs (the browser project: Chromium; the integration project: Chromium, HAPI FHIR and ../shared/tools/),
 * and copies each shot a run has just written over its docs/ file. A shot whose test was skipped (no Chromium,
 * no FHIR server) is not copied, and the command says so and exits 1.
 */

const ROOT = resolve(import.meta.dirname, '..');
const SHOTS_DIR = resolve(ROOT, 'test-output', 'screenshots');

interface Shot {
  project: 'browser' | 'integration';
  file: string;
  /** vitest -t: the test that takes the shot. */
  test: string;
  shot: string;
  doc: string;
}

const SHOTS: Readonly<Record<string, Shot>> = {
  demo: { project: 'browser', file: 'test/browser/demo-page.test.ts', test: 'the README screenshot', shot: 'readme-likely.png', doc: 'docs/screenshot-likely.png' },
  sandbox: { project: 'integration', file: 'test/integration/sandbox-cards.test.ts', test: 'the README screenshot', shot: 'sandbox-card.png', doc: 'docs/screenshot-sandbox-card.png' },
  smart: { project: 'integration', file: 'test/integration/smart-launch.test.ts', test: "from the card's launch", shot: 'smart-app.png', doc: 'docs/screenshot-smart-app.png' },
};

function main(names: readonly string[]): number {
  const unknown = names.filter((n) => !(n in SHOTS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown screenshot ${unknown.join(', ')}; give any of: ${Object.keys(SHOTS).join(', ')}\n`);
    return 2;
  }
  let failed = 0;
  for (const name of names.length > 0 ? names : Object.keys(SHOTS)) {
    const s = SHOTS[name];
    if (!s) continue;
    const started = Date.now();
    const run = spawnSync('npx', ['vitest', 'run', '--project', s.project, s.file, '-t', s.test], { cwd: ROOT, stdio: 'inherit' });
    const shot = resolve(SHOTS_DIR, s.shot);
    if (run.status !== 0 || !existsSync(shot) || statSync(shot).mtimeMs < started) {
      process.stderr.write(`${name}: ${s.file} did not take ${s.shot} (failed or skipped); ${s.doc} is unchanged\n`);
      failed++;
      continue;
    }
    copyFileSync(shot, resolve(ROOT, s.doc));
    process.stdout.write(`${name}: ${s.doc} refreshed\n`);
  }
  return failed > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
