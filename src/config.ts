import { resolve } from 'node:path';
import { z } from 'zod';

const num = (def: number): z.ZodDefault<z.ZodCoercedNumber> => z.coerce.number().int().positive().default(def);

/** Everything the service reads from its environment, validated once at start-up. */
export const configSchema = z.object({
  port: num(3000),
  host: z.string().default('0.0.0.0'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** fhir-mappings/: trials and code lists. */
  mappingsDir: z.string().default(resolve(import.meta.dirname, '..', 'fhir-mappings')),
  /** A site's own codes added to the code lists (JSON); optional. */
  localCodesFile: z.string().optional(),
  /** cds-hooks/: the service descriptors. */
  cdsHooksDir: z.string().default(resolve(import.meta.dirname, '..', 'cds-hooks')),
  /** Largest request body accepted, in bytes. */
  bodyLimit: num(10 * 1024 * 1024),
  /** Time allowed for one call to the EHR's FHIR server. */
  fhirTimeoutMs: num(8000),
  /** Bundle pages followed per search before giving up (a looping `next` link stops here). */
  fhirMaxPages: num(50),
  /** Resources accepted per search, across its pages. */
  fhirMaxResources: num(20000),
});

export type Config = z.infer<typeof configSchema>;

/** Reads the configuration from environment variables (PORT, HOST, LOG_LEVEL, ...). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return configSchema.parse({
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    mappingsDir: env.MAPPINGS_DIR,
    localCodesFile: env.LOCAL_CODES_FILE || undefined,
    cdsHooksDir: env.CDS_HOOKS_DIR,
    bodyLimit: env.BODY_LIMIT_BYTES,
    fhirTimeoutMs: env.FHIR_TIMEOUT_MS,
    fhirMaxPages: env.FHIR_MAX_PAGES,
    fhirMaxResources: env.FHIR_MAX_RESOURCES,
  });
}
