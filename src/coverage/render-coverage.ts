import type { ReadResult } from './read-records.js';
import type { CodeCount, CoverageReport } from './terminology-coverage.js';

/** The coverage report as Markdown, for a site's terminology team. */
export function renderCoverage(source: string, read: ReadResult, report: CoverageReport): string {
  const lines: string[] = [
    `# Terminology coverage: ${source}`,
    '',
    `${read.files} files, ${report.resources} resources (${report.clinicalResources} clinical items the criteria can read), ${report.patients} patients.` +
      (read.skipped.length > 0 ? ` ${read.skipped.length} files or lines skipped (not FHIR JSON).` : ''),
    '',
    '## Codes by system',
    '',
    '| system | known | codes seen | in a list | in no list | unplaced |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...report.systems.map((s) => `| ${s.system} | ${s.known ? 'yes' : 'no'} | ${s.codesSeen} | ${s.codesPlaced} | ${s.codesInNoList} | ${s.codesUnplaced} |`),
    '',
    '"In no list" codes are of a system the lists use and are read as "not this concept". "Unplaced" codes are of a',
    'system no list uses: the service cannot read them, and a criterion that reads their type stays unknown or goes',
    'to review rather than be decided by their absence. Map them with a ConceptMap or add them to a list.',
    '',
  ];
  const placed = report.systems.filter((s) => s.top.placed.length > 0);
  if (placed.length > 0) {
    lines.push('## Codes placed in lists (most frequent)', '');
    for (const s of placed) lines.push(`- ${s.system}: ${s.top.placed.map(codeText).join('; ')}`);
    lines.push('');
  }
  const inNoList = report.systems.filter((s) => s.top.inNoList.length > 0);
  if (inNoList.length > 0) {
    lines.push('## Codes of known systems in no list (most frequent: check none of them is missing from a list)', '');
    for (const s of inNoList) lines.push(`- ${s.system}: ${s.top.inNoList.map(codeText).join('; ')}`);
    lines.push('');
  }
  const unknown = report.systems.filter((s) => s.top.unplaced.length > 0);
  if (unknown.length > 0) {
    lines.push('## Codes of systems no list uses (most frequent)', '');
    for (const s of unknown) lines.push(`- ${s.system}: ${s.top.unplaced.map(codeText).join('; ')}`);
    lines.push('');
  }
  lines.push('## Items the service cannot place', '');
  if (report.unplacedItems.length === 0) lines.push('None: every item has a coding in a system the lists use.', '');
  else {
    lines.push('| type | text | items | named in lists |', '| --- | --- | ---: | --- |');
    for (const u of report.unplacedItems.slice(0, 40)) lines.push(`| ${u.resourceType} | ${cell(u.text)} | ${u.count} | ${u.namedIn.join(', ') || '-'} |`);
    if (report.unplacedItems.length > 40) lines.push(`| … | ${report.unplacedItems.length - 40} more | | |`);
    lines.push('');
  }
  lines.push('## Criteria that read unplaced items', '');
  if (report.criteria.length === 0) lines.push('None.', '');
  else {
    lines.push('| trial | criterion | reads | unplaced items | patients |', '| --- | --- | --- | ---: | ---: |');
    for (const c of report.criteria) lines.push(`| ${c.trialId} | ${c.criterionId} | ${c.resourceTypes.join(', ')} | ${c.unplacedItems} | ${c.patients} |`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

function codeText(c: CodeCount): string {
  const lists = c.lists.length > 0 ? ` → ${c.lists.join(', ')}` : '';
  return `${c.code}${c.display ? ` ${c.display}` : ''} ×${c.count}${lists}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
