import { type ChatSendContext, RealtimeError, type RealtimeHooks } from '../../realtime/index.ts';
import { ApiError } from '../errors.ts';
import type { CoachService } from './coach-service.ts';

/**
 * The hub's `onChatSend` on the coach: the hub checked that the sender joined the project; the
 * coach's refusals (daily limit, spend cap) reach the sender's ack as `{error: {code, message}}`
 * with the same codes as over REST.
 */
export function coachChatHooks(coach: CoachService): RealtimeHooks {
  return {
    async onChatSend(context: ChatSendContext) {
      try {
        const { message } = await coach.send({
          projectId: context.projectId,
          workspaceId: context.workspaceId,
          userId: context.userId,
          authorName: context.name,
          content: context.content,
        });
        return { messageId: message.id };
      } catch (error) {
        if (error instanceof ApiError) throw new RealtimeError(error.code, error.message);
        throw error;
      }
    },
  };
}
