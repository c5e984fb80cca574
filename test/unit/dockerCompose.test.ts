/**
 * docker-compose.yml as the README promises it: Docker cannot run on the development machines, so
 * its structure is checked here instead — services, pinned images matching the versions the tests
 * run, the codec endpoint, the api/worker environment, start order, search attributes and ports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { linkSessionSearchAttributes } from '../../src/workflows/searchAttributes';

const root = fileURLToPath(new URL('../../', import.meta.url));
const text = readFileSync(`${root}docker-compose.yml`, 'utf8');
// `merge: true` resolves the `<<: *linkflow-env` merge keys as Compose does.
const compose = parse(text, { merge: true }) as {
  services: Record<string, Service>;
};

interface Service {
  image?: string;
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
    expect(service('temporal-schema').image).toMatch(/^temporalio\/admin-tools:1\.29\.\d+/);
    expect(service('temporal-setup').image).toMatch(/^temporalio\/admin-tools:1\.29\.\d+/);
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

  it('registers the four search attributes in temporal-setup', () => {
    const script = `${commandText(service('temporal-setup').entrypoint)}\n${commandText(service('temporal-setup').command)}`;
    expect(linkSessionSearchAttributes).toHaveLength(4);
    for (const { name, type } of linkSessionSearchAttributes) {
      const compose = type === 'INT' ? 'Int' : 'Keyword';
      expect(script).toMatch(
        new RegExp(`search-attribute create[^\\n]*--name ${name}[^\\n]*--type ${compose}\\b`),
      );
    }
  });

  it('gives the Temporal server the dynamic config the dev server runs with (eager activities)', () => {
    const temporal = service('temporal') as Service & { volumes?: string[] };
    const mount = temporal.volumes?.find((v) => v.endsWith(':ro') && v.includes('dynamicconfig'));
    expect(mount).toBeDefined();
    const [hostPath, containerPath] = (mount ?? '').split(':');
    expect(`/etc/temporal/${envOf(temporal).DYNAMIC_CONFIG_FILE_PATH}`).toBe(containerPath);
    const config = parse(readFileSync(`${root}${hostPath}`, 'utf8')) as Record<
      string,
      Array<{ value: unknown }>
    >;
    expect(config['system.enableActivityEagerExecution']).toEqual([{ value: true }]);
  });

  it('publishes the API (3000), Temporal (7233) and the UI (8233)', () => {
    expect(publishedPorts()).toEqual(expect.arrayContaining(['3000', '7233', '8233']));
  });
});
