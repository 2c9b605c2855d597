import { Marked } from './vendor/marked/marked.esm.js';

/** @typedef {import('./api.js').Card} Card */
/** @typedef {import('./api.js').Evaluation} Evaluation */
/** @typedef {import('./api.js').TrialEvaluation} TrialEvaluation */
/** @typedef {import('./api.js').Criterion} Criterion */
/** @typedef {import('./api.js').Evidence} Evidence */
/** @typedef {import('./api.js').Part} Part */
/** @typedef {import('./api.js').Outcome} Outcome */

/**
 * Builds an element; children are nodes or text (never parsed as HTML), so data cannot inject markup.
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node | string | undefined | false)[]} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== false) node.append(c);
  return node;
}

/** @param {string} s */
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** @param {string} url */
function isWebUrl(url) {
  try {
    return ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/**
 * Card detail is markdown from a service: rendered, but any raw HTML in it is shown as text, links go only
 * to http(s) addresses, and images are reduced to their text, so a card cannot run script or load content.
 */
const markdown = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    link({ href, title, tokens }) {
      const text = this.parser.parseInline(tokens);
      if (!isWebUrl(href)) return text;
      const t = title ? ` title="${escapeHtml(title)}"` : '';
      return `<a href="${escapeHtml(href)}"${t} target="_blank" rel="noopener noreferrer">${text}</a>`;
    },
    image({ text }) {
      return escapeHtml(text);
    },
  },
});

/**
 * @param {string} source
 * @returns {string} HTML safe to insert
 */
export function renderMarkdown(source) {
  return /** @type {string} */ (markdown.parse(source));
}

const INDICATOR_WORDS = { info: 'Info', warning: 'Warning', critical: 'Critical' };

/**
 * The cards as an EHR shows them: indicator, summary, rendered detail, source, links.
 * @param {Card[]} cards
 */
export function renderCards(cards) {
  if (cards.length === 0) {
    return el('p', { class: 'empty', 'data-testid': 'no-cards' }, 'No cards: the service suggests no trial for this patient. The criteria beside show why.');
  }
  const list = el('ol', { class: 'cards', 'aria-label': 'CDS Hooks cards' });
  for (const card of cards) {
    const indicator = INDICATOR_WORDS[card.indicator] ?? card.indicator;
    const detail = el('div', { class: 'card-detail' });
    if (card.detail) detail.innerHTML = renderMarkdown(card.detail);
    const source = el('p', { class: 'card-source' }, 'Source: ');
    source.append(
      card.source.url && isWebUrl(card.source.url)
        ? el('a', { href: card.source.url, target: '_blank', rel: 'noopener noreferrer' }, card.source.label)
        : el('span', {}, card.source.label),
    );
    // The summary names the trial already (with its registry id): the footer does not repeat it (issue 18 item 6).
    const links = el('ul', { class: 'card-links' });
    for (const link of card.links ?? []) {
      links.append(el('li', {}, isWebUrl(link.url) ? el('a', { href: link.url, target: '_blank', rel: 'noopener noreferrer' }, link.label) : link.label));
    }
    // Suggestions as an EHR lists them (CDS Hooks 2.0 §Suggestion): the label and what each action would
    // create. The demo page creates nothing, so they are shown, not offered.
    const suggestions = el('ul', { class: 'card-suggestions', 'data-testid': 'card-suggestions' });
    for (const s of card.suggestions ?? []) {
      suggestions.append(el('li', {}, el('strong', {}, s.label), el('ul', {}, ...(s.actions ?? []).map((a) => el('li', {}, a.description)))));
    }
    list.append(
      el(
        'li',
        { class: `card card-${card.indicator}`, 'data-testid': 'card', 'data-topic': card.source.topic?.code ?? '' },
        el('p', { class: 'card-head' }, el('span', { class: 'indicator', 'data-testid': 'card-indicator' }, indicator), el('strong', { class: 'card-summary', 'data-testid': 'card-summary' }, card.summary)),
        detail,
        (card.suggestions ?? []).length > 0 && suggestions,
        el('footer', {}, source, (card.links ?? []).length > 0 && links),
      ),
    );
  }
  return list;
}

/** UCUM codes as a clinician writes them (the same reading as the cards). */
const UNIT_WORDS = /** @type {Record<string, string>} */ ({
  '10*3/uL': '× 10³/µL',
  '10*9/L': '× 10⁹/L',
  '/uL': '/µL',
  '[IU]/mL': 'IU/mL',
  'mL/min/{1.73_m2}': 'mL/min/1.73 m²',
  'g/(24.h)': 'g/24 h',
});

/** @param {Evidence} e */
export function evidenceText(e) {
  let value = '';
  if (e.value !== undefined) {
    const unit = e.unit && typeof e.value === 'number' ? (UNIT_WORDS[e.unit] ?? e.unit.replace(/\{[^}]*\}/g, '')).trim() : '';
    value = unit === '%' ? `${e.value}%` : `${e.value}${unit ? ` ${unit}` : ''}`;
  }
  const recorded = e.recorded ? ` (recorded ${e.recorded})` : '';
  const date = e.date ? `, ${e.date.slice(0, 10)}` : '';
  const note = e.note ? ` — ${e.note}` : '';
  return `${e.display}${value ? `: ${value}` : ''}${recorded}${date}${note}`;
}

export const OUTCOME_WORDS = /** @type {const} */ ({ met: 'met', 'not-met': 'not met', unknown: 'unknown', review: 'to review' });
/**
 * An exclusion is a finding the record holds or not (issue 18 item 6): "present / absent / unknown", never
 * "met / not met", which reads an absent exclusion as a failure.
 */
export const EXCLUSION_WORDS = /** @type {const} */ ({ met: 'present', 'not-met': 'absent', unknown: 'unknown', review: 'to review' });

/**
 * The word for an outcome of an inclusion or an exclusion (a criterion, or a part of one).
 * @param {'inclusion' | 'exclusion'} type @param {Outcome} outcome
 */
export function outcomeWord(type, outcome) {
  return (type === 'exclusion' ? EXCLUSION_WORDS : OUTCOME_WORDS)[outcome] ?? outcome;
}

/**
 * The trial's heading: its short title, with the registry id only when the short title does not already
 * carry it (issue 18 item 6: headings repeated the NCT id).
 * @param {{ shortTitle: string, nctId?: string }} t
 */
export function trialHeading(t) {
  return t.nctId && !t.shortTitle.includes(t.nctId) ? `${t.shortTitle} (${t.nctId})` : t.shortTitle;
}

/**
 * "4 inclusions met · 1 exclusion found · 3 unknown · 16 to review": an absent exclusion is not counted as
 * a failure, and an inclusion not met is said only when there is one.
 * @param {{ criteria: Criterion[] }} t
 */
export function criteriaCounts(t) {
  const n = (/** @type {(c: Criterion) => boolean} */ f) => t.criteria.filter(f).length;
  const plural = (/** @type {number} */ k, /** @type {string} */ one, /** @type {string} */ many) => `${k} ${k === 1 ? one : many}`;
  const parts = [plural(n((c) => c.type === 'inclusion' && c.outcome === 'met'), 'inclusion met', 'inclusions met')];
  const notMet = n((c) => c.type === 'inclusion' && c.outcome === 'not-met');
  if (notMet > 0) parts.push(plural(notMet, 'inclusion not met', 'inclusions not met'));
  parts.push(plural(n((c) => c.type === 'exclusion' && c.outcome === 'met'), 'exclusion found', 'exclusions found'));
  parts.push(`${n((c) => c.outcome === 'unknown')} unknown`, `${n((c) => c.outcome === 'review')} to review`);
  return parts.join(' · ');
}

/**
 * The positives the record holds outside a criterion's window (issue 18 item 4), each with its criterion.
 * @param {{ criteria: Criterion[] }} t
 * @returns {{ criterion: Criterion, text: string }[]}
 */
export function factsOf(t) {
  /** @param {Part} p @returns {import('./api.js').Fact[]} */
  const partFacts = (p) => [...(p.facts ?? []), ...(p.parts ?? []).flatMap(partFacts)];
  return t.criteria.flatMap((c) => (c.facts ?? c.parts.flatMap(partFacts)).map((f) => ({ criterion: c, text: f.text })));
}
const STATUS_WORDS = { 'likely-eligible': 'Likely eligible', 'possibly-eligible': 'Possibly eligible', ineligible: 'Not eligible' };

/**
 * Whether an outcome counts for the patient (an inclusion met, an exclusion not met) or against.
 * @param {Criterion} c
 */
function outcomeTone(c) {
  if (c.outcome === 'unknown' || c.outcome === 'review') return c.outcome;
  const good = (c.type === 'inclusion') === (c.outcome === 'met');
  return good ? 'pass' : 'fail';
}

/** @param {Criterion} c */
function criterionName(c) {
  return `${c.type === 'inclusion' ? 'Inclusion' : 'Exclusion'} ${c.item}`;
}

/**
 * The evidence without repeats of one record read the same way.
 * @param {Evidence[]} list
 */
export function uniqueEvidence(list) {
  const seen = new Set();
  return list.filter((e) => {
    const key = `${e.reference}|${evidenceText(e)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** @param {Part} p @returns {Part[]} */
function leaves(p) {
  return p.parts ? p.parts.flatMap(leaves) : [p];
}

/**
 * Why a blocking criterion blocks: the parts that decided it, in words.
 * @param {Criterion} c
 */
function blockingReason(c) {
  const decisive = c.parts.flatMap(leaves).filter((p) => p.outcome === c.outcome);
  const said = decisive.map((p) => `${p.label}${p.evidence.length > 0 ? ` (${p.evidence.map(evidenceText).join('; ')})` : ''}`);
  const verb = c.type === 'inclusion' ? 'not met' : 'applies';
  return `${criterionName(c)} ${verb}: ${said.join('; ') || c.reason}`;
}

/**
 * The parts of a criterion as a nested list: how the engine read it; an exclusion's parts read present or absent.
 * @param {'inclusion' | 'exclusion'} type @param {Part[]} parts
 */
function partList(type, parts) {
  const ul = el('ul', { class: 'parts' });
  for (const p of parts) {
    const li = el('li', {}, el('span', { class: `badge badge-${p.outcome}` }, outcomeWord(type, p.outcome)), ` ${p.label}`);
    if (!p.parts) {
      li.append(el('span', { class: 'reason' }, ` — ${p.reason}`));
      if (p.evidence.length > 0) li.append(el('ul', { class: 'evidence' }, ...p.evidence.map((e) => el('li', {}, evidenceText(e)))));
    } else {
      li.append(partList(type, p.parts));
    }
    ul.append(li);
  }
  return ul;
}

/**
 * The trial at this site (issue #19 item 3): why it gives no card when it does not recruit here, whom to
 * contact, and a registry status that may be stale. About the trial, never the patient.
 * @param {TrialEvaluation} t
 */
export function siteStatusBlock(t) {
  const a = t.availability;
  if (!a) return undefined;
  const box = el('div', { class: `site-status${a.recruiting ? '' : ' not-recruiting'}`, 'data-testid': 'site-status', 'data-recruiting': String(a.recruiting) });
  if (!a.recruiting && a.why) box.append(el('p', { 'data-testid': 'site-status-why' }, el('strong', {}, 'No card for this trial. '), a.why.replace(/ No card is shown for this trial\.$/, '')));
  if (a.contact) {
    const c = a.contact;
    box.append(el('p', { 'data-testid': 'study-contact' }, el('strong', {}, 'Study contact: '), [`${c.name} (${c.role})`, c.phone, c.email].filter(Boolean).join(', ')));
  }
  box.append(el('p', { class: a.registry.stale ? 'registry stale' : 'registry', 'data-testid': 'registry-status' }, el('strong', {}, 'Registry: '), a.registry.text, a.registry.stale ? ' (possibly stale: not verified in the last 12 months)' : ''));
  return box;
}

/**
 * @param {TrialEvaluation} t
 */
function trialSection(t) {
  const blocking = t.criteria.filter((c) => t.blocking.includes(c.id));
  const summary = el(
    'summary',
    {},
    el('span', { class: `status status-${t.status}`, 'data-testid': 'trial-status' }, STATUS_WORDS[t.status] ?? t.status),
    ' ',
    el('span', { class: 'trial-title' }, t.shortTitle),
    el('span', { class: 'counts', 'data-testid': 'counts' }, ` ${criteriaCounts(t)}`),
    t.availability && !t.availability.recruiting ? el('span', { class: 'not-recruiting-badge', 'data-testid': 'not-recruiting' }, ' Not recruiting here') : '',
  );
  const body = el('div', { class: 'trial-body' });
  // The registry id once: the short title in the line above carries it for most trials (issue 18 item 6).
  const idShown = t.nctId && (t.title.includes(t.nctId) || t.shortTitle.includes(t.nctId));
  body.append(el('p', { class: 'trial-full-title' }, t.title, t.nctId && !idShown ? ` (${t.nctId})` : ''));
  const site = siteStatusBlock(t);
  if (site) body.append(site);
  if (t.statusReason) body.append(el('p', { class: 'status-reason', 'data-testid': 'status-reason' }, el('strong', {}, 'Why this status: '), t.statusReason.text));
  const facts = factsOf(t);
  if (facts.length > 0) {
    body.append(
      el('div', { class: 'facts', 'data-testid': 'facts' }, el('strong', {}, 'Positive in the record, outside the window'), el('ul', {}, ...facts.map((f) => el('li', {}, `${f.text} (${criterionName(f.criterion)})`)))),
    );
  }
  if (t.notScreened) {
    body.append(el('div', { class: 'blocking', 'data-testid': 'blocking' }, el('strong', {}, 'Not screened'), el('p', {}, `Not screened: ${t.notScreened.reason}.`)));
  }
  if (blocking.length > 0) {
    body.append(el('div', { class: 'blocking', 'data-testid': 'blocking' }, el('strong', {}, 'Why not eligible'), el('ul', {}, ...blocking.map((c) => el('li', {}, blockingReason(c))))));
  }
  const table = el(
    'table',
    { class: 'criteria' },
    el('caption', { class: 'visually-hidden' }, `Criteria for ${t.shortTitle}`),
    el('colgroup', {}, el('col', { class: 'col-criterion' }), el('col', { class: 'col-outcome' }), el('col', { class: 'col-evidence' })),
    el('thead', {}, el('tr', {}, ...['Criterion (protocol text)', 'Outcome', 'Evidence, and data missing'].map((h) => el('th', { scope: 'col' }, h)))),
  );
  const tbody = el('tbody');
  for (const c of t.criteria) {
    // Evidence and missing data share a column: a narrow table column for "missing" would be empty most rows.
    const found = el('td', {});
    // One line per record: a criterion's evidence gathers its parts', and two parts may cite the same record
    // (inclusion 4's three-of-four classes and its "immunosuppressant or biologic" part).
    const evidence = uniqueEvidence(c.evidence);
    if (evidence.length > 0) found.append(el('ul', { class: 'evidence', 'data-testid': 'evidence' }, ...evidence.map((e) => el('li', {}, evidenceText(e)))));
    if (c.missing.length > 0) found.append(el('div', { class: 'missing' }, el('strong', {}, 'Missing: '), el('ul', { 'data-testid': 'missing' }, ...c.missing.map((m) => el('li', {}, m)))));
    if (evidence.length === 0 && c.missing.length === 0) found.append(el('span', { class: 'none' }, '—'));
    const reading = el(
      'details',
      {},
      el('summary', {}, c.text.length > 90 ? `${c.text.slice(0, 87).replace(/\s+\S*$/, '')}…` : c.text),
      c.text.length > 90 && el('p', {}, c.text),
      el('p', { class: 'interpretation' }, el('strong', {}, 'Read as: '), c.interpretation),
      partList(c.type, c.parts),
    );
    tbody.append(
      el(
        'tr',
        { 'data-testid': 'criterion', 'data-criterion': c.id, 'data-outcome': c.outcome, class: `tone-${outcomeTone(c)}${t.blocking.includes(c.id) ? ' is-blocking' : ''}` },
        el('th', { scope: 'row' }, el('span', { class: 'criterion-name' }, criterionName(c)), reading),
        el('td', {}, el('span', { class: `badge badge-${c.outcome}`, 'data-testid': 'outcome' }, outcomeWord(c.type, c.outcome))),
        found,
      ),
    );
  }
  table.append(tbody);
  body.append(el('div', { class: 'table-wrap' }, table));
  const details = el('details', { class: `trial trial-${t.status}`, 'data-testid': 'trial', 'data-trial': t.trialId }, summary, body);
  if (t.status !== 'ineligible') details.setAttribute('open', '');
  return details;
}

/**
 * Every trial with every criterion, likely first and ineligible last, each ineligible trial with its reason.
 * @param {Evaluation} evaluation
 */
export function renderEvaluation(evaluation) {
  const rank = { 'likely-eligible': 0, 'possibly-eligible': 1, ineligible: 2 };
  const trials = [...evaluation.trials].sort((a, b) => (rank[a.status] ?? 3) - (rank[b.status] ?? 3));
  const wrap = el('div', { class: 'trials' });
  for (const t of trials) wrap.append(trialSection(t));
  return wrap;
}
