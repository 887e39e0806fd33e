export { MeasuredDocumentStore } from './measured-document-store.ts';
export type {
  AiPurpose,
  AiUsage,
  MetricsOptions,
  QueueStats,
  RealtimeCounters,
} from './metrics.ts';
export { Metrics } from './metrics.ts';
