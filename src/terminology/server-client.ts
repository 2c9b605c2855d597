import type { Bundle, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { FetchFailure, requestFhirJson, type FetchFailureKind } from '../fhir/fhir-request.js';

/**
 * A site's FHIR R4 terminology server (TERMINOLOGY_SERVER): the R4 terminology operations CodeSystem/$subsumes,
 * ValueSet/$validate-code and ConceptMap/$translate (https://hl7.org/fhir/R4/terminology-service.html), which
 * HAPI FHIR, Ontoserver and Snowstorm implement. Questions go as one `batch` Bundle of GET operations
 * (https://hl7.org/fhir/R4/http.html#transaction: batch entries are processed on their own and answered in
 * the request's order), so a hook costs one round trip however many codes it asks about; a server that does
 * not take batches fails every question (counted), and the codes stay unplaced. Bounded like every outgoing call: FHIR_TIMEOUT_MS (or what is left of the hook's
 * terminology budget), FHIR_MAX_RESPONSE_BYTES, no redirects; no EHR token is ever sent to it.
 */
export type TerminologyQuestion =
  | { op: 'validate-code'; url: string; system: string; code: string }
  | { op: 'subsumes'; system: string; codeA: string; codeB: string }
  | { op: 'translate'; system: string; code: string };

export type TerminologyAnswer =
  | { op: 'validate-code'; result: boolean }
  | { op: 'subsumes'; outcome: 'equivalent' | 'subsumes' | 'subsumed-by' | 'not-subsumed' }
  | { op: 'translate'; matches: { equivalence: string; target: string }[] };

export interface TerminologyServerOptions {
  baseUrl: string;
  timeoutMs: number;
  maxResponseBytes?: number;
  fetch?: typeof fetch;
}

export interface AskResult {
  /** Answers by the question's request URL (questionUrl); a question the server did not answer is absent. */
  answers: Map<string, TerminologyAnswer>;
  /** Why nothing came back, when the request itself failed. */
  failure?: FetchFailureKind;
}

/** The question as the relative GET of a batch entry, which is also its identity (and cache key part). */
export function questionUrl(q: TerminologyQuestion): string {
  const p = new URLSearchParams();
  switch (q.op) {
    case 'validate-code':
      p.set('url', q.url);
      p.set('system', q.system);
      p.set('code', q.code);
      return `ValueSet/$validate-code?${p.toString()}`;
    case 'subsumes':
      p.set('system', q.system);
      p.set('codeA', q.codeA);
      p.set('codeB', q.codeB);
      return `CodeSystem/$subsumes?${p.toString()}`;
    case 'translate':
      p.set('system', q.system);
      p.set('code', q.code);
      return `ConceptMap/$translate?${p.toString()}`;
  }
}

const SUBSUMPTION = new Set(['equivalent', 'subsumes', 'subsumed-by', 'not-subsumed']);

function param(params: Parameters, name: string): ParametersParameter | undefined {
  return params.parameter?.find((x) => x.name === name);
}

/** The answer in an operation's Parameters, or undefined when it holds none the service can read. */
export function readAnswer(q: TerminologyQuestion, resource: Resource | undefined): TerminologyAnswer | undefined {
  if (resource?.resourceType !== 'Parameters') return undefined;
  switch (q.op) {
    case 'validate-code': {
      const result = param(resource, 'result')?.valueBoolean;
      return typeof result === 'boolean' ? { op: 'validate-code', result } : undefined;
    }
    case 'subsumes': {
      const outcome = param(resource, 'outcome')?.valueCode;
      return outcome && SUBSUMPTION.has(outcome) ? { op: 'subsumes', outcome: outcome as 'equivalent' } : undefined;
    }
    case 'translate': {
      const result = param(resource, 'result')?.valueBoolean;
      if (typeof result !== 'boolean') return undefined;
      const matches: { equivalence: string; target: string }[] = [];
      for (const m of resource.parameter ?? []) {
        if (m.name !== 'match') continue;
        const equivalence = m.part?.find((x) => x.name === 'equivalence')?.valueCode;
        const concept = m.part?.find((x) => x.name === 'concept')?.valueCoding;
        if (equivalence && concept?.system && concept.code) matches.push({ equivalence, target: `${concept.system}|${concept.code}` });
      }
      return { op: 'translate', matches: result ? matches : [] };
    }
  }
}

export class TerminologyServerClient {
  private readonly base: URL;

  constructor(private readonly options: TerminologyServerOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  /**
   * Asks every question in one batch. Never throws: a failed request is `failure`, an entry the server did
   * not answer (an error status, a code it does not know) is simply absent, and the code stays unplaced.
   */
  async ask(questions: readonly TerminologyQuestion[], timeoutMs: number, signal?: AbortSignal): Promise<AskResult> {
    const answers = new Map<string, TerminologyAnswer>();
    if (questions.length === 0) return { answers };
    const batch: Bundle = { resourceType: 'Bundle', type: 'batch', entry: questions.map((q) => ({ request: { method: 'GET', url: questionUrl(q) } })) };
    let response: Resource;
    try {
      response = await requestFhirJson(this.base, {
        timeoutMs: Math.max(1, Math.ceil(Math.min(timeoutMs, this.options.timeoutMs))),
        body: batch,
        abortedMessage: 'the hook\'s terminology budget ran out',
        ...(this.options.maxResponseBytes !== undefined ? { maxResponseBytes: this.options.maxResponseBytes } : {}),
        ...(signal ? { signal } : {}),
        ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      });
    } catch (err) {
      return { answers, failure: err instanceof FetchFailure ? err.kind : 'connection' };
    }
    const entries = response.resourceType === 'Bundle' && response.type === 'batch-response' ? (response.entry ?? []) : undefined;
    // Entries answer the request's in order (R4 §3.1.0.11.2); a response of another length cannot be paired.
    if (!entries || entries.length !== questions.length) return { answers, failure: 'not-fhir' };
    questions.forEach((q, i) => {
      const entry = entries[i];
      if (!entry?.response?.status?.startsWith('2')) return;
      const answer = readAnswer(q, entry.resource);
      if (answer) answers.set(questionUrl(q), answer);
    });
    return { answers };
  }
}
