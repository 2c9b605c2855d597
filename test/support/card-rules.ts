import { expect } from 'vitest';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** CDS Hooks 2.0 forbids null, "", [] and {} for optional fields (the only empty value is "cards": []). */
export function findEmptyValues(value: unknown, path = '$'): string[] {
  if (value === null) return [path];
  if (typeof value === 'string') return value === '' ? [path] : [];
  if (Array.isArray(value)) return value.length === 0 ? [path] : value.flatMap((v, i) => findEmptyValues(v, `${path}[${i}]`));
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    return entries.length === 0 ? [path] : entries.flatMap(([k, v]) => findEmptyValues(v, `${path}.${k}`));
  }
  return [];
}

/** Checks one card against the CDS Hooks 2.0 card rules (cds-resp-*, cds-r-* invariants). */
export function expectValidCard(card: Record<string, any>): void {
  expect(findEmptyValues(card)).toEqual([]);
  expect(card.uuid).toMatch(UUID);
  expect(typeof card.summary).toBe('string');
  expect(card.summary.length).toBeLessThan(140);
  expect(['info', 'warning', 'critical']).toContain(card.indicator);
  expect(card.source.label).toBeTruthy();
  expect(card.source.topic.system).toBeTruthy();
  expect(card.source.topic.code).toBeTruthy();
  expect(card.source.topic.display).toBeTruthy();
  // source.url: an absolute URL, so the EHR's "Source" link is not `#` (issue #11).
  expect(card.source.url).toMatch(/^https?:\/\/[^/]+\//);
  expect(card.links.length).toBeGreaterThan(0);
  for (const link of card.links) {
    expect(link.label).toBeTruthy();
    expect(['absolute', 'smart']).toContain(link.type);
    // The registry on the public web; the SMART app under the service's own base URL.
    expect(link.url).toMatch(link.type === 'absolute' ? /^https:\/\// : /^https?:\/\/[^/]+\/smart\/launch\.html$/);
    if (link.type === 'smart') expect(JSON.parse(link.appContext)).toEqual({ trialId: card.source.topic.code });
    else expect(link.appContext).toBeUndefined();
  }
  for (const r of card.overrideReasons ?? []) expect(r.display).toBeTruthy();
  // CDS Hooks 2.0 §Card Attributes: selectionBehavior is required with suggestions and means nothing without.
  if (card.suggestions === undefined) expect(card.selectionBehavior).toBeUndefined();
  else {
    expect(['at-most-one', 'any']).toContain(card.selectionBehavior);
    for (const s of card.suggestions) {
      expect(s.label).toBeTruthy();
      expect(s.uuid).toMatch(UUID);
      expect(s.actions.length).toBeGreaterThan(0);
    }
  }
}
