/**
 * FHIR base URLs as the service compares them (issue #20 item 5). One spelling per server, so a trailing `/`
 * or an upper-case host cannot make the same server two (a suppression keyed on it came back), and one rule for
 * paths that servers read differently from the URL parser.
 */

/**
 * Whether a URL path holds something a server may read as another path than the one the service checked:
 * encoded dots, slashes, backslashes or percent signs (`/..%2fadmin`), or a `;` path parameter, which Tomcat
 * (under HAPI FHIR) strips, so `/fhir/..;/admin` is `/admin` there. WHATWG URL parsing has already removed
 * literal `.` and `..` segments and turned `\` into `/`.
 */
export function hasAmbiguousPath(pathname: string): boolean {
  return /%2e|%2f|%5c|%25|;/i.test(pathname);
}

/** `scheme://host[:port]/path` without a trailing slash, host in lower case and a default port dropped; undefined when not a URL. */
export function normalizeFhirBase(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
}
