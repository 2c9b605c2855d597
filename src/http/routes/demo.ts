import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';
import { PROJECT_ROOT } from '../../paths.js';

const PUBLIC_DIR = join(PROJECT_ROOT, 'public');
// marked's own ES module build, served as it is installed: no copy to keep in step, no build step.
const MARKED_DIR = join(dirname(createRequire(import.meta.url).resolve('marked/package.json')), 'lib');

/**
 * The page renders data from patient records and from pasted Bundles; this policy keeps any markup that
 * slips through the page's escaping from running scripts or reaching other hosts.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The files the SMART app (/smart/) and the coordinator's worklist (/coordinator/) load from /demo/: the styles,
 * the evaluation renderer and what it imports. They are served whether or not the demo page is (a production
 * process without DEMO=1 still serves both apps).
 */
const SHARED_ASSETS = new Set(['/styles.css', '/render.js', '/fhir.js', '/api.js']);

/**
 * The demo EHR page (issue #4) at /demo/, with / pointing to it, when `page` is on (DEMO=1, issue #20 item 6);
 * else only the assets the two apps share with it. Static files only: the pages call the API.
 */
export const demoRoutes: FastifyPluginAsync<{ page: boolean }> = async (app, { page }) => {
  const setHeaders = (res: { setHeader(name: string, value: string): unknown }): void => {
    res.setHeader('content-security-policy', CSP);
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
  };
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/demo/',
    index: page ? 'index.html' : false,
    ...(page ? {} : { allowedPath: (path: string) => SHARED_ASSETS.has(path) }),
    setHeaders,
  });
  await app.register(fastifyStatic, {
    root: MARKED_DIR,
    prefix: '/demo/vendor/marked/',
    decorateReply: false,
    allowedPath: (path) => path === '/marked.esm.js',
    setHeaders,
  });
  if (!page) return;
  // The page's relative URLs (styles.css, app.js) resolve under /demo/ only with the trailing slash.
  app.get('/demo', async (_request, reply) => reply.redirect('/demo/'));
  app.get('/', async (_request, reply) => reply.redirect('/demo/'));
};
