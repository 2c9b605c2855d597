import { buildApp } from './app.js';
import { loadConfig } from './config.js';

// Starts the service; everything else is in buildApp so tests drive the same app with app.inject.
const config = loadConfig();
const app = buildApp({ config });
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
