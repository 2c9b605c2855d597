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
    await this.handle.write(`${JSON.stringify(auditLine(event))}\n`);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** The one shape of an audit line, in the file and (as columns) in PostgreSQL. */
export function auditLine(e: AuditEvent): Record<string, unknown> {
  return {
    at: e.at.toISOString(),
    issuer: e.issuer,
    subject: e.subject,
    action: e.action,
    ...(e.patientId !== undefined ? { patientId: e.patientId } : {}),
    ...(e.fhirServer !== undefined ? { fhirServer: e.fhirServer } : {}),
    ...(e.trials !== undefined ? { trials: e.trials } : {}),
  };
}
