import { patientReference, type Worklist } from './worklist.js';

const HEADER = ['rank', 'patient', 'fhir_server', 'patient_id', 'status', 'status_reason', 'open_items', 'open_item_text', 'last_data_seen', 'new', 'state', 'state_set_by', 'state_set_at', 'screened_at', 'criteria'];

/**
 * The worklist as CSV (RFC 4180: CRLF line ends, every field quoted, quotes doubled), one row per candidate in
 * rank order. A cell a spreadsheet would read as a formula (starting with = + - @, or a tab or carriage
 * return; OWASP "CSV Injection") is prefixed with a single quote, so opening the file runs nothing.
 */
export function worklistCsv(worklist: Worklist): string {
  const rows = worklist.candidates.map((c) => [
    String(c.rank),
    patientReference(c.entry),
    c.entry.fhirServer,
    c.entry.patientId,
    c.entry.status,
    c.entry.statusReason,
    c.entry.openItems.join('; '),
    c.entry.openItemText.join('; '),
    c.entry.lastDataSeen ?? '',
    c.entry.isNew ? 'yes' : 'no',
    c.state,
    c.stateSet ? `${c.stateSet.setBy.subject} (${c.stateSet.setBy.issuer})` : '',
    c.stateSet?.setAt ?? '',
    c.entry.screenedAt,
    c.entry.criteria.map((r) => `${r.id}=${r.outcome}`).join('; '),
  ]);
  return [HEADER, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}
