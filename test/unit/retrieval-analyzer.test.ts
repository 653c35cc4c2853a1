import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Analyzer, defaultAnalyzer, luceneEnglishStopWords } from '../../src/search/analyzer.ts';

describe('Analyzer', () => {
  test('lower-cases, removes possessives and Lucene stop words, and Porter-stems', () => {
    assert.deepEqual(defaultAnalyzer.analyze("The patient's caresses were running into the Generalizations"), [
      'patient',
      'caress',
      'were',
      'run',
      'gener',
    ]);
  });

  test('keeps numbers and decimal numbers as one token and stems trailing plural s like Lucene', () => {
    assert.deepEqual(defaultAnalyzer.analyze('3.5% of cases in the 1990s'), ['3.5', 'case', '1990']);
  });

  test('uses exactly Lucene’s 33 English stop words by default', () => {
    assert.equal(luceneEnglishStopWords.length, 33);
    assert.deepEqual(defaultAnalyzer.analyze('such a thing is not there'), ['thing']);
  });

  test('the stopword-package list removes more function words than Lucene’s', () => {
    const text = 'we would have been able to do it';
    assert.ok(
      new Analyzer({ stopWords: 'stopword-package' }).analyze(text).length < defaultAnalyzer.analyze(text).length,
    );
  });

  test('splits Japanese text into overlapping character bigrams and leaves embedded English words alone', () => {
    assert.deepEqual(defaultAnalyzer.analyze('アプリを作成 Slack'), ['アプ', 'プリ', 'リを', 'を作', '作成', 'slack']);
  });

  test('a Japanese query shares bigrams with a document containing the phrase', () => {
    const document = new Set(defaultAnalyzer.analyze('Bolt for JavaScript でアプリを作成する方法を説明します。'));
    const query = defaultAnalyzer.analyze('アプリの作成方法');
    assert.ok(query.filter((term) => document.has(term)).length >= 2);
  });

  test('a single CJK character stays a unigram', () => {
    assert.deepEqual(defaultAnalyzer.analyze('猫 cat'), ['猫', 'cat']);
  });

  test('ignores punctuation-only segments and overlong tokens', () => {
    assert.deepEqual(defaultAnalyzer.analyze(`--- !!! ${'x'.repeat(300)} ok`), ['ok']);
  });

  test('the sparse representation adds the letter and digit runs of mixed tokens, so "IL6" meets "IL-6"', () => {
    assert.deepEqual(
      [...defaultAnalyzer.termFrequencies('IL6 and GATA3 cells')],
      [
        ['il6', 1],
        ['il', 1],
        ['6', 1],
        ['gata3', 1],
        ['gata', 1],
        ['3', 1],
        ['cell', 1],
      ],
    );
    // UAX #29 already splits the hyphenated form; the joined form now shares both of its terms.
    const hyphenated = defaultAnalyzer.termFrequencies('IL-6 signalling');
    assert.deepEqual([...hyphenated.keys()], ['il', '6', 'signal']);
    const joined = [...defaultAnalyzer.termFrequencies('IL6').keys()];
    assert.deepEqual(
      joined.filter((term) => hyphenated.has(term)),
      ['il', '6'],
    );
  });

  test('analyze keeps one term per word; runs that are stop words are not added; the option turns the runs off', () => {
    assert.deepEqual(defaultAnalyzer.analyze('IL6 in the 1990s'), ['il6', '1990']);
    assert.deepEqual(defaultAnalyzer.indexTerms('HbA1c'), ['hba1c', 'hba', '1', 'c']);
    assert.deepEqual(defaultAnalyzer.indexTerms('a1'), ['a1', '1']);
    assert.deepEqual(defaultAnalyzer.indexTerms('3.5 mg'), ['3.5', 'mg']);
    const plain = new Analyzer({ letterDigitParts: false });
    assert.deepEqual([...plain.termFrequencies('IL6 cells').keys()], ['il6', 'cell']);
    assert.deepEqual(new Analyzer({ stem: false }).indexTerms('CD4s'), ['cd4s', 'cd', '4', 's']);
  });

  test('counts term frequencies', () => {
    assert.deepEqual(
      [...defaultAnalyzer.termFrequencies('cell cells Cell division')],
      [
        ['cell', 3],
        ['divis', 1],
      ],
    );
  });
});
