// A test entry: one API node configured by the JSON in COACH_NODE (a RuntimeConfig), so a test
// can run a node with the coach's reply tuning as a real process and SIGKILL it mid-reply.
import { createLogger } from '../../../server/logger.ts';
import { type RuntimeConfig, startNode } from '../../../server/runtime.ts';

const config = JSON.parse(process.env.COACH_NODE ?? '{}') as RuntimeConfig;
const node = await startNode(config, createLogger('warn', { role: 'coach-test-node' }));
// The line spawnEntry waits for.
console.log(JSON.stringify({ msg: 'listening', url: node.url }));
process.on('SIGTERM', () => {
  void node.close().then(() => process.exit(0));
});
