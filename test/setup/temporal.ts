import type { TestProject } from 'vitest/node';
import { startDevServer } from '../../src/temporal/devServer';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
  }
}

export default async function setup(project: TestProject) {
  const started = Date.now();
  const server = await startDevServer({ log: (line) => console.log(line) });
  console.log(
    `Temporal dev server ${server.address} (CLI ${server.cli?.version ?? 'downloaded'} from ${server.cli?.source ?? 'sdk'}) up in ${Date.now() - started} ms`,
  );
  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
  return async () => {
    await server.stop();
  };
}
