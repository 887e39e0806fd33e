// A forked bench process seen from the parent: typed waits for its messages, and its clock's
// offset from ours.
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** This process's wall clock in fractional milliseconds. */
export const now = () => performance.timeOrigin + performance.now();

export interface IpcPeer<M extends { type: string }> {
  readonly child: ChildProcess;
  /** The next message of this type. */
  next<T extends M['type']>(type: T): Promise<Extract<M, { type: T }>>;
  /** The peer's clock minus ours, from the IPC round trip with the smallest delay (NTP's idea). */
  clockOffset(): Promise<number>;
}

/** The peer must answer `{type: 'clock', id}` with `{type: 'clock', id, time}`. */
export function ipcPeer<M extends { type: string }>(child: ChildProcess): IpcPeer<M> {
  const next = <T extends M['type']>(type: T) =>
    new Promise<Extract<M, { type: T }>>((resolve) => {
      const listener = (message: M) => {
        if (message.type !== type) return;
        child.off('message', listener);
        resolve(message as Extract<M, { type: T }>);
      };
      child.on('message', listener);
    });
  return {
    child,
    next,
    async clockOffset() {
      let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
      for (let id = 0; id < 50; id += 1) {
        const sent = now();
        const reply = new Promise<number>((resolve) => {
          const listener = (message: { type: string; time?: number }) => {
            if (message.type !== 'clock') return;
            child.off('message', listener);
            resolve(message.time!);
          };
          child.on('message', listener);
        });
        child.send({ type: 'clock', id });
        const time = await reply;
        const back = now();
        if (back - sent < best.rtt) best = { rtt: back - sent, offset: time - (sent + back) / 2 };
      }
      return best.offset;
    },
  };
}
