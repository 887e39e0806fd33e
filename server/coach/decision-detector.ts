import type { Confidence, DecisionCategory } from '../../shared/coach.ts';

/** A decision read from one message. */
export interface DetectedDecision {
  category: DecisionCategory;
  /** The sentence it was read from. */
  statement: string;
  confidence: Confidence;
  rationale: string;
}

/** Who wrote the message: members state decisions, the coach only confirms them. */
export type Speaker = 'member' | 'coach';

/*
 * A rule-based reader, fast and predictable enough to run on every message and every reply.
 * A sentence holds a decision when it (1) commits — "we decided", "let's", "we'll" — (2) is not
 * a question, a condition or a denial, and (3) touches a category. Confidence adds up: a firm
 * commitment (2) or a plain one (1), plus one for a concrete detail (an amount, a named
 * platform, a date, a number of tiers), minus one for hedging ("probably", "I think").
 * 3 or more is high, 2 medium, 1 or less low.
 */

const QUESTION_OR_CONDITION =
  /\b(what if|if we|if you|should we|could we|shall we|do we|can we|would it|would you|not sure|unsure|haven'?t decided|have not decided|undecided|not decided|can'?t decide|don'?t know|no idea|wondering|any thoughts|do you think|unless|whether)\b/i;
/**
 * Saying what the team will not do. Such a sentence is left out rather than recorded as a
 * decision for the thing it rules out ("let's not launch on Patreon" is no Patreon decision).
 */
const DENIAL =
  /\b(won'?t|will not|not going to|don'?t want|do not want|never|no longer|let'?s not|let us not|don'?t think|do not think|decided against|ruled out|rule out|rather not|shouldn'?t|should not|(not|n'?t) (use|using|launch|launching|go|going|do|doing|charge|charging|host|hosting))\b/i;

const FIRM_MEMBER =
  /\b(we'?ve decided|we have decided|i'?ve decided|decided (to|on|that)|the decision is|we'?re going with|we are going with|going with|settled on|we agreed|agreed (on|to|that)|committed to|we'?re committing|locked in|it'?s official|confirmed|final answer|we chose|we picked|we'?ll definitely|definitely)\b/i;
const PLAIN_MEMBER =
  /\b(let'?s|let us|we'?ll|we will|i'?ll|i will|we'?re going to|we are going to|i'?m going to|we plan to|we'?re planning to|planning to|we'?re launching|we'?re using|we'?re doing|we want to|we'?d like to|we should go with|go with)\b/i;
const FIRM_COACH =
  /\b(you'?ve (decided|chosen|picked|settled on|agreed|committed)|you have (decided|chosen|picked|settled on|agreed|committed)|you'?re going with|you are going with|your decision to|since you (chose|picked|decided)|you (chose|picked|decided|settled on))\b/i;
const HEDGE =
  /\b(probably|maybe|perhaps|might|i think|i guess|leaning towards|likely|tentatively|for now|kind of)\b/i;

const RATIONALE =
  /\b(because|since|so that|given that|due to|as it|as they|as our|as we)\b\s*(.+)$/i;

interface CategoryRule {
  category: DecisionCategory;
  /** A concrete detail: counts toward confidence. */
  specific: RegExp;
  /** The topic named without detail. */
  topic: RegExp;
}

const MONTHS =
  'january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec';
const DAYS = 'monday|tuesday|wednesday|thursday|friday|saturday|sunday';

const RULES: CategoryRule[] = [
  {
    category: 'pricing',
    specific:
      /([$€£]\s?\d+([.,]\d+)?|\b\d+([.,]\d+)?\s?(dollars|usd|eur|euros|bucks|pounds)\b|\bfree trial\b|\b\d+\s?% (off|discount)\b)/i,
    topic:
      /\b(price|pricing|priced|charge|charging|per month|a month|\/month|monthly fee|fee|subscription cost|annual plan|discount|pay what you want)\b/i,
  },
  {
    category: 'platform',
    specific:
      /\b(discord|circle|skool|patreon|youtube memberships?|channel memberships?|substack|ko-?fi|kajabi|teachable|gumroad|mighty networks|slack|telegram|facebook groups?|whop|podia|memberful|buy me a coffee)\b/i,
    topic: /\b(platform|host (it|the community) on|community app)\b/i,
  },
  {
    category: 'timeline',
    specific: new RegExp(
      `\\b((on|by|before|next|this|until)\\s+(${DAYS}|${MONTHS})|(${MONTHS})\\s+\\d{1,2}(st|nd|rd|th)?|\\d{1,2}(st|nd|rd|th)?\\s+(of\\s+)?(${MONTHS})|tomorrow|next (week|month|quarter|year)|end of (the )?(week|month|quarter|year)|in (\\d+|one|two|three|four|six) (days?|weeks?|months?)|within (\\d+|one|two|three|four|six) (days?|weeks?|months?)|q[1-4]|\\d{4}-\\d{2}-\\d{2})\\b`,
      'i',
    ),
    topic: /\b(launch date|deadline|timeline|schedule)\b/i,
  },
  {
    category: 'structure',
    specific:
      /\b((\d+|one|two|three|four|five|single)\s+(tiers?|levels?|membership plans?|channels?|spaces?|cohorts?)|(weekly|monthly|biweekly|bi-weekly|daily)\s+(live|calls?|q&a|q and a|sessions?|office hours|coaching|workshops?|challenges?|meetups?)|cohort[- ]based|self[- ]paced|free tier|founding members?)\b/i,
    topic: /\b(structure|tiers?|format|membership levels?|onboarding)\b/i,
  },
  {
    category: 'content',
    specific:
      /\b((weekly|daily|monthly|\d+|two|three|four|five)\s+(videos?|posts?|tutorials?|episodes?|shorts|newsletters?|lessons?|streams?|breakdowns?)|behind[- ]the[- ]scenes|tutorials?|templates?|case stud(y|ies)|mini[- ]course|course|video series|series|podcast|newsletter|workbooks?|exclusive (videos?|content)|early access)\b/i,
    topic: /\b(content|videos?|topics?|episodes?)\b/i,
  },
];

const LEVELS: Confidence[] = ['low', 'low', 'medium', 'high'];
const RANK: Record<Confidence, number> = { low: 0, medium: 1, high: 2 };

/** Sentences of a message, with line breaks and list bullets as boundaries too. */
function sentencesOf(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/)
    .map((sentence) => sentence.replace(/^\s*([-*•]|\d+[.)])\s+/, '').trim())
    .filter((sentence) => sentence.length > 0);
}

/**
 * Finds decisions in a message: at most one per category (the most confident), in the order
 * the categories are listed.
 */
export function detectDecisions(text: string, speaker: Speaker = 'member'): DetectedDecision[] {
  const best = new Map<DecisionCategory, DetectedDecision>();
  for (const sentence of sentencesOf(text)) {
    if (sentence.endsWith('?') || QUESTION_OR_CONDITION.test(sentence) || DENIAL.test(sentence)) {
      continue;
    }
    const firm = speaker === 'coach' ? FIRM_COACH.exec(sentence) : FIRM_MEMBER.exec(sentence);
    const plain = speaker === 'coach' ? null : PLAIN_MEMBER.exec(sentence);
    const commitment = firm ?? plain;
    if (!commitment) continue;
    const hedge = HEDGE.exec(sentence);
    const reason = RATIONALE.exec(sentence);
    for (const rule of RULES) {
      const specific = rule.specific.exec(sentence);
      const topic = specific ?? rule.topic.exec(sentence);
      if (!topic) continue;
      const score = (firm ? 2 : 1) + (specific ? 1 : 0) - (hedge ? 1 : 0);
      const confidence = LEVELS[Math.max(0, Math.min(3, score))]!;
      const decision: DetectedDecision = {
        category: rule.category,
        statement: sentence,
        confidence,
        rationale: rationaleOf(commitment[0], firm !== null, specific?.[0], hedge?.[0], reason),
      };
      const previous = best.get(rule.category);
      if (!previous || RANK[confidence] > RANK[previous.confidence]) {
        best.set(rule.category, decision);
      }
    }
  }
  return RULES.flatMap((rule) => best.get(rule.category) ?? []);
}

function rationaleOf(
  commitment: string,
  firm: boolean,
  detail: string | undefined,
  hedge: string | undefined,
  reason: RegExpExecArray | null,
): string {
  const parts = [`${firm ? 'Firm commitment' : 'Stated plan'} ("${commitment}")`];
  if (detail) parts.push(`concrete detail "${detail}"`);
  if (hedge) parts.push(`hedged ("${hedge}")`);
  const because = reason?.[2]?.replace(/[.!]+$/, '').trim();
  const summary = `${parts.join(', ')}.`;
  if (!because) return summary;
  const word = reason![1]!;
  return `${word[0]!.toUpperCase()}${word.slice(1)} ${because}. ${summary}`;
}
