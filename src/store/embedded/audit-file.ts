import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEvent, AuditTrail } from '../shared-state.js';
import { LineBatch } from './line-batch.js';

/**
 * The audit trail in the embedded mode: its own JSON-lines file (AUDIT_FILE), mode 0600, one line per event,
 * appended (O_APPEND: whole lines per write, so lines never interleave). It holds patient ids by design (who
 * looked at whom), so it is never the operational log and never goes to stdout. Group commit (issue #21
 * item 5): the events of one event-loop turn are one write (src/store/embedded/line-batch.ts); record()
 * resolves once its line is written, so a hook's answer still waits for its audit line.
 */
export class AuditFile implements AuditTrail {
  private readonly batch: LineBatch;

  private constructor(private fd: number) {
    this.batch = new LineBatch((text) => writeSync(this.fd, text));
  }

  static async open(file: string): Promise<AuditFile> {
    mkdirSync(dirname(file), { recursive: true });
    return new AuditFile(openSync(file, 'a', 0o600));
  }

  async record(event: AuditEvent): Promise<void> {
    if (this.fd < 0) throw new Error('the audit file is closed');
    // JSON leaves U+2028 and U+2029 raw; line-oriented readers (and JavaScript before ES2019) take them for line
    // ends, so one event would read as two (issue #20 item 5). Escaped, the line is the same JSON.
    await this.batch.add(`${JSON.stringify(auditLine(event)).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')}\n`);
  }

  async close(): Promise<void> {
    if (this.fd < 0) return;
    this.batch.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * The longest text an audit field keeps (issue #20 item 5: a token's `sub` of any length made 7 KB audit lines).
 * Issuers, subjects, FHIR base URLs and FHIR ids are far shorter; a longer one is cut and marked.
 */
export const AUDIT_FIELD_MAX = 256;

function bounded(text: string): string {
  return text.length > AUDIT_FIELD_MAX ? `${text.slice(0, AUDIT_FIELD_MAX - 1)}…` : text;
}

/** The event with every text field bounded: what both audit trails store. */
export function boundedAuditEvent(e: AuditEvent): AuditEvent {
  return {
    ...e,
    issuer: bounded(e.issuer),
    subject: bounded(e.subject),
    ...(e.patientId !== undefined ? { patientId: bounded(e.patientId) } : {}),
    ...(e.fhirServer !== undefined ? { fhirServer: bounded(e.fhirServer) } : {}),
  };
}

/** The one shape of an audit line in the file (PostgreSQL keeps the same fields as columns). */
export function auditLine(event: AuditEvent): Record<string, unknown> {
  const e = boundedAuditEvent(event);
  return {
    at: e.at.toISOString(),
    issuer: e.issuer,
    subject: e.subject,
    action: e.action,
    ...(e.patientId !== undefined ? { patientId: e.patientId } : {}),
    ...(e.fhirServer !== undefined ? { fhirServer: e.fhirServer } : {}),
    ...(e.trials !== undefined ? { trials: e.trials } : {}),
    ...(e.state !== undefined ? { state: e.state } : {}),
    ...(e.cards !== undefined ? { cards: e.cards } : {}),
  };
}
