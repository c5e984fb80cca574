// The workflow bundle's entry point: every workflow the Link session worker runs.
export { eventDeliveryWorkflow } from './eventDelivery';
export { linkSessionWorkflow } from './linkSession';
