import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ANCHOR } from './fhir-builders.js';
import { examplePatients } from './example-patients.js';

// Writes cds-hooks/examples/: one FHIR Bundle per example patient, and an index the service reads.
const dir = resolve(import.meta.dirname, '..', 'cds-hooks', 'examples');
mkdirSync(dir, { recursive: true });
const patients = examplePatients();
for (const p of patients) writeFileSync(resolve(dir, `${p.id}.json`), `${JSON.stringify(p.bundle, null, 2)}\n`);
const index = { anchorDate: ANCHOR.toISOString().slice(0, 10), patients: patients.map(({ id, name, summary }) => ({ id, name, summary, file: `${id}.json` })) };
writeFileSync(resolve(dir, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
console.log(`wrote ${patients.length} example patients to ${dir}`);
