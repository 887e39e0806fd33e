// The provider classes are not exported here: createCoachProvider loads the one chosen, so a
// node never loads an SDK it has no key for (import them from their modules).
export type { AnthropicProviderOptions } from './anthropic-provider.ts';
export { coachChatHooks } from './chat-send-hook.ts';
export {
  buildSystemPrompt,
  type CoachContext,
  HISTORY_LIMIT,
  summarizePlan,
  toPromptMessages,
} from './coach-context.ts';
export type { PlanDocumentEditor, RoomEmitter, ScriptReader } from './coach-ports.ts';
export {
  type CoachProvider,
  type CompletionRequest,
  type CompletionResult,
  ProviderError,
  type ProviderName,
  streamWithFallback,
  type TokenUsage,
} from './coach-provider.ts';
export {
  type ChatSend,
  type CoachReplyTuning,
  CoachService,
  type CoachServiceOptions,
} from './coach-service.ts';
export { COACH_DEFAULTS, createCoachProvider, resolveCoachConfig } from './coach-settings.ts';
export { type DetectedDecision, detectDecisions, type Speaker } from './decision-detector.ts';
export { OFFLINE_NOTICE, OfflineProvider, offlineReply } from './offline-provider.ts';
export type { OpenAIProviderOptions } from './openai-provider.ts';
export {
  appendDecision,
  readDecisions,
  readPlan,
  setTaskDone,
  writePlanTemplate,
} from './plan-document.ts';
export { PlanTemplates } from './plan-templates.ts';
export { type ModelPrice, PriceTable } from './price-table.ts';
export { ProjectQueue } from './project-queue.ts';
export {
  COACH_REPLY_QUEUE_DEFAULTS,
  type CoachReplyJob,
  coachReplyQueuePrefix,
} from './reply-job.ts';
export { type ReplyRepair, type ReplySweepOptions, sweepPendingReplies } from './reply-sweep.ts';
export {
  CoachReplyWorker,
  type CoachReplyWorkerOptions,
  type ReplyAttempt,
  type ReplyHandler,
  type ReplyOutcome,
} from './reply-worker.ts';
