// Documents for the knowledge-base tests: three on unrelated topics, each several chunks long
// (Open WebUI cuts at 1000 characters; each paragraph here, about 650, is one chunk), with one
// passage a question can be about. Deterministic, so a failure reproduces.

export interface TopicDocument {
  /** The file name it is uploaded as. */
  name: string;
  text: string;
  /** Its paragraphs, each about one chunk. */
  paragraphs: string[];
}

const TOPICS = {
  lighthouse: {
    subject: 'The keeper of the Skerryvore lighthouse',
    words: ['lantern', 'lens', 'reef', 'tower', 'foghorn', 'granite', 'keeper', 'beacon', 'shipping', 'gale', 'lighthouse', 'tide'],
  },
  sourdough: {
    subject: 'The baker of the Marlow sourdough bakery',
    words: ['starter', 'levain', 'flour', 'crumb', 'crust', 'proofing', 'dough', 'oven', 'hydration', 'rye', 'loaf', 'fermentation'],
  },
  glacier: {
    subject: 'The surveyor of the Vatna glacier',
    words: [
      'moraine',
      'crevasse',
      'icefall',
      'meltwater',
      'firn',
      'ablation',
      'nunatak',
      'snowline',
      'calving',
      'cirque',
      'glacier',
      'ice',
    ],
  },
} as const;
export type Topic = keyof typeof TOPICS;
export const TOPIC_NAMES = Object.keys(TOPICS) as Topic[];

/** The passage the question in `QUESTIONS` is about: paragraph 3 of its document. */
export const PASSAGES: Record<Topic, string> = {
  lighthouse:
    'Every four hours through the night the Skerryvore keeper must trim the lamp wicks and wind the clockwork that turns the lens.',
  sourdough: 'Twice a day the Marlow baker must feed the rye starter with equal weights of flour and water at twenty-six degrees.',
  glacier: 'Each August the Vatna surveyor must measure the ablation stakes on the lower icefall and record the snowline altitude.',
};
export const QUESTIONS: Record<Topic, string> = {
  lighthouse: 'How often must the Skerryvore keeper trim the lamp wicks during the night?',
  sourdough: 'How often must the Marlow baker feed the rye starter, and with what?',
  glacier: 'When must the Vatna surveyor measure the ablation stakes on the icefall?',
};

/** One paragraph of about 650 characters on `topic`, different for each `n`. */
function paragraph(topic: Topic, n: number): string {
  const { subject, words } = TOPICS[topic];
  const w = (i: number) => words[(n * 5 + i) % words.length]!;
  const sentences = [
    `${subject} keeps a record of the ${w(0)} and the ${w(1)} in entry ${n + 1}.`,
    `In that entry the ${w(2)} is compared with the ${w(3)}, because the ${w(4)} changes with the season.`,
    `Notes on the ${w(5)} follow, with drawings of the ${w(6)} and a list of tools for the ${w(7)}.`,
    `The ${w(8)} is checked against the ${w(9)} before the ${w(10)} is written down.`,
    `A visitor once asked about the ${w(11)} and the ${w(0)}, and the answer filled two pages.`,
    `Later pages return to the ${w(2)}, the ${w(5)} and the ${w(8)}, each with a date and a measurement.`,
    `The entry ends with the ${w(1)}, the ${w(4)} and the ${w(7)}, as every entry does.`,
  ];
  if (n === 3) sentences.splice(2, 0, PASSAGES[topic]);
  return sentences.join(' ');
}

/** A document of `paragraphs` paragraphs (default 7: about seven chunks) on `topic`. */
export function topicDocument(topic: Topic, paragraphs = 7): TopicDocument {
  const list = Array.from({ length: paragraphs }, (_, n) => paragraph(topic, n));
  return { name: `${topic}.txt`, text: list.join('\n\n') + '\n', paragraphs: list };
}

/** `pages` pages of text (3000 characters each) on `topic`: the indexing figure's document. */
export function longDocument(topic: Topic, pages: number): TopicDocument {
  const perParagraph = paragraph(topic, 0).length + 2;
  return topicDocument(topic, Math.ceil((pages * 3000) / perParagraph));
}
