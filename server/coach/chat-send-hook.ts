import type { ChatSendContext, RealtimeHooks } from '../../realtime/index.ts';
import type { CoachService } from './coach-service.ts';

/**
 * The hub's `onChatSend` on the coach: the hub checked that the sender joined the project; the
 * coach's refusals (daily limit, spend cap) reach the sender's ack as `{error: {code, message}}`
 * with the same codes as over REST.
 */
export function coachChatHooks(coach: CoachService): RealtimeHooks {
  return {
    async onChatSend(context: ChatSendContext) {
      // The coach's refusals are DomainErrors; the hub turns them into the ack.
      const { message } = await coach.send({
        projectId: context.projectId,
        workspaceId: context.workspaceId,
        userId: context.userId,
        authorName: context.name,
        // A viewer may chat; the coach keeps what a viewer says out of the plan.
        role: context.role,
        content: context.content,
      });
      return { messageId: message.id };
    },
  };
}
