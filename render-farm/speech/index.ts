export type {
  ChooseSpeechEngineOptions,
  DetectSpeechEnginesOptions,
  InstalledSpeechEngines,
  SpeechProvider,
} from './choose-speech-engine.ts';
export {
  chooseSpeechEngine,
  detectSpeechEngines,
  SPEECH_PROVIDERS,
} from './choose-speech-engine.ts';
export type { EspeakWasmEngineOptions } from './espeak-wasm-engine.ts';
export { EspeakWasmEngine } from './espeak-wasm-engine.ts';
export type { FestivalEngineOptions } from './festival-engine.ts';
export { FESTIVAL_SLT_VOICE, FestivalEngine } from './festival-engine.ts';
export type { FliteEngineOptions } from './flite-engine.ts';
export { FliteEngine } from './flite-engine.ts';
export type {
  LoudnessMeasurement,
  LoudnessTarget,
  MeasureLoudnessOptions,
  NormalizedLoudness,
  NormalizeLoudnessOptions,
} from './loudness.ts';
export { measureLoudness, normalizeLoudness, VOICE_OVER_LOUDNESS } from './loudness.ts';
export type { OpenAISpeechEngineOptions } from './openai-speech-engine.ts';
export { OPENAI_SPEECH_MAX_INPUT, OpenAISpeechEngine } from './openai-speech-engine.ts';
export type {
  SpeechEngine,
  SpeechEngineId,
  SpeechSetting,
  SynthesizedSpeech,
  SynthesizeRequest,
} from './speech-engine.ts';
export { SPEECH_ENGINE_IDS } from './speech-engine.ts';
export {
  SpeechAbortedError,
  SpeechFailedError,
  SpeechRetryLaterError,
} from './speech-errors.ts';
export type {
  SentenceTiming,
  VoiceOver,
  VoiceOverFormat,
  VoiceOverRequest,
} from './voice-over.ts';
export { synthesizeVoiceOver, voiceOverCacheKey, voiceOverSettings } from './voice-over.ts';
export type { VoiceOverKeyParts } from './voice-over-key.ts';
export { canonicalJson, VOICE_OVER_FORMAT_VERSION, voiceOverKey } from './voice-over-key.ts';
export type { WavInfo } from './wav-file.ts';
export { readWavInfo } from './wav-file.ts';
export type { CaptionCue, SceneCaptions } from './webvtt.ts';
export { captionCues, toWebVtt, vttTimestamp } from './webvtt.ts';
