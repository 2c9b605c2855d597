/** @typedef {import('./api.js').Bundle} Bundle */
/** @typedef {import('./api.js').Resource} Resource */

/**
 * The resources of a Bundle, in order.
 * @param {Bundle} bundle
 * @returns {Resource[]}
 */
export function resourcesOf(bundle) {
  return (bundle.entry ?? []).map((e) => e.resource).filter((r) => r !== undefined && r !== null && typeof r === 'object');
}

/**
 * The one Patient of a Bundle, or undefined.
 * @param {Bundle} bundle
 */
export function patientOf(bundle) {
  return resourcesOf(bundle).find((r) => r.resourceType === 'Patient');
}

/**
 * Reads pasted or uploaded text as one patient's FHIR Bundle, or says plainly why it is not one.
 * @param {string} text
 * @returns {Bundle}
 */
export function parseBundle(text) {
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`this is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!value || typeof value !== 'object' || !('resourceType' in value) || value.resourceType !== 'Bundle') {
    throw new Error('this is not a FHIR Bundle: its resourceType must be "Bundle"');
  }
  const bundle = /** @type {Bundle} */ (value);
  const patients = resourcesOf(bundle).filter((r) => r.resourceType === 'Patient');
  if (patients.length !== 1) throw new Error(`the Bundle must hold exactly one Patient; it holds ${patients.length}`);
  if (typeof patients[0]?.id !== 'string') throw new Error('the Patient in the Bundle has no id');
  return bundle;
}

/**
 * Whole years from a FHIR birthDate to `now`, or undefined when there is no usable date. A year or a
 * year-month birth date is read at its first day (the oldest the patient may be); ageText says both ages.
 * @param {unknown} birthDate
 * @param {Date} now
 */
export function ageInYears(birthDate, now) {
  if (typeof birthDate !== 'string' || !/^\d{4}(-\d{2}(-\d{2})?)?$/.test(birthDate)) return undefined;
  const [y = 0, m = 1, d = 1] = birthDate.split('-').map(Number);
  return yearsFrom(y, m, d, now);
}

/**
 * @param {number} y
 * @param {number} m
 * @param {number} d
 * @param {Date} now
 */
function yearsFrom(y, m, d, now) {
  let age = now.getUTCFullYear() - y;
  if (now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d)) age--;
  return age;
}

/**
 * The age as words: "12 years"; for a birth date recorded as a year or a month (issue #18), every age its
 * days allow: "18 or 19 years" (born 2007), as the service reads it.
 * @param {unknown} birthDate
 * @param {Date} now
 */
export function ageText(birthDate, now) {
  const oldest = ageInYears(birthDate, now);
  if (oldest === undefined || typeof birthDate !== 'string') return 'age unknown';
  const [y = 0, m] = birthDate.split('-').map(Number);
  const partial = birthDate.length < 10;
  // The last day it may be: 31 December, or the month's last day.
  const youngest = partial ? (m === undefined ? yearsFrom(y, 12, 31, now) : yearsFrom(y, m, new Date(Date.UTC(y, m, 0)).getUTCDate(), now)) : oldest;
  const years = youngest === oldest ? String(oldest) : `${youngest} or ${oldest}`;
  return `${years} year${years === '1' ? '' : 's'}`;
}

/**
 * "Mei Example", from the first name of a Patient.
 * @param {Resource | undefined} patient
 */
export function nameOf(patient) {
  const names = patient && Array.isArray(patient.name) ? /** @type {{ given?: string[], family?: string, text?: string }[]} */ (patient.name) : [];
  const n = names[0];
  if (!n) return patient?.id ?? 'Unnamed patient';
  return n.text ?? [...(n.given ?? []), n.family ?? ''].join(' ').trim();
}

/**
 * "12 years, female": what an EHR banner shows next to the name.
 * @param {Resource | undefined} patient
 * @param {Date} now
 */
export function ageAndSex(patient, now) {
  const sex = typeof patient?.gender === 'string' ? patient.gender : 'sex not recorded';
  return `${ageText(patient?.birthDate, now)}, ${sex}`;
}

/**
 * Splits a Bundle into the service's prefetch keys (from its discovery templates), as an EHR that fills
 * prefetch would: the Patient for the Patient/{id} key, a searchset of one resource type for the others.
 * @param {Bundle} bundle
 * @param {Record<string, string>} templates
 * @returns {Record<string, unknown>}
 */
export function prefetchFor(bundle, templates) {
  const resources = resourcesOf(bundle);
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [key, template] of Object.entries(templates)) {
    const type = template.split(/[/?]/)[0] ?? '';
    if (template.startsWith(`${type}/`)) {
      out[key] = resources.find((r) => r.resourceType === type) ?? null;
      continue;
    }
    const matches = resources.filter((r) => r.resourceType === type);
    out[key] = { resourceType: 'Bundle', type: 'searchset', total: matches.length, entry: matches.map((resource) => ({ resource, search: { mode: 'match' } })) };
  }
  return out;
}
