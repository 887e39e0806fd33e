export {
  addToOutbox,
  isPendingInOutbox,
  type OutboxItem,
  type OutboxRow,
  type OutboxTopic,
  type OutboxTopics,
  oldestOutboxAgeSeconds,
} from './outbox.ts';
export {
  OutboxDispatcher,
  type OutboxDispatcherOptions,
  type OutboxHandler,
  type OutboxHandlers,
} from './outbox-dispatcher.ts';
