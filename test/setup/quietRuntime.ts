// Per test file: keep the SDK's worker lifecycle chatter out of test output; warnings still show.
import { DefaultLogger, Runtime } from '@temporalio/worker';

Runtime.install({ logger: new DefaultLogger('WARN') });
