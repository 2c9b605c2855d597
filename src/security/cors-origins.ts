/**
 * The browser origins allowed to call the service (CORS), from the trust file's `corsOrigins` (issue #12
 * item 1: CORS was reflecting any origin, so any web page a developer opened could call the service).
 *
 * An entry is an origin, `scheme://host[:port]`, or `scheme://host:*` for any port of that host (the
 * development trust file allows http://localhost:* and http://127.0.0.1:*). Hosts compare case-insensitively;
 * the default port of the scheme matches an entry without one.
 */
const ORIGIN_PATTERN = /^(https?):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}|\*))?$/;

export const CORS_ORIGIN_HELP = 'a CORS origin is scheme://host[:port|:*] with no path, e.g. https://ehr.hospital.org or http://localhost:*';

interface CompiledOrigin {
  protocol: string;
  hostname: string;
  port: string;
}

const defaultPort = (protocol: string): string => (protocol === 'https:' ? '443' : '80');

function compile(entry: string): CompiledOrigin | undefined {
  const m = ORIGIN_PATTERN.exec(entry);
  if (!m) return undefined;
  const protocol = `${m[1] as string}:`;
  return { protocol, hostname: new URL(`${protocol}//${m[2] as string}`).hostname, port: m[3] ?? defaultPort(protocol) };
}

export function isCorsOriginPattern(entry: string): boolean {
  return compile(entry) !== undefined;
}

export class CorsOriginAllowlist {
  private readonly patterns: CompiledOrigin[];

  constructor(readonly entries: readonly string[]) {
    this.patterns = entries.map((e) => {
      const c = compile(e);
      if (!c) throw new Error(`"${e}": ${CORS_ORIGIN_HELP}`);
      return c;
    });
  }

  allows(origin: string | undefined): boolean {
    if (!origin || origin.length > 300) return false;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    // An Origin header is exactly scheme://host[:port]; anything more is not an origin.
    if (url.origin !== origin) return false;
    const port = url.port || defaultPort(url.protocol);
    return this.patterns.some((p) => p.protocol === url.protocol && p.hostname === url.hostname && (p.port === '*' || p.port === port));
  }
}
