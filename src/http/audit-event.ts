import type { FastifyRequest } from 'fastify';
import type { AuditEvent } from '../store/shared-state.js';

/**
 * An audit event for this request (issue #12 item 6): who (the verified issuer and `sub`, 'anonymous' when
 * AUTH_MODE=off) did what to which patient and when. Written to the audit trail, never to the operational log.
 */
export function auditEventFor(request: FastifyRequest, at: Date, action: AuditEvent['action'], about: Pick<AuditEvent, 'patientId' | 'fhirServer' | 'trials' | 'cards'> = {}): AuditEvent {
  return {
    at,
    issuer: request.client?.issuer ?? 'anonymous',
    subject: request.client?.subject ?? (request.client?.issuer ? 'unknown' : 'anonymous'),
    action,
    ...Object.fromEntries(Object.entries(about).filter(([, v]) => v !== undefined)),
  };
}
