import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepMarkedSections, markedSections, replaceMarkedSection } from '../../bench/results-sections.js';

const RESULTS = join(import.meta.dirname, '..', '..', 'bench', 'results.md');

describe('bench/results.md sections a full bench run keeps', () => {
  const committed = readFileSync(RESULTS, 'utf8');

  it('marks every section no full run writes, so `npm run bench` does not drop it', () => {
    // What bench/run.ts writes itself; every other "## " section must be marked to survive a rewrite.
    const written = new Set(['Adversarial inputs (issue #12)', 'Adversarial JSON bodies (issue #20 item 1)', 'Hook vs floor', 'FHIR-fetch path (no prefetch)', 'Evaluator alone (no HTTP)', 'Memory at full load']);
    const inMarked = [...markedSections(committed).values()].join('\n');
    const headings = [...committed.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
    const unkept = headings.filter((h) => !written.has(h) && !inMarked.includes(`## ${h}\n`));
    expect(unkept).toEqual([]);
  });

  it('keeps the marked sections of the previous file that a new run did not write', () => {
    const generated = '# Benchmark results\n\n## Hook vs floor\n\nnew figures\n';
    const out = keepMarkedSections(generated, committed);
    expect(out.startsWith(generated.trimEnd())).toBe(true);
    expect([...markedSections(out).keys()]).toEqual([...markedSections(committed).keys()]);
  });

  it('replaces one section in place and leaves the others as they were', () => {
    const md = '# R\n\n<!-- a: cmd a -->\nA1\n<!-- /a -->\n\n<!-- b: cmd b -->\nB1\n<!-- /b -->\n';
    const out = replaceMarkedSection(md, 'a', '<!-- a: cmd a -->\nA2 $& $1\n<!-- /a -->');
    expect(out).toBe('# R\n\n<!-- a: cmd a -->\nA2 $& $1\n<!-- /a -->\n\n<!-- b: cmd b -->\nB1\n<!-- /b -->\n');
    expect(replaceMarkedSection(md, 'c', '<!-- c: x -->\nC\n<!-- /c -->')).toContain('B1\n<!-- /b -->\n\n<!-- c: x -->');
  });
});
