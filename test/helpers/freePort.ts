/** A TCP port free on loopback right now: the cluster's own helper, shared with the tests. */
export { freePort } from '../../src/cluster/ports';
