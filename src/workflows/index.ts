// The workflow bundle's entry point: every workflow the Link session worker runs.
export { linkSessionWorkflow } from './linkSession';
