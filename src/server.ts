import { buildApp } from './app.js';
import { loadConfig } from './config.js';

// Starts the service; everything else is in buildApp so tests drive the same app with app.inject.
// A configuration the service must not run with (issue #12 item 1: NODE_ENV=production without TRUST_CONFIG
// or PUBLIC_BASE_URL, DEV_TRUST in production, a development issuer without DEV_TRUST) stops it here.
let config;
let app;
try {
  config = loadConfig();
  app = buildApp({ config });
} catch (err) {
  process.stderr.write(`TrialMatch CDS refused to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
try {
  await app.listen({ port: config.port, host: config.host });
  app.log.info({ trials: app.engine.mappings.trials.map((t) => t.id) }, 'TrialMatch CDS ready');
} catch (err) {
  app.log.error({ err }, 'could not start');
  process.exit(1);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
