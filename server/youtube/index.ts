export { nextPacificMidnight, pacificDay } from './pacific-day.ts';
export { decodeKey, TokenCipher } from './token-cipher.ts';
export { type PublishInput, UPLOAD_QUANTUM, YoutubePublisher } from './youtube-publisher.ts';
export { loadQuotaCosts, type QuotaCosts, type QuotaPool, YoutubeQuota } from './youtube-quota.ts';
export {
  type GoogleOAuthClientConfig,
  googleEndpoints,
  toChannelWire,
  type YoutubeChannel,
  YoutubeService,
} from './youtube-service.ts';
