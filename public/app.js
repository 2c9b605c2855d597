import { ApiError, callApi } from './api.js';
import { ageAndSex, nameOf, parseBundle, patientOf, prefetchFor } from './fhir.js';
import { el, renderCards, renderEvaluation } from './render.js';

/** @typedef {import('./api.js').Bundle} Bundle */
/** @typedef {import('./api.js').Card} Card */
/** @typedef {import('./api.js').Evaluation} Evaluation */
/** @typedef {import('./api.js').ExampleSummary} ExampleSummary */
/** @typedef {import('./api.js').ServiceEntry} ServiceEntry */

/**
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/**
 * @template {Element} T
 * @param {string} selector
 * @param {{ new (): T }} type
 * @returns {T}
 */
function one(selector, type) {
  const node = document.querySelector(selector);
  if (!(node instanceof type)) throw new Error(`the page has no ${selector}`);
  return node;
}

const ui = {
  examples: byId('examples'),
  banner: byId('banner'),
  status: byId('status'),
  cards: byId('cards'),
  criteria: byId('criteria'),
  cardsError: one('[data-testid="cards-error"]', HTMLElement),
  criteriaError: one('[data-testid="criteria-error"]', HTMLElement),
  calls: byId('calls'),
  hookEndpoint: byId('hook-endpoint'),
  criteriaEndpoint: byId('criteria-endpoint'),
  pasteForm: one('#paste-form', HTMLFormElement),
  bundleText: one('#bundle-text', HTMLTextAreaElement),
  bundleFile: one('#bundle-file', HTMLInputElement),
  serverForm: one('#server-form', HTMLFormElement),
  fhirServer: one('#fhir-server', HTMLInputElement),
  patientId: one('#patient-id', HTMLInputElement),
  accessToken: one('#access-token', HTMLInputElement),
};

/** A v4 UUID for hookInstance; crypto.randomUUID exists only on secure origins (not http://192.168…). */
function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Calls the service and notes the call (method, path, status, time) for the integrator reading the page.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 */
async function call(method, path, body) {
  const started = performance.now();
  const item = el('li', {}, `${method} ${path} …`);
  ui.calls.prepend(item);
  try {
    const result = await callApi(method, path, body);
    item.textContent = `${method} ${path} → 200 in ${Math.round(performance.now() - started)} ms`;
    return result;
  } catch (err) {
    item.textContent = `${method} ${path} → ${err instanceof ApiError && err.status ? `HTTP ${err.status}` : 'failed'}`;
    throw err;
  }
}

/**
 * @param {HTMLElement} box
 * @param {unknown} err
 */
function showError(box, err) {
  const status = err instanceof ApiError && err.status ? `HTTP ${err.status}: ` : '';
  box.replaceChildren(el('strong', {}, 'The service refused the call. '), el('span', { class: 'diagnostics', 'data-testid': 'diagnostics' }, `${status}${err instanceof Error ? err.message : String(err)}`));
  box.hidden = false;
}

/** @type {ServiceEntry | undefined} */
let service;
/** @type {Map<string, Bundle>} */
const exampleBundles = new Map();
let run = 0;

/**
 * @param {{ name: string, detail: string, source: string }} who
 */
function showBanner(who) {
  ui.banner.replaceChildren(el('strong', { class: 'banner-name', 'data-testid': 'banner-name' }, who.name), el('span', {}, who.detail), el('span', { class: 'banner-source' }, who.source));
  ui.banner.hidden = false;
}

/**
 * Fires the hook and the evaluation side by side and shows both; a failure in one leaves the other shown.
 * @param {{ hookRequest: () => Promise<unknown>, evaluate: () => Promise<unknown>, criteriaPath: string }} how
 */
async function openChart(how) {
  if (!service) throw new Error('the service discovery did not load');
  const mine = ++run;
  const hookPath = `/cds-services/${service.id}`;
  ui.hookEndpoint.textContent = `POST ${hookPath}`;
  ui.criteriaEndpoint.textContent = `POST ${how.criteriaPath}`;
  for (const box of [ui.cardsError, ui.criteriaError]) box.hidden = true;
  ui.cards.replaceChildren();
  ui.criteria.replaceChildren();
  ui.cards.setAttribute('aria-busy', 'true');
  ui.criteria.setAttribute('aria-busy', 'true');
  ui.status.textContent = 'Calling the service…';
  const cardsDone = how
    .hookRequest()
    .then((request) => call('POST', hookPath, request))
    .then((response) => {
      if (mine !== run) return;
      const cards = /** @type {{ cards?: Card[] }} */ (response).cards ?? [];
      ui.cards.replaceChildren(renderCards(cards));
      return cards.length;
    })
    .catch((err) => {
      if (mine === run) showError(ui.cardsError, err);
    })
    .finally(() => ui.cards.removeAttribute('aria-busy'));
  const criteriaDone = how
    .evaluate()
    .then((response) => {
      if (mine !== run) return;
      ui.criteria.replaceChildren(renderEvaluation(/** @type {Evaluation} */ (response)));
    })
    .catch((err) => {
      if (mine === run) showError(ui.criteriaError, err);
    })
    .finally(() => ui.criteria.removeAttribute('aria-busy'));
  const [count] = await Promise.all([cardsDone, criteriaDone]);
  if (mine !== run) return;
  ui.status.textContent = count === undefined ? 'Done, with errors: see below.' : `Done: ${count} card${count === 1 ? '' : 's'}.`;
  document.body.dataset.state = 'done';
}

/** @param {string} id */
async function openExample(id) {
  const bundle = exampleBundles.get(id);
  for (const b of ui.examples.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.example === id));
  const patient = bundle ? patientOf(bundle) : undefined;
  showBanner({ name: nameOf(patient), detail: ageAndSex(patient, new Date()), source: 'example patient, sent as prefetch' });
  await openChart({
    hookRequest: () => call('GET', `/examples/${encodeURIComponent(id)}/hook-request`),
    evaluate: async () => call('POST', '/trials/$evaluate', bundle ?? (await call('GET', `/examples/${encodeURIComponent(id)}/bundle`))),
    criteriaPath: '/trials/$evaluate',
  });
}

/** @param {Bundle} bundle */
async function openBundle(bundle) {
  const patient = patientOf(bundle);
  const patientId = String(patient?.id);
  for (const b of ui.examples.querySelectorAll('button')) b.setAttribute('aria-pressed', 'false');
  showBanner({ name: nameOf(patient), detail: ageAndSex(patient, new Date()), source: 'your Bundle, sent as prefetch' });
  const hookRequest = {
    hook: 'patient-view',
    hookInstance: uuid(),
    context: { userId: 'Practitioner/demo', patientId },
    prefetch: prefetchFor(bundle, service?.prefetch ?? {}),
  };
  await openChart({ hookRequest: async () => hookRequest, evaluate: () => call('POST', '/trials/$evaluate', bundle), criteriaPath: '/trials/$evaluate' });
}

/**
 * @param {string} fhirServer
 * @param {string} patientId
 * @param {string} accessToken
 */
async function openFromServer(fhirServer, patientId, accessToken) {
  for (const b of ui.examples.querySelectorAll('button')) b.setAttribute('aria-pressed', 'false');
  showBanner({ name: `Patient/${patientId}`, detail: fhirServer, source: 'read by the service from the FHIR server' });
  // No prefetch: the service fetches every key itself, with the token when one is given.
  const hookRequest = {
    hook: 'patient-view',
    hookInstance: uuid(),
    fhirServer,
    context: { userId: 'Practitioner/demo', patientId },
    ...(accessToken ? { fhirAuthorization: { access_token: accessToken, token_type: 'Bearer', expires_in: 300, scope: 'patient/*.read', subject: 'Practitioner/demo' } } : {}),
  };
  await openChart({
    hookRequest: async () => hookRequest,
    evaluate: () => call('POST', '/trials/$evaluate-from-server', { fhirServer, patientId, ...(accessToken ? { accessToken } : {}) }),
    criteriaPath: '/trials/$evaluate-from-server',
  });
}

/** The example list: name, age and sex from each bundle, and the one-line summary from /examples. */
async function loadExamples() {
  const discovery = /** @type {{ services: ServiceEntry[] }} */ (await call('GET', '/cds-services'));
  service = discovery.services.find((s) => s.hook === 'patient-view');
  if (!service) throw new Error('the service offers no patient-view hook');
  ui.hookEndpoint.textContent = `POST /cds-services/${service.id}`;
  const { patients } = /** @type {{ patients: ExampleSummary[] }} */ (await call('GET', '/examples'));
  await Promise.all(patients.map(async (p) => exampleBundles.set(p.id, /** @type {Bundle} */ (await call('GET', `/examples/${encodeURIComponent(p.id)}/bundle`)))));
  const now = new Date();
  ui.examples.replaceChildren(
    ...patients.map((p) => {
      const patient = (() => {
        const b = exampleBundles.get(p.id);
        return b ? patientOf(b) : undefined;
      })();
      const button = el(
        'button',
        { type: 'button', class: 'example', 'data-example': p.id, 'aria-pressed': 'false' },
        el('span', { class: 'example-name' }, p.name),
        el('span', { class: 'example-meta', 'data-testid': 'age-sex' }, ageAndSex(patient, now)),
        el('span', { class: 'example-summary' }, p.summary),
      );
      button.addEventListener('click', () => void openExample(p.id));
      return el('li', {}, button);
    }),
  );
  ui.examples.removeAttribute('aria-busy');
}

ui.bundleFile.addEventListener('change', () => {
  const file = ui.bundleFile.files?.[0];
  if (!file) return;
  void file.text().then((text) => {
    ui.bundleText.value = text;
  });
});

ui.pasteForm.addEventListener('submit', (event) => {
  event.preventDefault();
  let bundle;
  try {
    bundle = parseBundle(ui.bundleText.value);
  } catch (err) {
    ui.status.textContent = '';
    ui.cards.replaceChildren();
    ui.criteria.replaceChildren();
    showError(ui.cardsError, err);
    ui.criteriaError.hidden = true;
    return;
  }
  void openBundle(bundle);
});

ui.serverForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const fhirServer = ui.fhirServer.value.trim().replace(/\/+$/, '');
  const patientId = ui.patientId.value.trim();
  if (!ui.serverForm.reportValidity() || !fhirServer || !patientId) return;
  void openFromServer(fhirServer, patientId, ui.accessToken.value.trim());
});

loadExamples().catch((err) => {
  ui.examples.removeAttribute('aria-busy');
  ui.examples.replaceChildren(el('li', { class: 'error', role: 'alert' }, `Could not load the example patients: ${err instanceof Error ? err.message : String(err)}`));
});
