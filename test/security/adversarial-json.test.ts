import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/loopback.js';
import { startReplica, type Replica } from '../support/replica.js';
import { pollHealthz, postBody as post, type Sent } from '../support/healthz-probe.js';
import { BASE, makeIssuer, writeTrust, type TestIssuer } from './helpers.js';
import { adversarialJson, type AdversarialJsonKind, ADVERSARIAL_JSON_KINDS } from '../support/adversarial-json.js';
import { JSON_BOUNDS, JsonShapeCheck } from '../../src/http/bounded-json.js';
import { largeLupusRecord } from '../../scripts/build-large-record.js';

/**
 * Issue #20 item 1: no body blocks the service. On main a 10 MiB body nested 4 million deep blocked /healthz for
 * 2.7 to 7.1 s, an object of 883,000 keys for 4.2 s. Here adversarial bodies within the body limit arrive over a
 * real socket, with authentication on, from callers without a token, on paths no route serves, and from a
 * trusted EHR; meanwhile /healthz is asked over another connection, one call after another, and must answer
 * each within 50 ms. (On main the trusted EHR's deep or many-keyed body is parsed whole: /healthz waits.) The
 * service runs in a process of its own (node src/server.ts), as in production: the sender's work is not
 * counted against it. A machine shared with other work delays even an idle /healthz (up to 60 ms was seen
 * with a load of 19 on two cores), so the bound is 50 ms plus the worst of the same polling measured idle just
 * before; alone on the machine (CI) that is a few ms. A body parsed whole (0.5 s and more on main) fails either way.
 */
const HEALTHZ_BOUND_MS = 50;
/**
 * A trusted EHR's body inside every bound is parsed whole by JSON.parse, on the event loop: a body of about a
 * million small values (1.3 MiB) held /healthz for 64 ms in CI, with the test suite running beside it, and one of
 * 1.1 million empty objects (3.4 MiB) 280 ms on a quiet machine, until the bound on objects and arrays
 * (JSON_BOUNDS.maxContainers, 400,000: about 80 to 100 ms of JSON.parse). Bounded, not under 50 ms; a parse off the
 * event loop would be its own change.
 */
const TRUSTED_HEALTHZ_BOUND_MS = 250;
const HOOK = '/cds-services/trialmatch-sle';

type Caller = 'no-token' | 'unknown-path' | 'smart-no-token' | 'trusted-ehr';

describe('JSON bodies with bounded shape (issue #20 item 1)', () => {
  let service: Replica;
  let url: string;
  /** The worst idle /healthz latency on this machine now: scheduling noise, not the service's doing. */
  let idleWorst = 0;
  let ehr: TestIssuer;
  const dir = mkdtempSync(resolve(tmpdir(), 'trialmatch-json-'));
  beforeAll(async () => {
    ehr = await makeIssuer('https://ehr.example.org');
    service = await startReplica('json', await freePort(), {
      AUTH_MODE: 'on',
      TRUST_CONFIG: writeTrust({ issuers: [{ issuer: ehr.issuer, jwks: { keys: [ehr.publicJwk] } }] }),
      PUBLIC_BASE_URL: BASE,
      FEEDBACK_FILE: resolve(dir, 'feedback.jsonl'),
      // The trusted EHR sends many bodies in a minute; the limits have tests of their own.
      RATE_LIMIT: 'off',
    });
    url = service.url;
    // Warm: the first calls compile the routes and import the issuer's key.
    await post(url, HOOK, Buffer.from('{}'), { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${HOOK}` })}` });
    await pollHealthz(url, new Promise((r) => setTimeout(r, 50)));
    for (let i = 0; i < 3; i++) idleWorst = Math.max(idleWorst, (await pollHealthz(url, new Promise((r) => setTimeout(r, 1000)))).worst);
  }, 90_000);
  afterAll(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function send(caller: Caller, body: Buffer): Promise<Sent> {
    switch (caller) {
      case 'no-token':
        return post(url, HOOK, body, {});
      case 'unknown-path':
        return post(url, '/cds-services-nope/feedback', body, {});
      case 'smart-no-token':
        return post(url, '/smart/$evaluate', body, {});
      case 'trusted-ehr':
        return post(url, HOOK, body, { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${HOOK}` })}` });
    }
  }

  it(`keeps /healthz under ${HEALTHZ_BOUND_MS} ms while adversarial bodies within the body limit arrive (${TRUSTED_HEALTHZ_BOUND_MS} ms from a trusted EHR)`, async () => {
    const worstSeen: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<AdversarialJsonKind>(...ADVERSARIAL_JSON_KINDS),
        fc.constantFrom<Caller>('no-token', 'unknown-path', 'smart-no-token', 'trusted-ehr'),
        fc.integer({ min: 512 * 1024, max: 9 * 1024 * 1024 }),
        async (kind, caller, bytes) => {
          const body = adversarialJson(kind, bytes);
          // A blocked loop is blocked every time; a machine's scheduling noise seldom twice in a row. So a case
          // over the bound is sent once more, and fails only if it is over the bound again.
          let last = '';
          for (let attempt = 0; attempt < 2; attempt++) {
            const sent = send(caller, body);
            const { worst, calls } = await pollHealthz(url, sent);
            const res = await sent;
            expect(res.status, `${kind} from ${caller}: ${res.body}`).toBeGreaterThanOrEqual(400);
            expect(res.status, `${kind} from ${caller}: ${res.body}`).toBeLessThan(500);
            last = `${kind} from ${caller}, ${bytes} bytes: /healthz took ${worst.toFixed(1)} ms over ${calls} calls (idle worst ${idleWorst.toFixed(1)} ms)`;
            if (worst < (caller === 'trusted-ehr' ? TRUSTED_HEALTHZ_BOUND_MS : HEALTHZ_BOUND_MS) + idleWorst) {
              worstSeen.push(last);
              return;
            }
          }
          expect.fail(last);
        },
      ),
      { numRuns: 16 },
    );
    expect(worstSeen).toHaveLength(16);
  }, 120_000);

  it('refuses a trusted EHR\'s body past a bound with a 400 OperationOutcome naming the bound', async () => {
    const auth = { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${HOOK}` })}` };
    const cases: [AdversarialJsonKind, RegExp][] = [
      ['deep-arrays', new RegExp(`nested more than ${JSON_BOUNDS.maxDepth} levels deep \\(the limit\\)`)],
      ['deep-objects', new RegExp(`nested more than ${JSON_BOUNDS.maxDepth} levels deep`)],
      ['many-keys', new RegExp(`more than ${JSON_BOUNDS.maxKeysPerObject} keys \\(the limit\\)`)],
      ['many-values', new RegExp(`more than ${JSON_BOUNDS.maxContainers} objects and arrays \\(the limit\\)`)],
      ['long-string', new RegExp(`longer than ${JSON_BOUNDS.maxStringLength} characters \\(the limit\\)`)],
    ];
    // Past the bound on values with no object at all: numbers side by side.
    const numbers = await post(url, HOOK, Buffer.from(`{"hook":"patient-view","prefetch":[${'1,'.repeat(JSON_BOUNDS.maxValues)}1]}`), { authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${HOOK}` })}` });
    expect(numbers.status).toBe(400);
    expect(JSON.parse(numbers.body)).toMatchObject({ issue: [{ diagnostics: expect.stringMatching(new RegExp(`more than ${JSON_BOUNDS.maxValues} keys and values \\(the limit\\)`)) }] });
    for (const [kind, message] of cases) {
      const res = await post(url, HOOK, adversarialJson(kind, 9 * 1024 * 1024), { ...auth, authorization: `Bearer ${await ehr.sign({ aud: `${BASE}${HOOK}` })}` });
      expect(res.status, kind).toBe(400);
      expect(JSON.parse(res.body), kind).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid', diagnostics: expect.stringMatching(message) }] });
    }
  });
});

describe('the bound on objects and arrays (JSON_BOUNDS.maxContainers)', () => {
  it('lets the densest real record through whole (vital signs: 304,000 objects and arrays in 15 MB), and refuses the first past the bound', () => {
    const dense = Buffer.from(JSON.stringify({ hook: 'patient-view', prefetch: { everything: largeLupusRecord() } }));
    const check = new JsonShapeCheck(JSON_BOUNDS);
    for (let i = 0; i < dense.length; i += 64 * 1024) check.write(dense.subarray(i, i + 64 * 1024));
    const past = new JsonShapeCheck(JSON_BOUNDS);
    expect(() => past.write(Buffer.from(`[${'{},'.repeat(JSON_BOUNDS.maxContainers - 1)}{}]`))).toThrow(/objects and arrays \(the limit\)/);
    expect(() => new JsonShapeCheck(JSON_BOUNDS).write(Buffer.from(`[${'{},'.repeat(JSON_BOUNDS.maxContainers - 2)}{}]`))).not.toThrow();
  });
});
