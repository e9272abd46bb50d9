import { Writable } from 'node:stream';
import pino from 'pino';
import { serializeError } from '../../src/logging/logger';

/** The `err` field of one line written by a pino logger using the broker's serializer. */
function logged(err: unknown): unknown {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  pino({ serializers: { err: serializeError } }, sink).warn({ err }, 'something failed');
  return JSON.parse(lines[0]).err;
}

describe('serializeError', () => {
  it('logs a string as {type, message}, not one field per character', () => {
    expect(logged('timeout exceeded')).toEqual({ type: 'string', message: 'timeout exceeded' });
  });

  it.each([
    [42, { type: 'number', message: '42' }],
    [{ reason: 'gone' }, { type: 'Object', message: '{"reason":"gone"}' }],
    [['a', 'b'], { type: 'Array', message: '["a","b"]' }],
  ])('logs %j as {type, message}', (value, expected) => {
    expect(logged(value)).toEqual(expected);
  });

  it('keeps an Error’s type, message and stack, its system code as errorCode', () => {
    const error = Object.assign(new TypeError('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
    });
    expect(logged(error)).toMatchObject({
      type: 'TypeError',
      message: 'connect ECONNREFUSED 127.0.0.1:5432',
      stack: expect.stringContaining('TypeError'),
      errorCode: 'ECONNREFUSED',
    });
    expect(logged(error)).not.toHaveProperty('code');
  });

  it('keeps an error-like object as pino reads it', () => {
    expect(logged({ message: 'plain' })).toMatchObject({ type: 'Object', message: 'plain' });
  });
});
