import { hasAmbiguousPath } from '../fhir/fhir-base-url.js';
import { forbidden, type OperationOutcomeError } from '../fhir/outcomes.js';

/**
 * Which FHIR servers the service may call (CDS Hooks 2.0 §Trusting CDS Clients: `fhirServer` comes from the
 * request, so calling it blindly is server-side request forgery).
 *
 * A pattern is `scheme://host[:port|:*][/path]`: the scheme and host must be equal (host case-insensitive),
 * the port equal (the scheme's default when absent) or any with `*`, and the called URL's path must be the
 * pattern's path or below it (on a `/` boundary). URLs with credentials, query or fragment never match, nor
 * a path a server could read as another (`..;`, encoded slashes and dots: the rule paging links follow).
 */
const PATTERN = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}|\*))?(\/[^?#]*)?$/;

export const FHIR_SERVER_PATTERN_HELP = 'a FHIR server pattern is scheme://host[:port|:*][/path], e.g. https://fhir.example.org/r4 or http://127.0.0.1:*';

interface CompiledPattern {
  protocol: string;
  hostname: string;
  /** A port number, or * for any. */
  port: string;
  path: string;
}

function defaultPort(protocol: string): string {
  return protocol === 'https:' ? '443' : '80';
}

function compile(pattern: string): CompiledPattern {
  const m = PATTERN.exec(pattern);
  if (!m) throw new Error(`"${pattern}": ${FHIR_SERVER_PATTERN_HELP}`);
  const protocol = `${m[1] as string}:`;
  const port = m[3] ?? defaultPort(protocol);
  // Hosts are compared as the URL parser writes them (lower case, IPv6 in brackets).
  const hostname = new URL(`${protocol}//${m[2] as string}`).hostname;
  return { protocol, hostname, port, path: (m[4] ?? '/').replace(/\/+$/, '') };
}

export function isFhirServerPattern(pattern: string): boolean {
  try {
    compile(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Hosts that are this machine: plain http is allowed only to them. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Whether a pattern keeps the EHR's FHIR token off the network in clear text: https, or http only on this
 * machine (issue #12 item 1: an http:// FHIR server elsewhere would receive the EHR's access token unencrypted).
 */
export function isSecureFhirServerPattern(pattern: string): boolean {
  try {
    const p = compile(pattern);
    return p.protocol === 'https:' || LOOPBACK_HOSTS.has(p.hostname);
  } catch {
    return false;
  }
}

export const FHIR_SERVER_HTTPS_HELP = 'a FHIR server must be https:// (http:// only on this machine: 127.0.0.1, localhost, [::1]), or the EHR\'s token would cross the network in clear text';

export class FhirServerAllowlist {
  private readonly patterns: CompiledPattern[];

  constructor(readonly entries: readonly string[]) {
    this.patterns = entries.map(compile);
  }

  allows(fhirServer: string): boolean {
    let url: URL;
    try {
      url = new URL(fhirServer);
    } catch {
      return false;
    }
    if (url.username || url.password || url.search || url.hash || hasAmbiguousPath(url.pathname)) return false;
    const port = url.port || defaultPort(url.protocol);
    const path = url.pathname.replace(/\/+$/, '');
    return this.patterns.some(
      (p) =>
        p.protocol === url.protocol &&
        p.hostname === url.hostname &&
        (p.port === '*' || p.port === port) &&
        (p.path === '' || path === p.path || path.startsWith(`${p.path}/`)),
    );
  }
}

/** The policy of a caller the service has no identity for: it may name no FHIR server (fail closed). */
export const NO_FHIR_SERVERS = new FhirServerAllowlist([]);

/** A `fhirServer` the caller may not name: refused (403) before any request leaves the service. */
export function fhirServerNotAllowed(): OperationOutcomeError {
  return forbidden('fhirServer is not a FHIR server this service is configured to trust for this caller; no request was made to it', ['fhirServer']);
}
