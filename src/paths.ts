import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The folder holding package.json: the same whether the service runs from src/ with tsx or from the
 * compiled dist/src/ in the production image, so data folders (fhir-mappings/, cds-hooks/, public/,
 * config/) resolve the same way in both.
 */
function findProjectRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${start}`);
    dir = up;
  }
  return dir;
}

export const PROJECT_ROOT = findProjectRoot(import.meta.dirname);
