import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditEvent, AuditTrail } from '../shared-state.js';

/**
 * The audit trail in the embedded mode: its own JSON-lines file (AUDIT_FILE), mode 0600, one line per event,
 * appended (O_APPEND: one write per line, so lines never interleave). It holds patient ids by design (who
 * looked at whom), so it is never the operational log and never goes to stdout.
 */
export class AuditFile implements AuditTrail {
  private constructor(private readonly handle: FileHandle) {}

  static async open(file: string): Promise<AuditFile> {
    mkdirSync(dirname(file), { recursive: true });
    return new AuditFile(await open(file, 'a', 0o600));
  }

  async record(event: AuditEvent): Promise<void> {
    // JSON leaves U+2028 and U+2029 raw; line-oriented readers (and JavaScript before ES2019) take them for line
    // ends, so one event would read as two (issue #20 item 5). Escaped, the line is the same JSON.
    await this.handle.write(`${JSON.stringify(auditLine(event)).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')}\n`);
  }

  async close(): Promise<void> {
    await this.handle.close();
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
