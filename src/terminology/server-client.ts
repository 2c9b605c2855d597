import type { Bundle, Parameters, ParametersParameter, Resource } from '@medplum/fhirtypes';
import { FetchFailure, requestFhirJson, type FetchFailureKind } from '../fhir/fhir-request.js';

/**
 * A site's FHIR R4 terminology server (TERMINOLOGY_SERVER): the R4 terminology operations CodeSystem/$subsumes,
 * ValueSet/$validate-code and ConceptMap/$translate (https://hl7.org/fhir/R4/terminology-service.html), which
 * HAPI FHIR, Ontoserver and Snowstorm implement. Questions go as one `batch` Bundle of GET operations
 * (https://hl7.org/fhir/R4/http.html#transaction: batch entries are processed on their own and answered in
 * the request's order), so a hook costs one round trip however many codes it asks about; a server that refuses
 * batches is asked one GET per question, a few at a time, within the same budget. Bounded like every outgoing call: FHIR_TIMEOUT_MS (or what is left of the hook's
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

/**
 * Statuses that say "this server does not take a batch here" rather than "it failed": then the questions are
 * asked one GET at a time (HTTP 400, 404, 405, 415, 422, 501).
 */
const NO_BATCH = new Set([400, 404, 405, 415, 422, 501]);
/** GETs in flight at once when the server takes no batch. */
const CONCURRENCY = 4;

export class TerminologyServerClient {
  private readonly base: URL;
  /** Set once the server refused a batch: later hooks go straight to single GETs (per app, never shared). */
  private batches = true;

  constructor(private readonly options: TerminologyServerOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  private request(url: URL, timeoutMs: number, signal: AbortSignal | undefined, body?: Bundle): Promise<Resource> {
    return requestFhirJson(url, {
      timeoutMs: Math.max(1, Math.ceil(Math.min(timeoutMs, this.options.timeoutMs))),
      ...(body ? { body } : {}),
      abortedMessage: 'the hook\'s terminology budget ran out',
      ...(this.options.maxResponseBytes !== undefined ? { maxResponseBytes: this.options.maxResponseBytes } : {}),
      ...(signal ? { signal } : {}),
      ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
    });
  }

  /**
   * Asks every question in one batch (one GET each when the server takes no batch). Never throws: a failed
   * request is `failure`, a question the server did not answer (an error status, a code it does not know) is
   * simply absent, and the code stays unplaced.
   */
  async ask(questions: readonly TerminologyQuestion[], timeoutMs: number, signal?: AbortSignal): Promise<AskResult> {
    const answers = new Map<string, TerminologyAnswer>();
    if (questions.length === 0) return { answers };
    const started = performance.now();
    if (!this.batches) return this.askOneByOne(questions, timeoutMs, signal);
    const batch: Bundle = { resourceType: 'Bundle', type: 'batch', entry: questions.map((q) => ({ request: { method: 'GET', url: questionUrl(q) } })) };
    let response: Resource;
    try {
      response = await this.request(this.base, timeoutMs, signal, batch);
    } catch (err) {
      if (err instanceof FetchFailure && err.status !== undefined && NO_BATCH.has(err.status)) {
        this.batches = false;
        return this.askOneByOne(questions, timeoutMs - (performance.now() - started), signal);
      }
      return { answers, failure: err instanceof FetchFailure ? err.kind : 'connection' };
    }
    const entries = response.resourceType === 'Bundle' && response.type === 'batch-response' ? (response.entry ?? []) : undefined;
    // Entries answer the request's in order (https://hl7.org/fhir/R4/http.html#transaction); a response of
    // another length cannot be paired.
    if (!entries || entries.length !== questions.length) return { answers, failure: 'not-fhir' };
    questions.forEach((q, i) => {
      const entry = entries[i];
      if (!entry?.response?.status?.startsWith('2')) return;
      const answer = readAnswer(q, entry.resource);
      if (answer) answers.set(questionUrl(q), answer);
    });
    return { answers };
  }

  /** One GET per question, a few at a time, within the same time; the first failure kind is reported. */
  private async askOneByOne(questions: readonly TerminologyQuestion[], timeoutMs: number, signal: AbortSignal | undefined): Promise<AskResult> {
    const answers = new Map<string, TerminologyAnswer>();
    const deadline = performance.now() + timeoutMs;
    let failure: FetchFailureKind | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < questions.length) {
        const q = questions[next++]!;
        const left = deadline - performance.now();
        if (left <= 0 || signal?.aborted) {
          failure ??= 'aborted';
          return;
        }
        try {
          const answer = readAnswer(q, await this.request(new URL(questionUrl(q), this.base), left, signal));
          if (answer) answers.set(questionUrl(q), answer);
        } catch (err) {
          // A 4xx for one question (a code the server does not know) is that question unanswered, no more.
          if (!(err instanceof FetchFailure && err.kind === 'http-status' && (err.status ?? 500) < 500)) failure ??= err instanceof FetchFailure ? err.kind : 'connection';
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, questions.length) }, worker));
    return failure && answers.size === 0 ? { answers, failure } : { answers };
  }
}
