/**
 * The query language's semantics on JSON documents (MongoDB's typed rules, as Dapr's docs examples show them),
 * in process: what matches, how types sort, and what the parser refuses.
 */
import { compareValues, matches, parseQuery, sortValue } from '../../src/state/query-language';

const filter = (f: unknown) => parseQuery(JSON.stringify({ filter: f })).filter!;

describe('filters', () => {
  const doc = {
    a: 1,
    s: 'x',
    n: null,
    t: true,
    arr: [1, 'two', 3],
    objs: [{ v: 5 }, { v: 7 }],
    deep: { b: { c: 'y' } },
  };

  test.each([
    [{ EQ: { a: 1 } }, true],
    [{ EQ: { a: '1' } }, false], // no coercion
    [{ EQ: { s: 'x' } }, true],
    [{ EQ: { t: true } }, true],
    [{ EQ: { n: null } }, true],
    [{ EQ: { missing: null } }, true], // EQ null matches a missing field
    [{ EQ: { 'deep.b.c': 'y' } }, true],
    [{ EQ: { 'deep.b': 'y' } }, false],
    [{ EQ: { arr: 'two' } }, true], // any element
    [{ EQ: { 'objs.v': 7 } }, true], // a path through an array of objects
    [{ NEQ: { a: 2 } }, true],
    [{ NEQ: { a: 1 } }, false],
    [{ NEQ: { missing: 1 } }, true], // NEQ matches a missing field
    [{ NEQ: { n: null } }, false],
    [{ GT: { a: 0.5 } }, true],
    [{ GT: { a: 1 } }, false],
    [{ GTE: { a: 1 } }, true],
    [{ LT: { arr: 2 } }, true], // some element below 2
    [{ LTE: { 'objs.v': 4 } }, false],
    [{ GT: { s: 0 } }, false], // a string field never satisfies a numeric bound
    [{ IN: { s: ['y', 'x'] } }, true],
    [{ IN: { a: ['1'] } }, false],
    [{ AND: [{ EQ: { a: 1 } }, { EQ: { s: 'x' } }] }, true],
    [{ AND: [{ EQ: { a: 1 } }, { EQ: { s: 'z' } }] }, false],
    [{ OR: [{ EQ: { a: 2 } }, { EQ: { s: 'x' } }] }, true],
  ])('%j → %s', (f, expected) => {
    expect(matches(doc, filter(f))).toBe(expected);
  });

  test('a scalar document has no fields', () => {
    expect(matches(42, filter({ EQ: { a: 42 } }))).toBe(false);
    expect(matches('x', filter({ NEQ: { a: 1 } }))).toBe(true);
  });
});

describe('sort', () => {
  test('types order as MongoDB: missing and null, numbers, strings, objects, arrays, booleans', () => {
    const values = [true, [1], { a: 1 }, 'b', 'a', 10, 2, null, undefined];
    // Wrapped: Array.prototype.sort would put bare `undefined`s last without asking the comparator.
    const sorted = values
      .map((v) => ({ v }))
      .sort((x, y) => compareValues(x.v, y.v))
      .map((x) => x.v);
    expect(sorted).toEqual([null, undefined, 2, 10, 'a', 'b', { a: 1 }, [1], true]);
  });

  test('a sort key reads the first value its path reaches', () => {
    const q = parseQuery('{"sort":[{"key":"a.b"}]}');
    expect(sortValue({ a: { b: 3 } }, q.sort[0])).toBe(3);
    expect(sortValue({ a: 3 }, q.sort[0])).toBeUndefined();
  });
});

describe('parsing', () => {
  test('members match case-insensitively as Go decodes JSON; no filter means everything', () => {
    const q = parseQuery(
      '{"Filter":{"EQ":{"a":1}},"SORT":[{"Key":"a","Order":"DESC"}],"Page":{"Limit":2,"Token":"t"}}',
    );
    expect(q.filter).toEqual({ op: 'EQ', path: { text: 'a', parts: ['a'] }, value: 1 });
    expect(q.sort).toEqual([{ path: { text: 'a', parts: ['a'] }, descending: true }]);
    expect([q.limit, q.token]).toEqual([2, 't']);
    expect(parseQuery('{}')).toEqual({ filter: undefined, sort: [], limit: 0, token: undefined });
    expect(parseQuery('{"filter":{}}').filter).toBeUndefined();
    expect(parseQuery('{"page":{"limit":-1}}').limit).toBe(0);
  });

  test.each([
    ['[]', 'cannot unmarshal array'],
    ['{"filter":{"eq":{"a":1}}}', 'unsupported filter "eq"'], // operators are case-sensitive
    ['{"filter":{"IN":{"a":[{"b":1}]}}}', 'must be a string, number, boolean or null, not object'],
    ['{"filter":{"LT":{"a":true}}}', 'unsupported type of value true; boolean type not permitted'],
    ['{"sort":{"key":"a"}}', 'into field sort of type array'],
    ['{"sort":[{"order":"ASC"}]}', 'sort[0].key must be a string'],
    ['{"page":{"token":3}}', 'page.token'],
  ])('%s is refused', (text, message) => {
    expect(() => parseQuery(text)).toThrow(message);
  });
});
