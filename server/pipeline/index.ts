export { enqueuePipelineStepHandler } from './pipeline-outbox.ts';
export {
  type PipelineReconcilePassOptions,
  pipelineReconcilePass,
} from './pipeline-reconciliation.ts';
export {
  type PipelineRuntime,
  type PipelineRuntimeOptions,
  pipelineQueuePrefix,
  startPipelineRuntime,
} from './pipeline-runtime.ts';
export { PipelineService, type PipelineServiceOptions } from './pipeline-service.ts';
export { offlineDraft, StepError } from './pipeline-steps.ts';
export {
  type PipelineRunRow,
  type PipelineStepJobData,
  type PipelineStepRow,
  PipelineStore,
  toRunWire,
} from './pipeline-store.ts';
export { PipelineStepWorker, type PipelineStepWorkerOptions } from './pipeline-worker.ts';
