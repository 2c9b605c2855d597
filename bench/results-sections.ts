/**
 * bench/results.md holds two kinds of section: those a full `npm run bench` writes (bench/run.ts), and those
 * other benchmarks write or people keep by hand (population, large records from HAPI, PostgreSQL group commit,
 * hook cost). The second kind sits between `<!-- NAME: how to reproduce (no ">") -->` and `<!-- /NAME -->`, and a run
 * that rewrites the file keeps every such section it did not write itself.
 */

const SECTION = /<!-- ([a-z0-9-]+):[^>]*-->[\s\S]*?<!-- \/\1 -->/g;

/** The marked sections of a results text, by name, in order. */
export function markedSections(md: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of md.matchAll(SECTION)) out.set(m[1]!, m[0]);
  return out;
}

/** `generated` with every marked section of `previous` that `generated` does not hold, appended in their order. */
export function keepMarkedSections(generated: string, previous: string): string {
  const have = markedSections(generated);
  const kept = [...markedSections(previous)].filter(([name]) => !have.has(name)).map(([, text]) => text);
  return kept.length === 0 ? generated : `${generated.trimEnd()}\n\n${kept.join('\n\n')}\n`;
}

/** `md` with the marked section `name` replaced by `section` (which carries its own markers), or appended. */
export function replaceMarkedSection(md: string, name: string, section: string): string {
  const old = markedSections(md).get(name);
  return old === undefined ? `${md.trimEnd()}\n\n${section}\n` : md.replace(old, () => section);
}
