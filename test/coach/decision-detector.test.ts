import { describe, expect, it } from 'vitest';
import { detectDecisions, type Speaker } from '../../server/coach/decision-detector.ts';
import {
  type Confidence,
  confidenceSchema,
  DECISION_CATEGORIES,
  type DecisionCategory,
} from '../../shared/coach.ts';

type Expected = Array<[DecisionCategory, Confidence]>;

/** [message, speaker, decisions expected (category, confidence), in category order]. */
const TABLE: Array<[string, Speaker, Expected]> = [
  // pricing
  ["We've decided to charge $15 per month.", 'member', [['pricing', 'high']]],
  ["Let's price it at 9 dollars a month", 'member', [['pricing', 'medium']]],
  ['We will charge a monthly fee.', 'member', [['pricing', 'low']]],
  ["We'll probably charge $20.", 'member', [['pricing', 'low']]],
  [
    'Final answer: $29 for the annual plan because it beats two months of churn.',
    'member',
    [['pricing', 'high']],
  ],
  ['We agreed on a free trial for the first week.', 'member', [['pricing', 'high']]],
  // platform
  ["We're going with Discord.", 'member', [['platform', 'high']]],
  [
    "Let's host the community on Skool since it handles payments.",
    'member',
    [['platform', 'medium']],
  ],
  ['I think we will use Patreon.', 'member', [['platform', 'low']]],
  ['Settled on Circle for the community app.', 'member', [['platform', 'high']]],
  // timeline
  ['We decided to launch on Friday.', 'member', [['timeline', 'high']]],
  ["Let's open the doors in two weeks.", 'member', [['timeline', 'medium']]],
  ["We're going to launch by March 15.", 'member', [['timeline', 'medium']]],
  [
    'The deadline is fixed, we agreed to ship by end of the month.',
    'member',
    [['timeline', 'high']],
  ],
  // structure
  ['We decided on three tiers.', 'member', [['structure', 'high']]],
  ["Let's do weekly live Q&A sessions.", 'member', [['structure', 'medium']]],
  ['We will keep it to a single tier for now.', 'member', [['structure', 'low']]],
  [
    'Confirmed: founding members get a locked price of $10.',
    'member',
    [
      ['pricing', 'high'],
      ['structure', 'high'],
    ],
  ],
  // content
  ["We'll post weekly videos for members.", 'member', [['content', 'medium']]],
  ['We decided that members get behind-the-scenes content.', 'member', [['content', 'high']]],
  ["Let's make more videos.", 'member', [['content', 'low']]],
  // several in one message
  [
    "OK team, we've decided: Discord, $12 a month, launch next week.",
    'member',
    [
      ['pricing', 'high'],
      ['platform', 'high'],
      ['timeline', 'high'],
    ],
  ],
  [
    '- We will use Patreon\n- We will charge $5',
    'member',
    [
      ['pricing', 'medium'],
      ['platform', 'medium'],
    ],
  ],
  // coach confirms, does not decide
  ["Great, so you've decided on $15 per month.", 'coach', [['pricing', 'high']]],
  [
    'Since you chose Discord, set up roles for founding members first.',
    'coach',
    [
      ['platform', 'high'],
      ['structure', 'high'],
    ],
  ],
  ['You could charge $15 per month.', 'coach', []],
  ["Let's look at pricing options: $10, $15 or $20.", 'coach', []],
  // negatives: questions, conditions, denials, chatter
  ['Should we charge $15 per month?', 'member', []],
  ['What if we launch on Discord?', 'member', []],
  ["We haven't decided the price yet.", 'member', []],
  ["I'm not sure whether Patreon or Circle is better.", 'member', []],
  ["We won't use Patreon.", 'member', []],
  ["Let's not launch on Patreon.", 'member', []],
  ["I don't think we should go with YouTube memberships.", 'member', []],
  ['We decided against Discord.', 'member', []],
  ["We're not charging $10 a month.", 'member', []],
  ['We ruled out a free tier.', 'member', []],
  ['If we charge $50 nobody will join.', 'member', []],
  ['Patreon takes 8% of revenue.', 'member', []],
  ['Nice video yesterday!', 'member', []],
  ['How much do communities usually cost', 'member', []],
  ['Any thoughts on Discord vs Skool', 'member', []],
];

describe('decision detector', () => {
  it('finds every category at every confidence across the table', () => {
    const found = TABLE.flatMap(([message, speaker]) => detectDecisions(message, speaker));
    expect(new Set(found.map((d) => d.category))).toEqual(new Set(DECISION_CATEGORIES));
    expect(new Set(found.map((d) => d.confidence))).toEqual(new Set(confidenceSchema.options));
  });

  it("finds nothing in a member's non-decisions when the coach says them either", () => {
    const negatives = TABLE.filter(
      ([, speaker, expected]) => speaker === 'member' && expected.length === 0,
    );
    expect(negatives.flatMap(([message]) => detectDecisions(message, 'coach'))).toEqual([]);
  });

  it.each(TABLE)('%s (%s)', (message, speaker, expected) => {
    const found = detectDecisions(message, speaker).map((d) => [d.category, d.confidence]);
    expect(found).toEqual(expected);
  });

  it('keeps the sentence as the statement and gives a rationale, with the reason when stated', () => {
    const [decision] = detectDecisions(
      "Hi all. Let's host the community on Skool since it handles payments. Thoughts welcome.",
    );
    expect(decision?.statement).toBe(
      "Let's host the community on Skool since it handles payments.",
    );
    expect(decision?.rationale).toMatch(/^Since it handles payments\. /);
    expect(decision?.rationale).toMatch(/Skool/);
  });
});
