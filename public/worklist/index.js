// The coordinator's worklist page (issue #19 item 2): fhirclient completes the standalone launch, and the page
// reads the trials' worklists from the service (GET /worklist, /worklist/{trial}) with the user's access token
// as proof, sets patient states (PUT /worklist/{trial}/state) and downloads the CSV. Patient data lives in this
// page's memory only (fhirclient keeps its own launch state in sessionStorage).

/** @typedef {{ name: string, role: string, phone?: string, email?: string }} StudyContact */
/** @typedef {{ trialId: string, recruiting: boolean, why?: string, registry: { text: string, stale: boolean }, site: { status: string, source: string, setAt?: string, setBy?: string, reason?: string }, contact?: StudyContact }} Availability */
/** @typedef {{ id: string, title: string, shortTitle: string, screenedAt?: string, candidates: number, likely: number, possibly: number, new: number, availability?: Availability }} TrialCount */
/** @typedef {{ trials: TrialCount[], states: string[], siteStatuses: string[], user: { issuer: string, subject: string, mayChangeSiteStatus?: boolean } }} Summary */
/** @typedef {{ rank: number, patient: string, fhirServer: string, patientId: string, status: string, statusReason: string, openItems: string[], openItemText: string[], lastDataSeen?: string, isNew: boolean, screenedAt: string, state: string, stateSetBy?: { issuer: string, subject: string }, stateSetAt?: string }} Candidate */

// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
const SMART = /** @type {typeof import('fhirclient/lib/entry/browser')} */ (Reflect.get(window, 'FHIR'));

const STATUS_WORDS = /** @type {Record<string, string>} */ ({ 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible' });
const STATE_WORDS = /** @type {Record<string, string>} */ ({
  new: 'New',
  reviewed: 'Reviewed',
  contacted: 'Contacted',
  referred: 'Referred',
  declined: 'Declined',
  enrolled: 'Enrolled',
  'not-eligible': 'Not eligible',
});

const SITE_WORDS = /** @type {Record<string, string>} */ ({ open: 'Open', paused: 'Paused', closed: 'Closed', 'not-participating': 'Not participating' });

/** @param {string} text */
function setStatus(text, error = false) {
  const status = /** @type {HTMLElement} */ (document.getElementById('status'));
  status.textContent = text;
  status.className = error ? 'error' : '';
}

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string)[]} [children]
 */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

/** @param {Response} res @returns {Promise<unknown>} */
async function jsonOf(res) {
  /** @type {unknown} */
  const body = await res.json();
  return body;
}

/**
 * @param {{ token: string, server: string }} session
 * @param {string} path
 * @param {RequestInit} [init]
 */
async function call(session, path, init = {}) {
  const url = `${path}${path.includes('?') ? '&' : '?'}iss=${encodeURIComponent(session.server)}`;
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${session.token}`);
  const res = await fetch(url, { ...init, headers });
  if (!res.ok) {
    const body = /** @type {{ issue?: { diagnostics?: string }[] }} */ (await jsonOf(res).catch(() => ({})));
    throw new Error(body.issue?.[0]?.diagnostics ?? `the service answered ${res.status}`);
  }
  return res;
}

/** Where the site status comes from, in words. @param {Availability['site']} site */
function siteSource(site) {
  if (site.source === 'coordinator') return `set by ${site.setBy ?? 'a coordinator'}${site.setAt ? `, ${site.setAt.slice(0, 16).replace('T', ' ')}` : ''}`;
  return site.source === 'site-file' ? 'from the site file' : 'no site file: open by default';
}

/**
 * The trial at this site (issue #19 item 3): why it gives no card when it does not recruit here, its registry
 * status with the as-of date (possibly stale past 12 months), the site's status with the control a coordinator
 * changes it with (PUT /worklist/{trial}/site-status: audited, shared by every replica), and the study contact.
 * @param {{ token: string, server: string }} session
 * @param {TrialCount} trial
 * @param {string[]} siteStatuses
 * @param {() => Promise<void>} refresh
 * @param {boolean} mayChange the signed-in user may change it (a SMART token with user/ResearchStudy.u, or a coordinator)
 */
function siteBlock(session, trial, siteStatuses, refresh, mayChange) {
  const a = trial.availability;
  if (!a) return '';
  const box = el('div', { class: `site${a.recruiting ? '' : ' not-recruiting'}`, 'data-testid': 'site', 'data-recruiting': String(a.recruiting) });
  if (!a.recruiting && a.why) {
    box.append(el('p', { class: 'no-cards', 'data-testid': 'no-cards-why' }, [el('strong', {}, ['No card for this trial. ']), a.why.replace(/ No card is shown for this trial\.$/, '')]));
  }
  box.append(
    el('p', { 'data-testid': 'registry-status' }, [
      el('strong', {}, ['Registry: ']),
      a.registry.text,
      ...(a.registry.stale ? [el('span', { class: 'stale', 'data-testid': 'registry-stale' }, ['possibly stale: not verified in the last 12 months'])] : []),
    ]),
  );
  const select = /** @type {HTMLSelectElement} */ (el('select', { id: 'site-status-select', 'data-testid': 'site-status-select' }, siteStatuses.map((s) => el('option', { value: s }, [SITE_WORDS[s] ?? s]))));
  select.value = a.site.status;
  const reason = /** @type {HTMLInputElement} */ (el('input', { type: 'text', maxlength: '200', 'aria-label': 'Reason for the site status', placeholder: 'Reason (about the trial, never a patient)', 'data-testid': 'site-status-reason' }));
  reason.value = a.site.reason ?? '';
  const form = el('form', { class: 'site-form', 'data-testid': 'site-status-form' }, [
    el('label', { for: 'site-status-select' }, [el('strong', {}, ['At this site: '])]),
    select,
    reason,
    el('button', { type: 'submit', 'data-testid': 'site-status-save' }, ['Change']),
    el('span', { class: 'set-by', 'data-testid': 'site-status-source' }, [siteSource(a.site)]),
  ]);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const status = select.value;
    const why = reason.value.trim();
    void call(session, `/worklist/${encodeURIComponent(trial.id)}/site-status`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status, ...(why ? { reason: why } : {}) }),
    })
      .then(refresh)
      .then(() => setStatus(`${trial.shortTitle}: ${SITE_WORDS[status] ?? status} at this site`))
      .catch((/** @type {Error} */ err) => setStatus(`The site status was not saved: ${err.message}`, true));
  });
  if (mayChange) box.append(form);
  else {
    box.append(el('p', { 'data-testid': 'site-status-readonly' }, [el('strong', {}, ['At this site: ']), SITE_WORDS[a.site.status] ?? a.site.status, a.site.reason ? ` (${a.site.reason})` : '', ' ', el('span', { class: 'set-by' }, [siteSource(a.site)])]));
  }
  if (a.contact) {
    const c = a.contact;
    box.append(el('p', { 'data-testid': 'study-contact' }, [el('strong', {}, ['Study contact: ']), [`${c.name} (${c.role})`, c.phone, c.email].filter(Boolean).join(', ')]));
  }
  return box;
}

/**
 * @param {{ token: string, server: string }} session
 * @param {TrialCount} trial
 * @param {Summary} summary
 * @param {() => Promise<void>} refresh
 */
async function showTrial(session, trial, summary, refresh) {
  const states = summary.states;
  for (const b of document.querySelectorAll('#trials button')) b.setAttribute('aria-pressed', String(b.getAttribute('data-trial') === trial.id));
  const body = /** @type {{ candidates: Candidate[] }} */ (await jsonOf(await call(session, `/worklist/${encodeURIComponent(trial.id)}`)));
  const section = /** @type {HTMLElement} */ (document.getElementById('worklist'));
  const csv = el('button', { type: 'button', 'data-testid': 'csv' }, ['Download CSV']);
  csv.addEventListener('click', () => {
    void call(session, `/worklist/${encodeURIComponent(trial.id)}/csv`)
      .then((r) => r.blob())
      .then((blob) => {
        const a = el('a', { href: URL.createObjectURL(blob), download: `worklist-${trial.id}.csv` });
        a.click();
        URL.revokeObjectURL(a.getAttribute('href') ?? '');
      })
      .catch((/** @type {Error} */ err) => setStatus(`The CSV could not be made: ${err.message}`, true));
  });
  const rows = body.candidates.map((c) => {
    const select = /** @type {HTMLSelectElement} */ (el('select', { 'aria-label': `State of ${c.patientId}`, 'data-testid': `state-${c.patientId}` }, states.map((s) => el('option', { value: s }, [STATE_WORDS[s] ?? s]))));
    select.value = c.state;
    select.addEventListener('change', () => {
      void call(session, `/worklist/${encodeURIComponent(trial.id)}/state`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ fhirServer: c.fhirServer, patientId: c.patientId, state: select.value }),
      })
        .then(() => showTrial(session, trial, summary, refresh))
        .then(() => setStatus(`${c.patientId}: ${STATE_WORDS[select.value] ?? select.value}`))
        .catch((/** @type {Error} */ err) => setStatus(`The state was not saved: ${err.message}`, true));
    });
    const setBy = c.stateSetBy ? el('span', { class: 'set-by' }, [`by ${c.stateSetBy.subject}, ${(c.stateSetAt ?? '').slice(0, 16).replace('T', ' ')}`]) : '';
    return el('tr', { 'data-testid': `candidate-${c.patientId}` }, [
      el('td', {}, [String(c.rank)]),
      el('td', {}, [c.patientId, ...(c.isNew ? [el('span', { class: 'new' }, ['new'])] : [])]),
      el('td', { class: `status-${c.status}` }, [STATUS_WORDS[c.status] ?? c.status]),
      el('td', {}, [`${c.openItems.length} open`, el('ul', { class: 'open-items' }, c.openItemText.slice(0, 4).map((t) => el('li', {}, [t]))), ...(c.openItemText.length > 4 ? [`and ${c.openItemText.length - 4} more`] : [])]),
      el('td', {}, [c.lastDataSeen ?? 'no dated data']),
      el('td', {}, [select, setBy]),
    ]);
  });
  const table = el('table', { class: 'worklist' }, [
    el('thead', {}, [el('tr', {}, ['#', 'Patient', 'Screening', 'Open items', 'Last data seen', 'State'].map((h) => el('th', { scope: 'col' }, [h])))]),
    el('tbody', {}, rows),
  ]);
  section.replaceChildren(
    el('h2', {}, [trial.title]),
    siteBlock(session, trial, summary.siteStatuses, refresh, summary.user.mayChangeSiteStatus === true),
    el('div', { class: 'toolbar' }, [`${body.candidates.length} candidates, likely first, then by how few items remain`, csv]),
    body.candidates.length > 0 ? table : el('p', {}, ['No candidate screened for this trial yet.']),
  );
}

/**
 * The trial picker and one trial's worklist, from a fresh summary (after a site-status change too).
 * @param {{ token: string, server: string }} session
 * @param {string} [selected] the trial shown
 */
async function showAll(session, selected) {
  const summary = /** @type {Summary} */ (await jsonOf(await call(session, '/worklist')));
  /** @type {HTMLElement} */ (document.getElementById('user')).textContent = `Signed in as ${summary.user.subject}`;
  const nav = /** @type {HTMLElement} */ (document.getElementById('trials'));
  /** @param {TrialCount} t */
  const show = (t) => showTrial(session, t, summary, () => showAll(session, t.id));
  nav.replaceChildren(
    ...summary.trials.map((t) => {
      const off = t.availability && !t.availability.recruiting;
      const b = el('button', { type: 'button', 'data-trial': t.id, 'aria-pressed': 'false' }, [
        t.shortTitle,
        ...(off ? [el('span', { class: 'off', 'data-testid': 'not-recruiting' }, ['Not recruiting here: no cards'])] : []),
        el('span', { class: 'count' }, [`${t.candidates} candidates (${t.likely} likely, ${t.possibly} possibly, ${t.new} new)`]),
      ]);
      b.addEventListener('click', () => void show(t).catch((/** @type {Error} */ err) => setStatus(err.message, true)));
      return b;
    }),
  );
  const first = summary.trials.find((t) => t.id === selected) ?? summary.trials.find((t) => t.candidates > 0) ?? summary.trials[0];
  if (first) await show(first);
}

async function main() {
  const client = await SMART.oauth2.ready();
  const token = client.state.tokenResponse?.access_token;
  if (!token) throw new Error('the launch gave no access token');
  await showAll({ token, server: client.state.serverUrl });
  setStatus('');
}

main().catch((/** @type {unknown} */ err) => setStatus(`The worklist could not be shown: ${err instanceof Error ? err.message : String(err)}`, true));

export {};
