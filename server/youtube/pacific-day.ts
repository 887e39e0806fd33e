/** YouTube's quota day: it resets at midnight America/Los_Angeles (daylight saving included). */
const ZONE = 'America/Los_Angeles';
const parts = new Intl.DateTimeFormat('en-US', {
  timeZone: ZONE,
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

function pacificFields(at: Date) {
  const f = Object.fromEntries(parts.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    year: Number(f.year),
    month: Number(f.month),
    day: Number(f.day),
    hour: Number(f.hour),
    minute: Number(f.minute),
    second: Number(f.second),
  };
}

/** The Pacific calendar day of an instant, `YYYY-MM-DD`. */
export function pacificDay(at: Date): string {
  const f = pacificFields(at);
  return `${f.year}-${String(f.month).padStart(2, '0')}-${String(f.day).padStart(2, '0')}`;
}

/** The offset of Pacific time from UTC at an instant, in ms (-7 h or -8 h). */
function offsetMs(at: Date): number {
  const f = pacificFields(at);
  const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  return asUtc - Math.floor(at.getTime() / 1000) * 1000;
}

/**
 * The next Pacific midnight after `at`: the instant the quota resets. Midnight is never in a
 * DST gap in this zone (changes happen at 02:00), so the wall-clock midnight always exists;
 * its offset is the one in force at that midnight, found by trying both candidates.
 */
export function nextPacificMidnight(at: Date): Date {
  const f = pacificFields(at);
  const wallMidnightUtc = Date.UTC(f.year, f.month - 1, f.day + 1, 0, 0, 0);
  for (const guess of [offsetMs(at), -7 * 3600_000, -8 * 3600_000]) {
    const candidate = new Date(wallMidnightUtc - guess);
    if (offsetMs(candidate) === guess) return candidate;
  }
  throw new Error('no Pacific midnight found');
}
