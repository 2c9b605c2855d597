import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, testApp } from '../support/app.js';

/**
 * Issue #21 item 3: the README's "Try it" fired one patient and showed another patient's card. The section's
 * commands are run here the way the README gives them (the hook request from /examples/{id}/hook-request, posted
 * to the service), and the cards it shows must be the ones that come back.
 */

const README = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
const TRY_IT = README.slice(README.indexOf('## Try it'), README.indexOf('\n## ', README.indexOf('## Try it') + 1));

/** The JSON blocks of the section, as written (a "…" element stands for what was shortened). */
function jsonBlocks(): string[] {
  return [...TRY_IT.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** The example a curl line of the section fetches its hook request from. */
function firedExamples(): string[] {
  return [...TRY_IT.matchAll(/\/examples\/([a-z0-9-]+)\/hook-request/g)].map((m) => m[1] ?? '');
}

describe("README 'Try it'", () => {
  let app: FastifyInstance;
  beforeAll(() => {
    app = testApp();
  });
  afterAll(async () => app.close());

  async function fire(id: string): Promise<{ summary: string; source: { topic: { code: string } }; suggestions?: { label: string }[] }[]> {
    const request = (await app.inject({ method: 'GET', url: `/examples/${id}/hook-request` })).json();
    const res = await app.inject({ method: 'POST', url: '/cds-services/trialmatch-sle', payload: request });
    expect(res.statusCode).toBe(200);
    return res.json().cards;
  }

  it('shows, as the first card, the first card of the patient its command fires', async () => {
    const [fired] = firedExamples();
    expect(fired).toBe('sle-child-likely');
    const shown = JSON.parse(jsonBlocks()[0] ?? '{}') as { summary: string; source: { topic: { code: string } }; extension: Record<string, { status: string }> };
    const cards = await fire(fired ?? '');
    expect(cards[0]?.summary).toBe(shown.summary);
    expect(cards[0]?.source.topic.code).toBe(shown.source.topic.code);
    expect(TRY_IT).toContain(`Three cards come back for Mei`);
    expect(cards).toHaveLength(3);
  });

  it('shows the draft-order suggestion on the first card of the patient it names for it', async () => {
    const named = firedExamples()[1];
    expect(named).toBe('sle-teen-missing-tests');
    const block = jsonBlocks()[1] ?? '';
    const label = /"label": "([^"]+)"/.exec(block)?.[1];
    const cards = await fire(named ?? '');
    expect(cards[0]?.suggestions?.[0]?.label).toBe(label);
    expect(block).toContain('"reference": "Patient/sle-teen-missing-tests"');
  });
});
