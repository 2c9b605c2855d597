/**
 * Code systems by any name (issue #17 item 2). EHRs send one code system under several identifiers: Epic-style
 * exports write ICD-10-CM as `urn:oid:2.16.840.1.113883.6.90`, CDA-derived feeds a bare OID, SNOMED CT
 * national editions a module URI (`http://snomed.info/sct/32506021000036107`), some systems `https://` or a
 * trailing slash. The code lists use one URI per system, so every record coding is read through
 * `canonicalSystem` once, when the record is indexed (src/patient/patient-record.ts), and wherever a record's
 * coding is matched against a list.
 *
 * Every row cites the HL7 Terminology (THO) NamingSystem that lists the OID and URIs, at
 * https://terminology.hl7.org/NamingSystem-<id>.html, from the source of truth in the HL7/UTG repository
 * (https://github.com/HL7/UTG/tree/a19c263616d7b759fe91ceaa0faf4c5b5a5b614b/input/sourceOfTruth/external).
 */

export const SNOMED_CT = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const ICD10_CM = 'http://hl7.org/fhir/sid/icd-10-cm';
export const ICD10_WHO = 'http://hl7.org/fhir/sid/icd-10';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const UCUM = 'http://unitsofmeasure.org';
/** The project's own codes (fhir-mappings/README.md, "The project's own code"): no OID. */
export const PROJECT_CODES = 'urn:trialmatch-cds:code';

/** ICD-10 editions that extend WHO ICD-10 with more characters below the WHO code (see isIcd10NationalEdition). */
export const ICD10_GM = 'http://fhir.de/CodeSystem/bfarm/icd-10-gm';
export const ICD10_CA = 'http://hl7.org/fhir/sid/icd-10-ca';
export const ICD10_NL = 'http://hl7.org/fhir/sid/icd-10-nl';
/**
 * China's ICD-10 code table (national clinical edition, codes such as M32.101 or B95.100 below the WHO code),
 * identified by OID 2.16.156.10011.2.3.3.11 in the national health information standards (WS 364 value
 * domains, WS/T 500 shared EMR documents). It has no published URI, so the OID is its canonical name.
 */
export const ICD10_CN = 'urn:oid:2.16.156.10011.2.3.3.11';

interface SystemRow {
  canonical: string;
  oids: readonly string[];
  /** Other URIs the same system is published or sent under. */
  uris: readonly string[];
  /** Where a hospital can check the row. */
  source: string;
}

/** The systems the code lists use, and the national ICD-10 editions, with every published name. */
export const CODE_SYSTEMS: readonly SystemRow[] = [
  { canonical: SNOMED_CT, oids: ['2.16.840.1.113883.6.96'], uris: [], source: 'https://terminology.hl7.org/NamingSystem-v3-snomed-CT.html' },
  { canonical: LOINC, oids: ['2.16.840.1.113883.6.1'], uris: [], source: 'https://terminology.hl7.org/NamingSystem-v3-loinc.html' },
  { canonical: RXNORM, oids: ['2.16.840.1.113883.6.88'], uris: [], source: 'https://terminology.hl7.org/NamingSystem-v3-rxNorm.html' },
  {
    canonical: ICD10_CM,
    oids: ['2.16.840.1.113883.6.90'],
    // "Published for many years in HL7 Standards, but has now been superseded" (the NamingSystem's comment).
    uris: ['http://terminology.hl7.org/CodeSystem/icd10CM'],
    source: 'https://terminology.hl7.org/NamingSystem-icd10CM.html',
  },
  {
    canonical: ICD10_WHO,
    oids: ['2.16.840.1.113883.6.3'],
    uris: ['http://terminology.hl7.org/CodeSystem/icd10'],
    source: 'https://terminology.hl7.org/NamingSystem-icd10.html',
  },
  {
    canonical: CVX,
    oids: ['2.16.840.1.113883.12.292'],
    // "Maintained for backwards compatibility" (the NamingSystem's comment).
    uris: ['http://terminology.hl7.org/CodeSystem/CVX'],
    source: 'https://terminology.hl7.org/NamingSystem-CVX.html',
  },
  { canonical: UCUM, oids: ['2.16.840.1.113883.6.8'], uris: [], source: 'https://terminology.hl7.org/NamingSystem-v3-ucum.html' },
  {
    canonical: ICD10_GM,
    oids: [],
    // The URI before BfArM took over DIMDI (2020); older German systems still send it.
    uris: ['http://fhir.de/CodeSystem/dimdi/icd-10-gm'],
    source: 'https://github.com/hl7germany/basisprofil-de-r4/blob/4bfb0f6754f872f2b9c39079acf4505e4c53f7dd/fsh/input/fsh/codesystems/Icd-10-gm.fsh',
  },
  { canonical: ICD10_CA, oids: ['2.16.840.1.113883.6.94'], uris: [], source: 'https://terminology.hl7.org/NamingSystem-icd10-CA.html' },
  {
    canonical: ICD10_NL,
    oids: ['2.16.840.1.113883.6.3.2'],
    uris: ['http://terminology.hl7.org/CodeSystem/ICD10dut'],
    source: 'https://terminology.hl7.org/NamingSystem-ICD10dut.html',
  },
  { canonical: ICD10_CN, oids: ['2.16.156.10011.2.3.3.11'], uris: [], source: 'OID 2.16.156.10011.2.3.3.11 (WS/T 500 ICD-10 code table)' },
];

/** The systems whose codes the service's lists hold: a coding in one of them is one the service can place. */
export const LIST_SYSTEMS: ReadonlySet<string> = new Set([SNOMED_CT, LOINC, RXNORM, ICD10_CM, ICD10_WHO, CVX, PROJECT_CODES]);

const NATIONAL_ICD10 = new Set([ICD10_GM, ICD10_CA, ICD10_NL, ICD10_CN]);

/** A system URI without what does not name a different system: scheme, `www.`, case of the host, a trailing slash. */
function variantKey(uri: string): string | undefined {
  const m = /^https?:\/\/(?:www\.)?([^/]+)(\/[^?#]*)?$/i.exec(uri);
  if (!m) return undefined;
  const path = (m[2] ?? '').replace(/\/+$/, '');
  return `${m[1]!.toLowerCase()}${path}`;
}

const BY_OID = new Map<string, string>();
const BY_URI = new Map<string, string>();
const BY_VARIANT = new Map<string, string>();
for (const row of CODE_SYSTEMS) {
  for (const oid of row.oids) BY_OID.set(oid, row.canonical);
  for (const uri of [row.canonical, ...row.uris]) {
    BY_URI.set(uri, row.canonical);
    const key = variantKey(uri);
    if (key) BY_VARIANT.set(key, row.canonical);
  }
}

/** Longer than any system identifier in use; a longer string is left as it is (never parsed). */
const MAX_SYSTEM_LENGTH = 256;
const BARE_OID = /^[0-2](?:\.\d{1,20}){1,30}$/;
/**
 * SNOMED CT edition and version URIs (SNOMED CT URI Standard; "Using SNOMED CT with HL7 standards",
 * https://terminology.hl7.org/SNOMEDCT.html, Version): `http://snomed.info/sct/<module SCTID>` and
 * `.../version/<YYYYMMDD>`. They name an edition of the same code system: a concept id means the same thing
 * in every edition, and national extensions only add concepts.
 */
const SNOMED_EDITION = /^https?:\/\/(?:www\.)?snomed\.info\/sct(?:\/\d{6,18}(?:\/version\/\d{8})?)?\/?$/i;

/**
 * The one URI the lists use for a code system sent under another name: its HL7 OID (`urn:oid:` or bare), a
 * superseded HL7 URI, a SNOMED CT edition or version URI, or a trivial variant (https, `www.`, a trailing
 * slash, white space). A system it does not know is returned unchanged.
 */
export function canonicalSystem(system: string): string {
  if (BY_URI.has(system)) return BY_URI.get(system)!;
  if (system.length > MAX_SYSTEM_LENGTH) return system;
  // A URI holds no white space (RFC 3986 §2), so any is a transcription slip: Oracle Health's published R4
  // examples send SNOMED CT as "http: //snomed.info/sct" (found by terminology:coverage, issue #17 item 7).
  const s = system.replace(/\s+/g, '');
  const oid = s.toLowerCase().startsWith('urn:oid:') ? s.slice(8) : BARE_OID.test(s) ? s : undefined;
  if (oid !== undefined) return BY_OID.get(oid) ?? system;
  if (SNOMED_EDITION.test(s)) return SNOMED_CT;
  const key = variantKey(s);
  return (key && BY_VARIANT.get(key)) || system;
}

/**
 * Whether a system is a national edition of ICD-10 that extends WHO codes with more characters (China's
 * clinical edition, ICD-10-GM, ICD-10-CA; the Dutch edition keeps the WHO codes): an extension code (M32.101)
 * stands under its WHO parent (M32.1), so it can be matched against the WHO ICD-10 entries of a list.
 * ICD-10-CM is not one here: the lists hold its codes directly.
 */
export function isIcd10NationalEdition(system: string): boolean {
  return NATIONAL_ICD10.has(canonicalSystem(system));
}

/**
 * Whether the service's lists hold codes of this system (after canonicalSystem). A national edition of ICD-10
 * counts: its codes are read under their WHO parent's lists (src/terminology/icd10-editions.ts).
 */
export function isListSystem(system: string): boolean {
  const canonical = canonicalSystem(system);
  return LIST_SYSTEMS.has(canonical) || NATIONAL_ICD10.has(canonical);
}
