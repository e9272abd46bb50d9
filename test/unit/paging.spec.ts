import { InvalidRequestError } from '../../src/common/errors';
import { decodeCursor, encodeCursor, pageOf } from '../../src/common/paging';

const readPair = (first: unknown, second: unknown) =>
  typeof first === 'string' && typeof second === 'number' ? { first, second } : undefined;

describe('cursors', () => {
  it('decode what they encode', () => {
    const cursor = encodeCursor(['acme', 7]);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, readPair)).toEqual({ first: 'acme', second: 7 });
  });

  it.each([
    ['not base64url', '[1,2]'],
    ['padded', `${encodeCursor(['acme', 7])}=`],
    ['not JSON', Buffer.from('{oops').toString('base64url')],
    ['not a pair', Buffer.from(JSON.stringify({ first: 'acme' })).toString('base64url')],
    ['three items', Buffer.from(JSON.stringify(['acme', 7, 8])).toString('base64url')],
    ['a pair the reader refuses', encodeCursor([7, 'acme'])],
  ])('refuse a cursor %s with a 400', (_why, cursor) => {
    expect(() => decodeCursor(cursor, readPair)).toThrow(InvalidRequestError);
  });
});

describe('pageOf', () => {
  const cursorOf = (last: number) => `after-${last}`;

  it('keeps `limit` items and names the last when more rows came', () => {
    expect(pageOf([1, 2, 3, 4], 3, cursorOf)).toEqual({ items: [1, 2, 3], nextCursor: 'after-3' });
  });

  it('has no next cursor on the last page', () => {
    expect(pageOf([1, 2, 3], 3, cursorOf)).toEqual({ items: [1, 2, 3], nextCursor: null });
    expect(pageOf([], 3, cursorOf)).toEqual({ items: [], nextCursor: null });
  });
});
