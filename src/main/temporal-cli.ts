// `npm run temporal:cli`: provisions the Temporal CLI (building it on first use) and prints its path.
import { ensureTemporalCli } from '../temporal/cli';

const cli = await ensureTemporalCli();
if (!cli) {
  console.error('No Temporal CLI: set TEMPORAL_CLI, put `temporal` on PATH, or install Go to build it.');
  process.exit(1);
}
console.error(`Temporal CLI ${cli.version} (${cli.source})`);
console.log(cli.path);
