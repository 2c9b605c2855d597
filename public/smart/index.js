// The SMART app's page (issue #11 item 4): fhirclient completes the launch, the page reads the patient's
// record from the EHR with the user's access token, asks the service to evaluate it (POST /smart/$evaluate,
// the same token as proof), and shows the whole check for the trial the card named (appContext) first.
// Patient data lives in this page's memory only: nothing is written to localStorage or sessionStorage
// (fhirclient keeps its own launch state in sessionStorage).
import { ageAndSex, nameOf } from '/demo/fhir.js';
import { el, factsOf, renderEvaluation, siteStatusBlock, trialHeading } from '/demo/render.js';

/** @typedef {import('/demo/api.js').Bundle} Bundle */
/** @typedef {import('/demo/api.js').Resource} Resource */
/** @typedef {import('/demo/api.js').Part} Part */
/** @typedef {import('/demo/api.js').Criterion & { open?: Part[], clearsOn?: string, clearsAfter?: string }} Criterion */
/** @typedef {Omit<import('/demo/api.js').TrialEvaluation, 'criteria'> & { criteria: Criterion[] }} TrialEvaluation */
/** @typedef {{ patient?: string, evaluatedAt: string, trials: TrialEvaluation[] }} Evaluation */
/** @typedef {import('fhirclient/lib/Client').default} Client */

// fhirclient's browser build is a UMD script that defines window.FHIR; the cast gives it its own types (the
// lint rule sees only Reflect.get's any, not the JSDoc cast).
// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const SMART = /** @type {typeof import('fhirclient/lib/entry/browser')} */ (Reflect.get(window, 'FHIR'));

/**
 * What the service's criteria read (the searches of cds-hooks/services.json, without their code filters: the
 * app does not know the code lists). Every page is followed (pageLimit 0).
 */
const SEARCHES = [
  'Condition?patient={id}&_count=200',
  'Observation?patient={id}&_count=200',
  'MedicationStatement?patient={id}&_include=MedicationStatement:medication&_count=200',
  'MedicationRequest?patient={id}&_include=MedicationRequest:medication&_count=200',
  'MedicationAdministration?patient={id}&_include=MedicationAdministration:medication&_count=200',
  'MedicationDispense?patient={id}&_include=MedicationDispense:medication&_count=200',
  'Procedure?patient={id}&_count=200',
  'Immunization?patient={id}&_count=200',
];

const STATUS_WORDS = { 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible', ineligible: 'Not eligible' };

/** Who settles a review item: the `review` kinds' reasons (src/engine/rules/review.ts), in the order shown. */
const REVIEW_GROUPS = /** @type {const} */ ([
  ['screening-test', 'Study team at screening (tests done at the screening visit)'],
  ['consent', 'Consent (patient and family, with the study team)'],
  ['judgement', "Investigator's or treating clinician's judgement"],
  ['not-coded', 'Study team, from the notes (not coded in the record)'],
  ['record', 'Study team: not settled by the record, to check'],
]);

/** @param {string} text */
function setStatus(text, error = false) {
  const status = /** @type {HTMLElement} */ (document.getElementById('status'));
  status.textContent = text;
  status.className = error ? 'error' : '';
}

/** @param {Criterion} c */
function criterionName(c) {
  return `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}`;
}

/** @param {Part} p @returns {Part[]} */
function leaves(p) {
  return p.parts ? p.parts.flatMap(leaves) : [p];
}

/** @param {Part} p */
function reviewGroupOf(p) {
  const m = /^for review \(([a-z-]+)\)$/.exec(p.reason);
  return m && REVIEW_GROUPS.some(([k]) => k === m[1]) ? m[1] : 'record';
}

/**
 * The summary above the trial's criterion table: status, when each washout clears, the data that would
 * settle the open criteria, and the review list grouped by who does it.
 * @param {TrialEvaluation} t
 */
function focusSummary(t) {
  const box = el('div', { class: 'focus-summary', 'data-testid': 'focus-summary', 'data-trial': t.trialId });
  box.append(el('h2', {}, el('span', { class: `status status-${t.status}`, 'data-testid': 'focus-status' }, STATUS_WORDS[t.status] ?? t.status), ` ${trialHeading(t)}`));
  // Issue #19 item 3: a trial not recruiting here has no card; the app says why, and whom to contact.
  const site = siteStatusBlock(t);
  if (site) box.append(site);
  // Issue 18 item 4: a positive the record holds outside a criterion's window comes first, with value and date.
  const facts = factsOf(t);
  if (facts.length > 0) {
    box.append(
      el('h3', {}, 'Positive in the record, outside the window'),
      el('ul', { class: 'facts', 'data-testid': 'focus-facts' }, ...facts.map((f) => el('li', {}, `${f.text} (${criterionName(f.criterion)})`))),
    );
  }
  // Issue 18 item 5: why this status, in the service's words.
  if (t.statusReason) {
    box.append(
      el(
        'div',
        { class: 'status-reason', 'data-testid': 'focus-status-reason' },
        el('strong', {}, 'Why this status: '),
        t.statusReason.text,
        ...(t.statusReason.items && t.statusReason.items.length > 0 ? [el('ul', {}, ...t.statusReason.items.map((i) => el('li', {}, i)))] : []),
      ),
    );
  }
  const clearing = t.criteria.filter((c) => c.clearsOn);
  if (clearing.length > 0) {
    box.append(
      el('h3', {}, 'When a washout or look-back clears'),
      el('ul', { 'data-testid': 'clears' }, ...clearing.map((c) => el('li', { class: 'clears' }, `${criterionName(c)} no longer applies from ${c.clearsOn}: ${c.clearsAfter ?? ''}`))),
    );
  }
  const missing = t.criteria.filter((c) => c.missing.length > 0);
  if (missing.length > 0) {
    box.append(
      el('h3', {}, 'Data missing from the record'),
      el('ul', { 'data-testid': 'missing-summary' }, ...missing.map((c) => el('li', {}, `${criterionName(c)}: ${c.missing.join('; ')}`))),
    );
  }
  /** @type {Map<string, string[]>} */
  const groups = new Map();
  for (const c of t.criteria) {
    const open = c.open ?? c.parts.flatMap(leaves);
    for (const p of open) {
      if (p.outcome !== 'review') continue;
      const key = reviewGroupOf(p);
      const list = groups.get(key) ?? [];
      // Review kinds say only "for review (...)": the group says it. Other review parts say why in their reason.
      list.push(`${criterionName(c)}: ${p.label}${key === 'record' && p.reason ? ` (${p.reason})` : ''}`);
      groups.set(key, list);
    }
  }
  if (groups.size > 0) {
    const wrap = el('div', { 'data-testid': 'review-groups' }, el('h3', {}, 'For review, by who does it'));
    for (const [key, label] of REVIEW_GROUPS) {
      const items = groups.get(key);
      if (items) wrap.append(el('div', { class: 'review-group', 'data-review-group': key }, el('h4', {}, `${label} (${items.length})`), el('ul', {}, ...items.map((i) => el('li', {}, i)))));
    }
    box.append(wrap);
  }
  return box;
}

/** The trial the card's link named (SMART App Launch 2.x appContext: a JSON string `{"trialId": ...}`). */
function trialFromAppContext(/** @type {unknown} */ appContext) {
  if (typeof appContext !== 'string') return undefined;
  try {
    const parsed = /** @type {unknown} */ (JSON.parse(appContext));
    const id = parsed && typeof parsed === 'object' ? /** @type {unknown} */ (Reflect.get(parsed, 'trialId')) : undefined;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The record, read with the user's token. A search the EHR refuses stops here: the service would read the
 * absence as "none recorded", which could hide an exclusion (clinical safety rule 3).
 * @param {Client} client @param {string} patientId
 * @returns {Promise<Bundle>}
 */
async function readRecord(client, patientId) {
  const patient = /** @type {Resource} */ (await client.request(`Patient/${encodeURIComponent(patientId)}`));
  const lists = await Promise.all(
    SEARCHES.map(async (s) => {
      const url = s.replace('{id}', encodeURIComponent(patientId));
      try {
        return /** @type {Resource[]} */ (await client.request(url, { pageLimit: 0, flat: true }));
      } catch (err) {
        throw new Error(`the EHR did not answer ${url.split('?')[0]}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  /** @type {Map<string, Resource>} */
  const seen = new Map([[`Patient/${patient.id ?? ''}`, patient]]);
  for (const r of lists.flat()) if (r && r.resourceType !== 'OperationOutcome') seen.set(`${r.resourceType}/${r.id ?? seen.size}`, r);
  return { resourceType: 'Bundle', entry: [...seen.values()].map((resource) => ({ resource })) };
}

/**
 * @param {Client} client @param {Bundle} bundle
 * @returns {Promise<Evaluation>}
 */
async function evaluate(client, bundle) {
  const token = client.state.tokenResponse?.access_token;
  if (!token) throw new Error('the launch gave no access token');
  // ?iss= names the SMART server to check the token at before the service reads the body (issue #20 item 1).
  const res = await fetch(`$evaluate?iss=${encodeURIComponent(client.state.serverUrl)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ fhirServer: client.state.serverUrl, bundle }),
    cache: 'no-store',
  });
  const body = /** @type {unknown} */ (await res.json().catch(() => undefined));
  if (!res.ok) {
    const diag = body && typeof body === 'object' ? /** @type {{ issue?: { diagnostics?: string }[] }} */ (body).issue?.[0]?.diagnostics : undefined;
    throw new Error(`the service refused (${res.status}): ${diag ?? res.statusText}`);
  }
  return /** @type {Evaluation} */ (body);
}

async function main() {
  const client = await SMART.oauth2.ready();
  const patientId = client.getPatientId();
  if (!patientId) throw new Error('the launch has no patient in context');
  const bundle = await readRecord(client, patientId);
  const patient = bundle.entry?.[0]?.resource;
  const header = /** @type {HTMLElement} */ (document.getElementById('patient'));
  header.replaceChildren(el('p', { class: 'patient-line' }, `${nameOf(patient)}, ${ageAndSex(patient, new Date())} · ${(bundle.entry?.length ?? 1) - 1} records read`));
  setStatus('Screening the record…');
  const evaluation = await evaluate(client, bundle);
  const trialId = trialFromAppContext(client.state.tokenResponse?.appContext);
  const focus = evaluation.trials.find((t) => t.trialId === trialId);
  const others = evaluation.trials.filter((t) => t !== focus);
  const focusSection = /** @type {HTMLElement} */ (document.getElementById('focus'));
  const othersSection = /** @type {HTMLElement} */ (document.getElementById('others'));
  if (focus) {
    focusSection.replaceChildren(focusSummary(focus), renderEvaluation({ evaluatedAt: evaluation.evaluatedAt, trials: [focus] }));
  }
  othersSection.replaceChildren(
    el('h2', { class: 'others-title' }, focus ? 'The other trials' : trialId ? `Trial "${trialId}" is not one the service knows: every trial` : 'Every trial'),
    renderEvaluation({ evaluatedAt: evaluation.evaluatedAt, trials: others }),
  );
  setStatus(`Screened on ${evaluation.evaluatedAt.slice(0, 10)}. A screening aid: the study team decides eligibility.`);
}

main().catch((/** @type {unknown} */ err) => setStatus(`Could not screen this patient: ${err instanceof Error ? err.message : String(err)}`, true));
