/**
 * The real SMART launcher (smart-on-fhir/smart-launcher-v2), set up by .ci/setup-smart-launcher.sh in a
 * scratch folder, started as its SOURCE.md says, in front of a FHIR server: the SMART app's launch test and
 * the population job's SMART Backend Services test use it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const LAUNCHER_DIR = process.env.SMART_LAUNCHER_DIR ?? '/tmp/trialmatch-smart-launcher';
export const TS_NODE = join(LAUNCHER_DIR, 'node_modules', '.bin', 'ts-node');

/** Starts the launcher as SOURCE.md says and waits for its "available at" line. */
export async function startLauncher(port: number, fhirServer: string): Promise<ChildProcess> {
  const child = spawn(TS_NODE, ['--skipProject', '--transpile-only', 'backend/index.ts'], {
    cwd: LAUNCHER_DIR,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', NODE_ENV: 'production', SOURCE_VERSION: 'local', FHIR_SERVER_R4: fhirServer, FHIR_SERVER_R2: '', FHIR_SERVER_R3: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`the SMART launcher did not start in 90 s:\n${output}`)), 90_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('SMART launcher available at')) {
        clearTimeout(timer);
        resolveStart();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the SMART launcher exited (${code}):\n${output}`));
    });
  });
  return child;
}
