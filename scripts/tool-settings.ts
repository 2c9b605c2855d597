import { z } from 'zod';
import { num, setting } from '../src/config.js';

/**
 * The environment variables the tests, the bench and the scripts read (never the service itself), so that
 * docs/configuration.md lists every variable read anywhere (issue #21 item 2; test/docs/configuration-doc.test.ts
 * finds each `process.env` read in the tree and fails on one listed nowhere). Each tool reads its own variable
 * where it is used; this is the reference, in the service schema's form.
 */
const text = (): z.ZodOptional<z.ZodString> => z.string().optional();

export const toolShape = {
  testcontainersHostOverride: setting(text(), {
    env: 'TESTCONTAINERS_HOST_OVERRIDE',
    doc: 'testcontainers\' own variable: the host the tests reach containers at. .ci/run sets 127.0.0.1, where .ci/setup-docker.sh\'s engine publishes ports (inside a container testcontainers would otherwise ask the bridge gateway).',
  }),
  benchRoot: setting(text(), {
    env: 'BENCH_ROOT',
    shownDefault: 'this checkout',
    doc: 'The checkout whose dist/ bench/hook-loop.ts runs (another build, for an interleaved comparison: bench/compare-builds.sh).',
  }),
  benchProduction: setting(z.enum(['1']).optional(), {
    env: 'BENCH_PRODUCTION',
    doc: '`1`: bench/hook-loop.ts runs as production does, logging at info and auth on with a fresh ES384 token per hook.',
  }),
  benchMaxHooks: setting(z.string().optional(), {
    env: 'BENCH_MAX_HOOKS',
    shownDefault: '1500',
    doc: 'Hooks bench/hook-loop.ts signs tokens for, besides the warm-up (the same number whatever the run\'s count, so runs of different lengths do the same start-up work).',
  }),
  benchCpu: setting(z.enum(['1']).optional(), {
    env: 'BENCH_CPU',
    doc: '`1`: bench/hook-loop.ts prints the process\'s CPU time per hook over the counted hooks.',
  }),
  benchPatient: setting(z.enum(['typical', 'heavy']).optional(), {
    env: 'BENCH_PATIENT',
    shownDefault: 'typical',
    doc: 'The patient bench/hook-loop.ts sends with full prefetch: `typical` (the sle-child-likely example) or `heavy` (the largest Synthea bundle).',
  }),
  benchSyntheaDir: setting(text(), {
    env: 'BENCH_SYNTHEA_DIR',
    shownDefault: '../shared/data/synthea beside the checkout',
    doc: 'Where bench/hook-loop.ts finds the Synthea bundles for BENCH_PATIENT=heavy.',
  }),
  benchWarmup: setting(z.string().optional(), {
    env: 'BENCH_WARMUP',
    shownDefault: '200 (bench/instructions.sh: 300)',
    doc: 'Hooks bench/hook-loop.ts runs before the counted ones.',
  }),
  benchGate: setting(text(), {
    env: 'BENCH_GATE',
    doc: 'bench/instructions.sh: after the warm-up, bench/hook-loop.ts creates <path>.ready and waits for <path>.go, so callgrind or strace counts the counted hooks alone.',
  }),
  benchRewarm: setting(z.string().optional(), {
    env: 'BENCH_REWARM',
    shownDefault: '200',
    doc: 'bench/hook-loop.ts with BENCH_GATE: hooks run after the forced collection and before the gate, so V8 has optimised its hot code again (the collection throws it away) and the counted hooks are a warm service\'s.',
  }),
  benchMark: setting(text(), {
    env: 'BENCH_MARK',
    doc: 'bench/trace-opt.sh: a script of that file name bench/hook-loop.ts compiles where the counted hooks begin, so a V8 log (node --log-code) shows what TurboFan compiles in them.',
  }),
  benchCpuProfile: setting(text(), {
    env: 'BENCH_CPU_PROFILE',
    doc: 'A file bench/hook-loop.ts writes a V8 CPU profile of its counted hooks to (for bench/summarise-profile.ts).',
  }),
  benchN1: setting(z.string().optional(), { env: 'BENCH_N1', shownDefault: '20', doc: 'bench/instructions.sh: counted hooks of the shorter run under callgrind.' }),
  benchN2: setting(z.string().optional(), { env: 'BENCH_N2', shownDefault: '120', doc: 'bench/instructions.sh: counted hooks of the longer run under callgrind.' }),
  benchStraceN1: setting(z.string().optional(), { env: 'BENCH_STRACE_N1', shownDefault: '100', doc: 'bench/instructions.sh: counted hooks of the shorter run under strace.' }),
  benchStraceN2: setting(z.string().optional(), { env: 'BENCH_STRACE_N2', shownDefault: '500', doc: 'bench/instructions.sh: counted hooks of the longer run under strace.' }),
  benchPatients: setting(z.string().optional(), { env: 'BENCH_PATIENTS', shownDefault: 'typical heavy', doc: 'bench/instructions.sh: the patients measured (BENCH_PATIENT values, space-separated).' }),
  benchMeasure: setting(z.string().optional(), { env: 'BENCH_MEASURE', shownDefault: 'instructions syscalls', doc: 'bench/instructions.sh: what it measures, `instructions` (callgrind) and/or `syscalls` (strace); `none` with BENCH_OUT prints an earlier run\'s tables again.' }),
  benchJobs: setting(z.string().optional(), { env: 'BENCH_JOBS', shownDefault: '2', doc: 'bench/instructions.sh: valgrind runs at once.' }),
  benchOut: setting(text(), { env: 'BENCH_OUT', shownDefault: 'a new folder under /tmp', doc: 'bench/instructions.sh: where the raw counts (callgrind files, strace tables) are kept.' }),
  compareRounds: setting(z.string().optional(), {
    env: 'ROUNDS',
    shownDefault: '5',
    doc: 'Alternating rounds of bench/compare-builds.sh and of bench/large-record.ts.',
  }),
  benchRoots: setting(text(), {
    env: 'BENCH_ROOTS',
    shownDefault: 'none: this checkout only',
    doc: 'Comma-separated checkouts whose dist/ bench/large-record.ts runs interleaved with this checkout, round by round (issue #21 item 4).',
  }),
  benchHapiPid: setting(text(), {
    env: 'BENCH_HAPI_PID',
    doc: 'The pid of the HAPI JVM behind FHIR_BASE_URL, on this machine: bench/large-record.ts then prints HAPI\'s CPU time per hook, bench/population-hapi.ts HAPI\'s CPU time per job.',
  }),
  benchHapiPatients: setting(z.string().optional(), { env: 'BENCH_HAPI_PATIENTS', shownDefault: '1000', doc: 'bench/population-hapi.ts: patients of the cohort loaded into HAPI, exported and screened.' }),
  benchHapiSeed: setting(z.string().optional(), { env: 'BENCH_HAPI_SEED', shownDefault: '19', doc: 'bench/population-hapi.ts: the cohort generator\'s seed (scripts/build-cohort.ts).' }),
  benchHapiChanged: setting(z.string().optional(), { env: 'BENCH_HAPI_CHANGED', shownDefault: '0.01', doc: 'bench/population-hapi.ts: the fraction of patients given a new result before the incremental job.' }),
  benchHapiSample: setting(z.string().optional(), { env: 'BENCH_HAPI_SAMPLE', shownDefault: '40', doc: 'bench/population-hapi.ts: patients (at least 20, half lupus candidates) whose hook statuses are compared with the job\'s.' }),
  benchHapiScope: setting(z.enum(['group', 'patients']).optional(), { env: 'BENCH_HAPI_SCOPE', shownDefault: 'group', doc: 'bench/population-hapi.ts: `group` exports the cohort\'s Group (`Group/{id}/$export`), `patients` the whole server (`Patient/$export`).' }),
  benchHapiNoBuild: setting(z.enum(['1']).optional(), { env: 'BENCH_HAPI_NO_BUILD', doc: '`1`: bench/population-hapi.ts uses the `dist/` already built instead of running `npm run build` first.' }),
  benchHapiSkipLoad: setting(z.enum(['1']).optional(), { env: 'BENCH_HAPI_SKIP_LOAD', doc: '`1` with FHIR_BASE_URL: bench/population-hapi.ts does not load the cohort (the server holds it from an earlier run of the same size and seed).' }),
  benchHapiNoWrite: setting(z.enum(['1']).optional(), { env: 'BENCH_HAPI_NO_WRITE', doc: '`1`: bench/population-hapi.ts writes neither bench/population-hapi-results.json nor its section of bench/results.md.' }),
  compareHooks: setting(z.string().optional(), {
    env: 'HOOKS',
    shownDefault: '400',
    doc: 'Hooks per run of bench/compare-builds.sh.',
  }),
  postgresPassword: setting(text(), {
    env: 'POSTGRES_PASSWORD',
    doc: 'The PostgreSQL image\'s own variable (the official image, and the stand-in deploy/local-images/postgres-entrypoint.sh honours it): the superuser password docker-compose.yml and the container tests set.',
  }),
  testContainers: setting(z.enum(['off', 'require']).optional(), {
    env: 'TEST_CONTAINERS',
    shownDefault: 'unset: a container when Docker answers, else the fallback',
    doc: 'How the integration and replicas projects get HAPI and PostgreSQL (test/support/containers.ts): `require` from containers only (a container that does not start fails the run), `off` never from containers (the Maven-built HAPI, Debian\'s PostgreSQL). .ci/run runs both ways.',
  }),
  dockerCache: setting(z.string().default('/var/cache/trialmatch-docker'), {
    env: 'TRIALMATCH_DOCKER_CACHE',
    doc: 'Where .ci/setup-docker.sh keeps the Debian root filesystem it builds the stand-in base images from, so a second run skips debootstrap.',
  }),
  dockerdPid: setting(z.string().default('/run/trialmatch-dockerd.pid'), {
    env: 'TRIALMATCH_DOCKERD_PID',
    doc: 'The pid file of the Docker engine .ci/setup-docker.sh started; .ci/teardown-docker.sh stops only that one.',
  }),
  nodeExtraCaCerts: setting(z.string().default('/etc/ssl/certs/ca-certificates.crt'), {
    env: 'NODE_EXTRA_CA_CERTS',
    doc: 'The CA bundle .ci/setup-docker.sh copies into the stand-in Node image (Node\'s own variable).',
  }),
  benchPopulation: setting(z.string().optional(), {
    env: 'BENCH_POPULATION',
    shownDefault: '100000',
    doc: 'Patients in the cohort `npm run bench -- --population` builds and screens (bench/population.ts).',
  }),
  benchPopulationEval: setting(z.string().optional(), {
    env: 'BENCH_POPULATION_EVAL',
    shownDefault: '10000',
    doc: 'Patients screened for the evaluation-alone figure of `npm run bench -- --population`.',
  }),
  benchDetailPatients: setting(z.string().optional(), {
    env: 'BENCH_DETAIL_PATIENTS',
    shownDefault: '400',
    doc: 'Cohort patients bench/evaluator-detail.ts evaluates per pass (detail `full` against `decision`, interleaved).',
  }),
  benchDetailModes: setting(text(), {
    env: 'BENCH_DETAIL_MODES',
    shownDefault: 'every mode',
    doc: 'Comma-separated modes bench/evaluator-detail.ts runs (`base`, `full`, `decision`, `base-screen`, `screen`): one alone, for a CPU profile.',
  }),
  benchBase: setting(text(), {
    env: 'BENCH_BASE',
    doc: 'Another checkout (its src/ and fhir-mappings/, with node_modules beside) whose evaluator and screenPatient bench/evaluator-detail.ts times interleaved with this one\'s, as `base` and `base-screen`.',
  }),
  benchCohortDir: setting(text(), {
    env: 'BENCH_COHORT_DIR',
    shownDefault: 'a folder under the system\'s temporary directory, removed after',
    doc: 'Where `npm run bench -- --population` writes (or finds) its NDJSON cohort; kept when given.',
  }),
  benchPopulationBase: setting(text(), {
    env: 'BENCH_POPULATION_BASE',
    doc: 'Another checkout whose `dist/` is built (e.g. main before a change): `npm run bench -- --population` then runs it and this build end to end, alternating, for a before/after in one run.',
  }),
  benchPopulationCompare: setting(z.string().optional(), {
    env: 'BENCH_POPULATION_COMPARE',
    shownDefault: '10000',
    doc: 'Patients of the before/after cohort when `BENCH_POPULATION_BASE` is set.',
  }),
  benchPopulationRounds: setting(z.string().optional(), {
    env: 'BENCH_POPULATION_ROUNDS',
    shownDefault: '2',
    doc: 'Rounds of the before/after (each runs both builds) when `BENCH_POPULATION_BASE` is set.',
  }),
  benchPopulationNoBuild: setting(z.enum(['1']).optional(), {
    env: 'BENCH_POPULATION_NO_BUILD',
    doc: '`1`: `npm run bench -- --population` uses the `dist/` already built instead of running `npm run build` first.',
  }),
  fhirBaseUrl: setting(text(), {
    env: 'FHIR_BASE_URL',
    doc: 'A HAPI FHIR R4 server to use instead of starting one: the integration tests (test/integration/global-setup.ts), `npm run bench` (bench/fhir-path.ts) and `scripts/load-examples.ts`.',
  }),
  requireFhirServer: setting(z.enum(['1']).optional(), {
    env: 'REQUIRE_FHIR_SERVER',
    doc: '`1`: the integration tests fail, not skip, when no FHIR server can be had (.ci/run sets it).',
  }),
  requirePostgres: setting(z.enum(['1']).optional(), {
    env: 'REQUIRE_POSTGRES',
    doc: '`1`: the replica tests fail, not skip, when no PostgreSQL can be had (.ci/run sets it).',
  }),
  ci: setting(z.enum(['true']).optional(), {
    env: 'CI',
    doc: '`true`: the browser, sandbox and SMART-launcher tests fail, not skip, when Chromium or a tool is missing (.ci/run sets it).',
  }),
  testDatabaseUrl: setting(text(), {
    env: 'TEST_DATABASE_URL',
    shownDefault: 'unset: Docker, else Debian\'s postgresql binaries',
    doc: 'A PostgreSQL the replica tests and `npm run soak -- --replicas 2` may fill (test/support/postgres.ts).',
  }),
  chromiumPath: setting(z.string().default('/usr/bin/chromium'), {
    env: 'CHROMIUM_PATH',
    doc: 'The Chromium the browser project and the SMART-launcher and sandbox tests drive (.ci/setup-browser.sh installs Debian\'s).',
  }),
  smartLauncherDir: setting(z.string().default('/tmp/trialmatch-smart-launcher'), {
    env: 'SMART_LAUNCHER_DIR',
    doc: 'The scratch copy of the SMART launcher (smart-on-fhir/smart-launcher-v2) that .ci/setup-smart-launcher.sh builds from ../shared/tools/ and test/integration/smart-launch.test.ts serves.',
  }),
  sharedDir: setting(z.string().default('../shared'), {
    env: 'SHARED_DIR',
    doc: 'The shared folder beside the clone (tools, Synthea data) .ci/setup-smart-launcher.sh copies the SMART launcher from.',
  }),
  smartLauncherSource: setting(z.string().default('../shared/tools/smart-launcher'), {
    env: 'SMART_LAUNCHER_SOURCE',
    doc: 'The SMART launcher source .ci/setup-smart-launcher.sh builds its scratch copy from (never changed itself).',
  }),
  mavenRepoLocal: setting(z.string().default('~/.m2/repository'), {
    env: 'MAVEN_REPO_LOCAL',
    doc: 'The Maven repository .ci/setup-fhir-server.sh and test/fhir-server/build.sh build the HAPI test server with.',
  }),
  cdsHooksSandboxDir: setting(z.string().default('../shared/tools/cds-hooks-sandbox'), {
    env: 'CDS_HOOKS_SANDBOX_DIR',
    doc: 'The built CDS Hooks sandbox test/integration/sandbox-cards.test.ts serves.',
  }),
  badInputRuns: setting(num(300), { env: 'BAD_INPUT_RUNS', doc: 'Generated bad requests test/security/bad-input.test.ts sends.' }),
  badInputGoodEvery: setting(num(25), { env: 'BAD_INPUT_GOOD_EVERY', doc: 'test/security/bad-input.test.ts sends a good request after this many bad ones, and checks it is answered.' }),
  benchSource: setting(z.enum(['ts']).optional(), {
    env: 'BENCH_SOURCE',
    shownDefault: 'unset: the compiled service (dist/)',
    doc: '`ts`: the bench runs the service from src/ with tsx instead of the compiled dist/ the production image runs.',
  }),
  benchDuration: setting(num(10), { env: 'BENCH_DURATION', doc: 'Seconds of load per bench case (3 with `--quick`); also bench/profile-service.ts and bench/peer-ahrq.ts (each measured run).' }),
  benchConnections: setting(num(10), { env: 'BENCH_CONNECTIONS', doc: 'Concurrent connections of the bench\'s load (also bench/peer-ahrq.ts).' }),
  peerDir: setting(text(), {
    env: 'PEER_DIR',
    shownDefault: 'unset: bench/peer-ahrq.ts stops',
    doc: 'A checkout of AHRQ CDS Connect CQL Services (https://github.com/AHRQ-CDS/AHRQ-CDS-Connect-CQL-SERVICES at 72932fd, after `npm ci`) that bench/peer-ahrq.ts runs beside this service (issue #21 item 5).',
  }),
  peerRounds: setting(num(3), { env: 'PEER_ROUNDS', doc: 'Rounds of bench/peer-ahrq.ts (each drives the peer, this service and the two floors in turn, on each patient).' }),
  benchFloorJwks: setting(text(), {
    env: 'BENCH_FLOOR_JWKS',
    shownDefault: 'unset: `baseline-auth` stops',
    doc: 'The JSON key set bench/serve.ts `baseline-auth` (the floor that also checks the client JWT) verifies tokens against; bench/peer-ahrq.ts sets it to its bench EHR\'s key.',
  }),
  peerWarmup: setting(num(3), { env: 'PEER_WARMUP', doc: 'Seconds of load before each measured run of bench/peer-ahrq.ts.' }),
  benchMinMs: setting(num(1500), { env: 'BENCH_MIN_MS', doc: 'Least time bench/evaluator-only.ts evaluates for, in milliseconds.' }),
  profileBodies: setting(z.string().default('typical,heavy'), { env: 'PROFILE_BODIES', doc: 'The patients bench/profile-service.ts profiles: `typical`, `heavy`, or both.' }),
  soakSeconds: setting(num(180), { env: 'SOAK_SECONDS', doc: 'How long `npm run soak` holds the load.' }),
  soakConnections: setting(num(32), { env: 'SOAK_CONNECTIONS', doc: 'Concurrent connections of `npm run soak`.' }),
  soakPort: setting(z.coerce.number().int().positive().optional(), {
    env: 'SOAK_PORT',
    shownDefault: 'a random port from 39000',
    doc: 'First port of the soaked service processes (one more per replica).',
  }),
};
