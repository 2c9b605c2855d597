import { resolve } from 'node:path';
import { loadMappings } from '../src/mappings/load-mappings.js';
import { readRecords } from '../src/coverage/read-records.js';
import { createCoverageTally } from '../src/coverage/terminology-coverage.js';
import { renderCoverage } from '../src/coverage/render-coverage.js';

/**
 * `npm run terminology:coverage -- <folder or file> [--json] [--mappings <dir>] [--local-codes <file>]`
 * What a site's terminology team runs before go-live (issue #17 item 7): which of the site's codes the service
 * places, which it cannot, and which criteria read the items it cannot place. Reads FHIR JSON (Bundles or
 * resources) and NDJSON (a Bulk Data export); prints Markdown, or the report as JSON with --json.
 */
async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  const flag = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const value = args[i + 1];
    args.splice(i, 2);
    return value;
  };
  const json = args.includes('--json');
  if (json) args.splice(args.indexOf('--json'), 1);
  const mappingsDir = flag('--mappings') ?? resolve(import.meta.dirname, '..', 'fhir-mappings');
  const localCodesFile = flag('--local-codes');
  const path = args[0];
  if (!path) {
    process.stderr.write('usage: npm run terminology:coverage -- <folder or file of FHIR JSON / NDJSON> [--json] [--mappings dir] [--local-codes file]\n');
    return 2;
  }
  const mappings = loadMappings({ dir: mappingsDir, ...(localCodesFile ? { localCodesFile } : {}) });
  const tally = createCoverageTally(mappings);
  const read = await readRecords(path, tally.add);
  const report = tally.report();
  process.stdout.write(json ? `${JSON.stringify({ ...read, ...report }, null, 2)}\n` : renderCoverage(path, read, report));
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
