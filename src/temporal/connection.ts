/**
 * Connections to Temporal, configured the way Temporal's own tools are (`@temporalio/envconfig`:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE), so
 * Temporal Cloud works unchanged. `address` overrides it for the embedded dev server.
 */
import { Client, Connection } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';
import { linkflowDataConverter } from './dataConverter';

export interface TemporalTarget {
  address?: string;
  namespace?: string;
}

function connectConfig(target: TemporalTarget) {
  const overrides: Record<string, string> = {};
  if (target.address) overrides.TEMPORAL_ADDRESS = target.address;
  if (target.namespace) overrides.TEMPORAL_NAMESPACE = target.namespace;
  const config = loadClientConnectConfig({ overrideEnvVars: overrides });
  return { ...config, namespace: target.namespace ?? config.namespace ?? 'default' };
}

export async function connectClient(target: TemporalTarget, codec: PayloadCodec): Promise<Client> {
  const { connectionOptions, namespace } = connectConfig(target);
  const connection = await Connection.connect(connectionOptions);
  return new Client({ connection, namespace, dataConverter: linkflowDataConverter(codec) });
}

export async function connectWorker(
  target: TemporalTarget,
): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectConfig(target);
  return { connection: await NativeConnection.connect(connectionOptions), namespace };
}
