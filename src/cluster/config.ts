/**
 * `npm run cluster`'s own settings, on top of linkflow's environment (src/config/env.ts): how many
 * workers and APIs, and the ports of the parts a person or a tool talks to. Temporal's internal
 * ports (history, matching, worker, membership) are picked free at each start.
 */
import { z } from 'zod';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);

export const clusterEnvSchema = z.object({
  LINKFLOW_CLUSTER_WORKERS: z.coerce.number().int().min(1).max(16).default(2),
  LINKFLOW_CLUSTER_APIS: z.coerce.number().int().min(1).max(16).default(2),
  // Temporal's other ports sit around it (src/cluster/temporal.ts): 300..32000.
  LINKFLOW_CLUSTER_TEMPORAL_PORT: z.coerce.number().int().min(300).max(32_000).default(7233),
  LINKFLOW_CLUSTER_UI_PORT: port(8233),
  LINKFLOW_CLUSTER_POSTGRES_PORT: port(5432),
});

export type ClusterEnv = z.infer<typeof clusterEnvSchema>;

export function loadClusterEnv(source: NodeJS.ProcessEnv = process.env): ClusterEnv {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = clusterEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** `$LINKFLOW_DATA_DIR/cluster.json`, as CONTRACT.md fixes it (extra fields are additions). */
export interface ClusterJson {
  apis: string[];
  /** The API behind each URL (its pid changes when it is restarted). */
  api_processes: Array<{ url: string; pid: number }>;
  workers: Array<{ pid: number }>;
  temporal: { address: string; ui: string; namespace: string; pid: number };
  emulator: string;
  api_key: string;
  postgres: { port: number; pid: number };
  logs: string;
  pid: number;
}

export const CLUSTER_JSON = 'cluster.json';
