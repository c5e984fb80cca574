/**
 * The SDK runtime of a worker process: its Prometheus exporter (worker metrics such as task
 * latencies, slots and sticky cache) when a port is configured. Must run before any worker or
 * native connection is created, once per process.
 */
import { Runtime } from '@temporalio/worker';

export function installWorkerRuntime(opts: {
  metricsPort?: number | undefined;
  host?: string;
}): string | undefined {
  if (!opts.metricsPort) return undefined;
  const bindAddress = `${opts.host ?? '0.0.0.0'}:${opts.metricsPort}`;
  Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress } } } });
  return `http://${bindAddress.replace('0.0.0.0', '127.0.0.1')}/metrics`;
}
