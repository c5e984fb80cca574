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

/**
 * gRPC channel settings of the client (the API's connection). grpc-js backs reconnects off
 * exponentially (1 s x 1.6 per failure, up to 120 s), so after a Temporal outage of ~20 s the API
 * stayed unable to create sessions for another 17-31 s (issue 16). Capped at 2 s, it reconnects
 * within ~2 s of the server's return. Keepalive pings every 15 s (Temporal's frontend accepts one per
 * 10 s, `frontend.keepAliveMinTime`) notice a silently dead connection in at most ~25 s.
 */
export const CLIENT_CHANNEL_ARGS = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.keepalive_time_ms': 15_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
} as const;

export async function connectClient(target: TemporalTarget, codec: PayloadCodec): Promise<Client> {
  const { connectionOptions, namespace } = connectConfig(target);
  const connection = await Connection.connect({
    ...connectionOptions,
    channelArgs: { ...CLIENT_CHANNEL_ARGS },
  });
  return new Client({ connection, namespace, dataConverter: linkflowDataConverter(codec) });
}

export async function connectWorker(
  target: TemporalTarget,
): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectConfig(target);
  return { connection: await NativeConnection.connect(connectionOptions), namespace };
}
