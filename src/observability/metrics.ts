import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The service's Prometheus metrics (issue #12 item 6), one registry per app so tests and replicas in one
 * process do not share counts. Labels never carry patient data: routes are route patterns, never raw URLs.
 * Lower layers (store, data) may import this module; it imports nothing of the project.
 */
export interface ServiceMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  hookSeconds: Histogram<'status'>;
  /** Requests to EHR FHIR servers, by the resource type searched and how they ended ('ok' or a failure kind). */
  fhirRequestSeconds: Histogram<'resource' | 'outcome'>;
  /** Criterion parts that threw while evaluated (they become unknown with a reason), by the part's mapping id. */
  evaluationFaults: Counter<'rule'>;
  /** Requests to the site's terminology server (TERMINOLOGY_SERVER), by how they ended ('ok' or a failure kind). */
  terminologyRequestSeconds: Histogram<'outcome'>;
  /** Terminology questions answered, from the shared cache or the server, and whether the code was placed. */
  terminologyAnswers: Counter<'source' | 'result'>;
  /**
   * Questions left unsettled (the code stays unplaced, the hook answers anyway): `failed` the request failed,
   * `unanswered` the server gave no usable answer to it, `cap` over TERMINOLOGY_MAX_LOOKUPS, `time` over
   * TERMINOLOGY_BUDGET_MS.
   */
  terminologyUnsettled: Counter<'reason'>;
  /** For the store: one increment per failed database call. */
  databaseErrors: Counter<'operation'>;
  /** The app provides the size; 0 until it does. */
  setReplayCacheSize(size: () => number | Promise<number>): void;
}

export function createMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let replaySize: () => number | Promise<number> = () => 0;
  const requests = new Counter({ name: 'trialmatch_http_requests_total', help: 'HTTP requests by route pattern and status', labelNames: ['route', 'method', 'status'] as const, registers: [registry] });
  const hookSeconds = new Histogram({ name: 'trialmatch_hook_duration_seconds', help: 'patient-view hook latency', labelNames: ['status'] as const, buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const fhirRequestSeconds = new Histogram({ name: 'trialmatch_fhir_request_duration_seconds', help: 'requests to EHR FHIR servers by resource type and outcome (ok or the failure kind)', labelNames: ['resource', 'outcome'] as const, buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const evaluationFaults = new Counter({ name: 'trialmatch_evaluation_faults_total', help: 'criterion parts that could not be evaluated (unknown with a reason), by mapping rule id', labelNames: ['rule'] as const, registers: [registry] });
  const terminologyRequestSeconds = new Histogram({ name: 'trialmatch_terminology_request_duration_seconds', help: 'requests to the terminology server by outcome (ok or the failure kind)', labelNames: ['outcome'] as const, buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] });
  const terminologyAnswers = new Counter({ name: 'trialmatch_terminology_answers_total', help: 'terminology questions answered, by source (cache, server) and result (placed, not-placed)', labelNames: ['source', 'result'] as const, registers: [registry] });
  const terminologyUnsettled = new Counter({ name: 'trialmatch_terminology_unsettled_total', help: 'terminology questions left unsettled (the code stays unplaced), by reason (failed, unanswered, cap, time)', labelNames: ['reason'] as const, registers: [registry] });
  const databaseErrors = new Counter({ name: 'trialmatch_database_errors_total', help: 'failed database calls', labelNames: ['operation'] as const, registers: [registry] });
  new Gauge({
    name: 'trialmatch_replay_cache_entries',
    help: 'live jti entries remembered to refuse replays',
    registers: [registry],
    async collect() {
      this.set(await replaySize());
    },
  });
  return { registry, requests, hookSeconds, fhirRequestSeconds, evaluationFaults, terminologyRequestSeconds, terminologyAnswers, terminologyUnsettled, databaseErrors, setReplayCacheSize: (f) => void (replaySize = f) };
}
