import type * as TC from 'testcontainers';

/**
 * Whether the test setups take their servers from Docker through testcontainers (issue #22 item 3), set by
 * TEST_CONTAINERS:
 *  - unset: a container when a Docker engine answers, else the fallback (Maven-built HAPI, Debian's PostgreSQL);
 *  - `off`: never ask Docker, always the fallback;
 *  - `require`: the container or a failed run, never a silent fallback.
 * CI (.ci/run) runs the integration and replicas projects once with `require` and once with `off`, so neither
 * path rots. On a machine without an image registry the images are the local stand-ins .ci/setup-docker.sh
 * builds, and Ryuk (testcontainers' reaper, an image of its own) is off: TESTCONTAINERS_RYUK_DISABLED=true.
 */
type Testcontainers = typeof TC;

export type ContainerMode = 'auto' | 'off' | 'require';

export function containerMode(): ContainerMode {
  const v = process.env.TEST_CONTAINERS ?? '';
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'off' || v === 'require') return v;
  throw new Error(`TEST_CONTAINERS must be off, require or unset, not ${JSON.stringify(v)}`);
}

/**
 * testcontainers when the mode allows it and an engine answers; undefined for the fallback. Throws under
 * `require` when no engine answers.
 */
export async function testcontainers(what: string): Promise<Testcontainers | undefined> {
  const mode = containerMode();
  if (mode === 'off') return undefined;
  const tc = await import('testcontainers');
  try {
    await tc.getContainerRuntimeClient();
  } catch (err) {
    if (mode === 'require') throw new Error(`TEST_CONTAINERS=require but no Docker engine answers for ${what}: ${(err as Error).message}`);
    return undefined;
  }
  return tc;
}
