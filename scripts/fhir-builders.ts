import type {
  Bundle,
  Condition,
  Immunization,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Patient,
  Procedure,
  Resource,
} from '@medplum/fhirtypes';

/** Builders for synthetic, realistic FHIR R4 resources: used to write the example patients and in tests. */

export const SNOMED = 'http://snomed.info/sct';
export const ICD10 = 'http://hl7.org/fhir/sid/icd-10-cm';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const UCUM = 'http://unitsofmeasure.org';
export const LOCAL = 'urn:trialmatch-cds:code';

/** The date every example is written against ("today" for the examples). */
export const ANCHOR = new Date('2026-11-23T09:00:00Z');

export function daysAgo(days: number, from: Date = ANCHOR): string {
  return new Date(from.getTime() - days * 86_400_000).toISOString().slice(0, 10);
}

export function yearsAgo(years: number, extraDays = 0, from: Date = ANCHOR): string {
  const d = new Date(from.getTime());
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return daysAgo(extraDays, d);
}

export class PatientBuilder {
  private readonly resources: Resource[] = [];
  private n = 0;

  constructor(
    readonly id: string,
    patient: Omit<Patient, 'resourceType' | 'id'>,
  ) {
    this.resources.push({ resourceType: 'Patient', id, ...patient });
  }

  private nextId(prefix: string): string {
    this.n++;
    return `${this.id}-${prefix}-${this.n}`;
  }

  private get subject(): { reference: string } {
    return { reference: `Patient/${this.id}` };
  }

  condition(system: string, code: string, display: string, opts: { onset?: string; abatement?: string; status?: string; verification?: string; severity?: { code: string; display: string } } = {}): this {
    const c: Condition = {
      resourceType: 'Condition',
      id: this.nextId('cond'),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: opts.status ?? (opts.abatement ? 'resolved' : 'active') }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: opts.verification ?? 'confirmed' }] },
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
      code: { coding: [{ system, code, display }], text: display },
      subject: this.subject,
    };
    if (opts.onset) c.onsetDateTime = opts.onset;
    if (opts.abatement) c.abatementDateTime = opts.abatement;
    if (opts.severity) c.severity = { coding: [{ system: SNOMED, ...opts.severity }] };
    this.resources.push(c);
    return this;
  }

  quantity(loinc: string, display: string, value: number, unit: string, date: string, opts: { high?: number; low?: number; comparator?: '<' | '>' | '<=' | '>=' } = {}): this {
    const o: Observation = {
      resourceType: 'Observation',
      id: this.nextId('obs'),
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: loinc === '29463-7' ? 'vital-signs' : 'laboratory' }] }],
      code: { coding: [{ system: loinc.includes(':') ? LOCAL : LOINC, code: loinc.replace(/^local:/, ''), display }], text: display },
      subject: this.subject,
      effectiveDateTime: `${date}T08:00:00Z`,
      valueQuantity: { value, unit, system: UCUM, code: unit, ...(opts.comparator ? { comparator: opts.comparator } : {}) },
    };
    if (opts.high !== undefined || opts.low !== undefined) {
      o.referenceRange = [{ ...(opts.low !== undefined ? { low: { value: opts.low, unit, system: UCUM, code: unit } } : {}), ...(opts.high !== undefined ? { high: { value: opts.high, unit, system: UCUM, code: unit } } : {}) }];
    }
    this.resources.push(o);
    return this;
  }

  score(display: string, value: number, date: string): this {
    this.resources.push({
      resourceType: 'Observation',
      id: this.nextId('obs'),
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
      code: { coding: [{ system: LOCAL, code: 'sledai-2k-total', display }], text: display },
      subject: this.subject,
      effectiveDateTime: `${date}T08:00:00Z`,
      valueInteger: value,
    });
    return this;
  }

  /** A qualitative result: "pos" / "neg" coded in SNOMED, "ind" flagged indeterminate, or a string ("1:320"). */
  qualitative(loinc: string, display: string, result: string, date: string): this {
    const o: Observation = {
      resourceType: 'Observation',
      id: this.nextId('obs'),
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: LOINC, code: loinc, display }], text: display },
      subject: this.subject,
      effectiveDateTime: `${date}T08:00:00Z`,
    };
    if (result === 'pos') o.valueCodeableConcept = { coding: [{ system: SNOMED, code: '10828004', display: 'Positive' }], text: 'Positive' };
    else if (result === 'neg') o.valueCodeableConcept = { coding: [{ system: SNOMED, code: '260385009', display: 'Negative' }], text: 'Negative' };
    else if (result === 'ind') o.interpretation = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'IND' }] }];
    else o.valueString = result;
    this.resources.push(o);
    return this;
  }

  /** A medication taken from `start` to `end` (omit end: still taking it), as a MedicationStatement. */
  medication(med: { rxnorm?: string; display: string }, start: string, opts: { end?: string; status?: MedicationStatement['status']; doseMg?: number; perDay?: number; tablets?: number } = {}): this {
    const ms: MedicationStatement = {
      resourceType: 'MedicationStatement',
      id: this.nextId('med'),
      status: opts.status ?? (opts.end ? 'completed' : 'active'),
      medicationCodeableConcept: { ...(med.rxnorm ? { coding: [{ system: RXNORM, code: med.rxnorm, display: med.display }] } : {}), text: med.display },
      subject: this.subject,
      effectivePeriod: { start, ...(opts.end ? { end: opts.end } : {}) },
    };
    if (opts.doseMg !== undefined || opts.tablets !== undefined) {
      ms.dosage = [
        {
          timing: { repeat: { frequency: opts.perDay ?? 1, period: 1, periodUnit: 'd' } },
          doseAndRate: [{ doseQuantity: opts.doseMg !== undefined ? { value: opts.doseMg, unit: 'mg', system: UCUM, code: 'mg' } : { value: opts.tablets, unit: 'tablet' } }],
        },
      ];
    }
    this.resources.push(ms);
    return this;
  }

  /** A prescription, as Synthea writes them. */
  prescription(med: { rxnorm: string; display: string }, authoredOn: string, status: MedicationRequest['status'] = 'active'): this {
    this.resources.push({
      resourceType: 'MedicationRequest',
      id: this.nextId('rx'),
      status,
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: med.rxnorm, display: med.display }], text: med.display },
      subject: this.subject,
      authoredOn,
    });
    return this;
  }

  procedure(system: string, code: string, display: string, date: string): this {
    const p: Procedure = { resourceType: 'Procedure', id: this.nextId('proc'), status: 'completed', code: { coding: [{ system, code, display }], text: display }, subject: this.subject, performedDateTime: date };
    this.resources.push(p);
    return this;
  }

  immunization(cvx: string, display: string, date: string): this {
    const i: Immunization = { resourceType: 'Immunization', id: this.nextId('imm'), status: 'completed', vaccineCode: { coding: [{ system: CVX, code: cvx, display }], text: display }, patient: this.subject, occurrenceDateTime: date };
    this.resources.push(i);
    return this;
  }

  bundle(): Bundle {
    return { resourceType: 'Bundle', type: 'collection', entry: this.resources.map((resource) => ({ fullUrl: `urn:trialmatch-example:${resource.resourceType}/${resource.id}`, resource })) };
  }
}
