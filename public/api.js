/**
 * The service's JSON, as the page reads it (src/engine/types.ts and src/cds/render-cards.ts).
 * @typedef {'met' | 'not-met' | 'unknown' | 'review'} Outcome
 * @typedef {{ reference: string, display: string, value?: number | string, unit?: string, recorded?: string, date?: string, note?: string }} Evidence
 * @typedef {{ kind: 'prior-positive', text: string, evidence: Evidence }} Fact
 * @typedef {{ id: string, label: string, kind: string, outcome: Outcome, reason: string, evidence: Evidence[], missing?: string[], parts?: Part[], facts?: Fact[] }} Part
 * @typedef {{ id: string, type: 'inclusion' | 'exclusion', item: string, text: string, interpretation: string, outcome: Outcome, review: boolean, reason: string, evidence: Evidence[], missing: string[], parts: Part[], facts?: Fact[] }} Criterion
 * @typedef {{ code: string, codes?: string[], text: string, criteria?: string[], items?: string[] }} StatusReason
 * @typedef {{ name: string, role: string, phone?: string, email?: string }} StudyContact
 * @typedef {{ trialId: string, recruiting: boolean, why?: string, registry: { status: string, asPrinted: string, asOf?: string, source: string, stale: boolean, text: string }, site: { status: string, source: string, setAt?: string, setBy?: string, reason?: string }, contact?: StudyContact }} Availability
 * @typedef {{ trialId: string, nctId?: string, title: string, shortTitle: string, status: 'likely-eligible' | 'possibly-eligible' | 'ineligible', statusReason?: StatusReason, blocking: string[], notScreened?: { reason: string, evidence: Evidence[] }, criteria: Criterion[], evaluatedAt: string, availability?: Availability }} TrialEvaluation
 * @typedef {{ patient?: string, evaluatedAt: string, trials: TrialEvaluation[] }} Evaluation
 * @typedef {{ label: string, url: string, type?: string, appContext?: string }} CardLink
 * @typedef {{ label: string, uuid?: string, actions?: { type: string, description: string }[] }} Suggestion
 * @typedef {{ uuid?: string, summary: string, detail?: string, indicator: 'info' | 'warning' | 'critical', source: { label: string, url?: string, topic?: { code?: string, display?: string } }, links?: CardLink[], suggestions?: Suggestion[] }} Card
 * @typedef {{ id: string, name: string, summary: string }} ExampleSummary
 * @typedef {{ resourceType: string, id?: string, [key: string]: unknown }} Resource
 * @typedef {{ resourceType: 'Bundle', entry?: { resource?: Resource }[] }} Bundle
 * @typedef {{ id: string, hook: string, title?: string, prefetch?: Record<string, string> }} ServiceEntry
 */

/** A failed call, with what the service said (the OperationOutcome's diagnostics) and the HTTP status. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   */
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * JWT client authentication (CDS Hooks 2.0), as the service's development configuration offers it: ask
 * /dev/token for a token whose audience is the URL about to be called. 200: send it as a bearer token.
 * 404: authentication is off, send nothing. Anything else is a broken set-up, reported as such.
 * @param {string} url the URL about to be called, absolute or relative to the page
 * @returns {Promise<Record<string, string>>} the headers to add
 */
export async function authorizationFor(url) {
  const aud = new URL(url, location.href).href;
  const res = await fetch(`/dev/token?aud=${encodeURIComponent(aud)}`, { headers: { accept: 'application/json' } });
  if (res.status === 404) return {};
  if (res.status !== 200) throw new ApiError(`could not get a development token (HTTP ${res.status})`, res.status);
  /** @type {unknown} */
  const body = await res.json();
  const token = body && typeof body === 'object' && 'token' in body && typeof body.token === 'string' ? body.token : '';
  if (!token) throw new ApiError('the development token endpoint answered without a token', res.status);
  return { authorization: `Bearer ${token}` };
}

/**
 * The diagnostics of an OperationOutcome, one line per issue, or '' when the body is not one.
 * @param {unknown} body
 */
export function outcomeText(body) {
  if (!body || typeof body !== 'object' || !('resourceType' in body) || body.resourceType !== 'OperationOutcome') return '';
  const issues = 'issue' in body && Array.isArray(body.issue) ? /** @type {unknown[]} */ (body.issue) : [];
  return issues
    .map((i) => (i && typeof i === 'object' && 'diagnostics' in i && typeof i.diagnostics === 'string' ? i.diagnostics : ''))
    .filter((d) => d !== '')
    .join('\n');
}

/**
 * Calls the service and answers its JSON. Calls to the CDS Hooks and trial APIs carry authorization when
 * the service asks for it; a refusal becomes an ApiError carrying the OperationOutcome's diagnostics.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<unknown>}
 */
export async function callApi(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (/^\/(cds-services|trials)(\/|$)/.test(path)) Object.assign(headers, await authorizationFor(path));
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  } catch (err) {
    throw new ApiError(`the service could not be reached: ${err instanceof Error ? err.message : String(err)}`, 0);
  }
  const text = await res.text();
  /** @type {unknown} */
  let json = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) throw new ApiError(outcomeText(json) || `${method} ${path} failed with HTTP ${res.status}`, res.status);
  return json;
}
