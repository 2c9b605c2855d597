import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../../scripts/config-doc.js';
import { toolShape } from '../../scripts/tool-settings.js';
import { loadConfig, settingsOf } from '../../src/config.js';
import { ROOT } from '../support/app.js';

/** Issue #21 item 2: one reference of every setting, generated from the schema, and every variable read anywhere in it. */

const SCANNED = ['src', 'scripts', 'bench', 'test', '.ci', 'Dockerfile', 'docker-compose.yml', 'deploy'];
const READS = [/process\.env\.([A-Z][A-Z0-9_]*)/g, /process\.env\[['"]([A-Z][A-Z0-9_]*)['"]\]/g, /\benv\.([A-Z][A-Z0-9_]{2,})\b/g, /\$\{([A-Z][A-Z0-9_]*):-/g];

function filesUnder(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => (name === 'node_modules' || name === 'target' ? [] : filesUnder(join(path, name))));
}

/** Every environment variable a file of the project reads, with the first file that reads it. */
function variablesRead(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of SCANNED.flatMap((p) => filesUnder(join(ROOT, p)))) {
    if (!/\.(ts|js|mjs|sh)$|^Dockerfile$|^run$|\.ya?ml$/.test(file.split('/').pop() ?? '')) continue;
    const text = readFileSync(file, 'utf8');
    for (const re of READS) for (const m of text.matchAll(re)) if (m[1] && !found.has(m[1])) found.set(m[1], relative(ROOT, file));
  }
  return found;
}

describe('docs/configuration.md', () => {
  it('is the current rendering of the config schema (run `npm run docs:config` after adding or changing a setting)', () => {
    expect(readFileSync(CONFIGURATION_DOC, 'utf8')).toBe(renderConfigurationDoc());
  });

  it('lists every environment variable the service, the tests, the bench or the scripts read', () => {
    const documented = new Set([...settingsOf(), ...settingsOf(toolShape)].map((s) => s.meta.env));
    const read = variablesRead();
    // The scan must see the reads it is meant to see, or the check below proves nothing.
    expect(read.get('FHIR_BASE_URL')).toBeDefined();
    expect(read.get('CHROMIUM_PATH')).toBeDefined();
    const undocumented = [...read].filter(([name]) => !documented.has(name)).map(([name, file]) => `${name} (${file})`);
    expect(undocumented).toEqual([]);
    const doc = renderConfigurationDoc();
    for (const name of documented) expect(doc).toContain(`| \`${name}\` |`);
  });

  it('documents and reads MAPPINGS_DIR and CDS_HOOKS_DIR, which no document named before', () => {
    const config = loadConfig({ MAPPINGS_DIR: '/srv/trialmatch/mappings', CDS_HOOKS_DIR: '/srv/trialmatch/cds-hooks' });
    expect(config.mappingsDir).toBe('/srv/trialmatch/mappings');
    expect(config.cdsHooksDir).toBe('/srv/trialmatch/cds-hooks');
    expect(renderConfigurationDoc()).toMatch(/\| `MAPPINGS_DIR` \| `fhir-mappings` \(in the project folder\) \|/);
  });

  it('gives every rule NODE_ENV=production enforces in the production column', () => {
    let message = '';
    try {
      loadConfig({ NODE_ENV: 'production', DEV_TRUST: '1', AUTH_MODE: 'off' });
    } catch (err) {
      message = (err as Error).message;
    }
    const refused = [...message.matchAll(/(?:^invalid configuration: |; )([A-Z_]+):/g)].map((m) => m[1]);
    expect(refused.sort()).toEqual(['AUTH_MODE', 'DEV_TRUST', 'METRICS_TOKEN', 'PUBLIC_BASE_URL', 'TRUST_CONFIG']);
    const rules = new Map(settingsOf().map((s) => [s.meta.env, s.meta.production]));
    for (const name of refused) expect(rules.get(name ?? ''), name).toBeTruthy();
  });

  it('names the variable, not the schema key, when a value is wrong', () => {
    expect(() => loadConfig({ FHIR_TIMEOUT_MS: 'soon' })).toThrow(/invalid configuration: FHIR_TIMEOUT_MS: /);
  });
});
