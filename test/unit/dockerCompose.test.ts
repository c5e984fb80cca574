/**
 * docker-compose.yml as the README promises it: Docker cannot run on the development machines, so
 * its structure is checked here instead — services, pinned images matching the versions the tests
 * run, the codec endpoint, the api/worker environment, start order, search attributes and ports,
 * and that it runs the deploy/ files `npm run cluster` runs (test/cluster exercises those).
 */

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SHUTDOWN_FORCE_MS } from '../../src/temporal/worker';
import { linkSessionSearchAttributes } from '../../src/workflows/searchAttributes';

const root = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(`${root}docker-compose.yml`, 'utf8');
// `merge: true` resolves the `<<: *linkflow-env` merge keys as Compose does.
const compose = parse(text, { merge: true }) as {
  services: Record<string, Service>;
};

interface Service {
  image?: string;
  restart?: string;
  stop_grace_period?: string;
  volumes?: string[];
  healthcheck?: { test?: string | string[] };
  deploy?: { resources?: { limits?: { cpus?: string; memory?: string } } };
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, string> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: Array<string | { published?: string | number; target?: number }>;
}

const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`no service ${name}`);
  return s;
};

function envOf(s: Service): Record<string, string> {
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(
      s.environment.map((line) => {
        const i = line.indexOf('=');
        return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v)]));
}

function dependsOn(s: Service): Record<string, string> {
  const deps = s.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v?.condition ?? 'service_started']));
}

const commandText = (value: string | string[] | undefined) =>
  Array.isArray(value) ? value.join(' ') : (value ?? '');

function publishedPorts(): string[] {
  return Object.values(compose.services).flatMap((s) =>
    (s.ports ?? []).map((p) =>
      typeof p === 'string' ? (p.split(':').slice(-2)[0] ?? p) : String(p.published),
    ),
  );
}

describe('docker-compose.yml', () => {
  it('has every service the README names', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'postgresql', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', 'worker'].sort(),
    );
  });

  it('pins images to versions compatible with the tests (CLI 1.5.1: Server 1.29.1, UI 2.42.1), never latest', () => {
    expect(service('temporal').image).toMatch(/^temporalio\/server:1\.29\.\d+$/);
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:2\.42\.\d+$/);
    // Since 1.24 admin-tools tags name their tctl and CLI: a plain `1.29.1` tag does not exist.
    const adminTools = /^temporalio\/admin-tools:1\.29\.\d+-tctl-\d+\.\d+\.\d+-cli-\d+\.\d+\.\d+$/;
    expect(service('temporal-schema').image).toMatch(adminTools);
    expect(service('temporal-setup').image).toMatch(adminTools);
    expect(service('postgresql').image).toMatch(/^postgres:\d+(\.\d+)*$/);
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.image === undefined) continue;
      expect(s.image, name).toMatch(/:[^:]+$/);
      expect(s.image, name).not.toMatch(/:latest$/);
    }
    expect(text).not.toMatch(/:latest\b/);
  });

  it("points the UI's codec endpoint at the API's /codec, its path carrying the API's codec token", () => {
    const endpoint = envOf(service('temporal-ui')).TEMPORAL_CODEC_ENDPOINT;
    expect(endpoint).toMatch(/\/codec\/ui\/\$\{LINKFLOW_CODEC_TOKEN:\?[^}]+\}$/);
    expect(envOf(service('api')).LINKFLOW_CODEC_TOKEN).toMatch(/^\$\{LINKFLOW_CODEC_TOKEN:\?/);
  });

  it('builds api and worker from the Dockerfile, running npm run api / npm run worker', () => {
    expect(existsSync(`${root}Dockerfile`)).toBe(true);
    for (const [name, script] of [
      ['api', 'npm run api'],
      ['worker', 'npm run worker'],
    ] as const) {
      const s = service(name);
      const build = typeof s.build === 'string' ? { context: s.build } : s.build;
      expect(build?.context, name).toBe('.');
      expect(build?.dockerfile ?? 'Dockerfile', name).toBe('Dockerfile');
      expect(commandText(s.command), name).toBe(script);
    }
  });

  it('gives api and worker every variable they require', () => {
    const required = [
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'PLAID_ENV',
      'PLAID_CLIENT_ID',
      'PLAID_SECRET',
      'PLAID_WEBHOOK_URL',
      'LINKFLOW_API_KEY',
      'LINKFLOW_ENCRYPTION_KEY',
    ];
    for (const name of ['api', 'worker']) {
      const env = envOf(service(name));
      for (const variable of required) {
        expect(env[variable], `${name}: ${variable}`).toBeTruthy();
      }
      expect(env.TEMPORAL_ADDRESS, name).toBe('temporal:7233');
      expect(env.DATABASE_URL, name).toMatch(/^postgres(ql)?:\/\/.*@postgresql:5432\//);
    }
  });

  it('starts in order: api/worker after PostgreSQL is healthy and temporal-setup completed; temporal after its schema', () => {
    for (const name of ['api', 'worker']) {
      expect(dependsOn(service(name)), name).toMatchObject({
        postgresql: 'service_healthy',
        'temporal-setup': 'service_completed_successfully',
      });
    }
    expect(dependsOn(service('temporal'))).toMatchObject({
      'temporal-schema': 'service_completed_successfully',
    });
    expect(dependsOn(service('temporal-schema'))).toMatchObject({ postgresql: 'service_healthy' });
    expect(dependsOn(service('temporal-setup'))).toHaveProperty('temporal');
  });

  it('registers the four search attributes with deploy/temporal-setup.sh, retried and verified (no `|| true`)', () => {
    const setup = service('temporal-setup');
    expect(commandText(setup.entrypoint)).toBe('sh /deploy/temporal-setup.sh');
    expect(setup.volumes).toContain('./deploy:/deploy:ro');
    const script = readFileSync(`${root}deploy/temporal-setup.sh`, 'utf8');
    const declared = /^attributes="([^"]*)"/m.exec(script)?.[1]?.split(' ') ?? [];
    expect(linkSessionSearchAttributes).toHaveLength(4);
    expect(declared.sort()).toEqual(
      linkSessionSearchAttributes
        .map(({ name, type }) => `${name}:${type === 'INT' ? 'Int' : 'Keyword'}`)
        .sort(),
    );
    expect(script).not.toMatch(/search-attribute create[^\n]*\|\| true/);
    expect(script).toMatch(/workflow count --namespace "\$ns" --query/);
  });

  it('sets up PostgreSQL roles and Temporal schemas with the deploy/ scripts npm run cluster runs', () => {
    expect(service('postgresql').volumes).toContain(
      './deploy/postgres-init.sh:/docker-entrypoint-initdb.d/10-linkflow-roles.sh:ro',
    );
    expect(commandText(service('temporal-schema').entrypoint)).toBe('sh /deploy/temporal-schema.sh');
    // Each its own least-privilege role: linkflow is neither Temporal nor the superuser.
    expect(envOf(service('api')).DATABASE_URL).toMatch(/^postgres:\/\/linkflow:/);
    expect(envOf(service('temporal-schema')).SQL_USER).toBe('temporal');
    expect(envOf(service('temporal')).TEMPORAL_DB_USER).toBe('temporal');
    const init = readFileSync(`${root}deploy/postgres-init.sh`, 'utf8');
    expect(init).toMatch(/NOSUPERUSER NOCREATEDB NOCREATEROLE/);
    expect(init).toMatch(/REVOKE ALL ON DATABASE temporal, temporal_visibility, linkflow FROM PUBLIC/);
  });

  it('runs the Temporal server on deploy/temporal/linkflow.yaml, with pools that fit max_connections', () => {
    const temporal = service('temporal');
    expect(temporal.volumes).toContain('./deploy/temporal:/etc/temporal/linkflow:ro');
    expect(commandText(temporal.entrypoint)).toMatch(
      /temporal-server --root \/etc\/temporal --config linkflow --env linkflow .*start$/,
    );
    const config = readFileSync(`${root}deploy/temporal/linkflow.yaml`, 'utf8');
    expect(config).toMatch(/^# enable-template/);
    const pool = (variable: string) =>
      Number(new RegExp(`maxConns: \\{\\{ env "${variable}" \\| default "(\\d+)" \\}\\}`).exec(config)?.[1]);
    // One server process runs 4 services, each with its own pools; 2 linkflow processes of 10.
    const temporalConnections =
      4 * (pool('TEMPORAL_DB_MAX_CONNS') + pool('TEMPORAL_VISIBILITY_DB_MAX_CONNS'));
    const maxConnections = Number(
      /max_connections=(\d+)/.exec(commandText(service('postgresql').command))?.[1],
    );
    expect(temporalConnections).toBeGreaterThan(0);
    expect(temporalConnections + 2 * 10 + 5).toBeLessThanOrEqual(maxConnections);
  });

  it('gives the Temporal server the dynamic config the dev server runs with (eager activities)', () => {
    const temporal = service('temporal');
    const mount = temporal.volumes?.find((v) => v.endsWith(':ro') && v.includes('dynamicconfig'));
    expect(mount).toBeDefined();
    const [hostPath, containerPath] = (mount ?? '').split(':');
    expect(envOf(temporal).TEMPORAL_DYNAMIC_CONFIG_FILE).toBe(containerPath);
    const config = parse(readFileSync(`${root}${hostPath}`, 'utf8')) as Record<
      string,
      Array<{ value: unknown }>
    >;
    expect(config['system.enableActivityEagerExecution']).toEqual([{ value: true }]);
  });

  it('restarts long-running services, limits their resources, and checks API readiness (not liveness)', () => {
    for (const name of ['postgresql', 'temporal', 'temporal-ui', 'api', 'worker']) {
      expect(service(name).restart, name).toBe('unless-stopped');
      expect(service(name).deploy?.resources?.limits?.memory, name).toMatch(/^\d+[mg]$/);
    }
    for (const name of ['temporal-schema', 'temporal-setup'])
      expect(service(name).restart, name).toBe('on-failure');
    expect(commandText(service('api').healthcheck?.test)).toMatch(/\/readyz/);
  });

  it('lets the worker finish in-flight exchanges on stop: stop_grace_period outlasts its shutdown force time', () => {
    const grace = /^(\d+)s$/.exec(service('worker').stop_grace_period ?? '')?.[1];
    expect(Number(grace) * 1000).toBeGreaterThan(SHUTDOWN_FORCE_MS);
  });

  it('runs api and worker as node with a writable data dir, never root', () => {
    const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/chown node:node \/app\/\.data/);
    expect(envOf(service('worker')).LINKFLOW_DATA_DIR).toBe('/app/.data');
  });

  it('publishes the API (3000), Temporal (7233) and the UI (8233); Temporal, UI and metrics on loopback only', () => {
    expect(publishedPorts()).toEqual(expect.arrayContaining(['3000', '7233', '8233']));
    for (const name of ['temporal', 'temporal-ui', 'worker']) {
      for (const port of service(name).ports ?? []) expect(String(port), name).toMatch(/^127\.0\.0\.1:/);
    }
    expect(envOf(service('worker')).LINKFLOW_WORKER_METRICS_HOST).toBe('0.0.0.0');
  });
});
