import type { Server } from 'node:http';
import { BadRequestException } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** No request body of this API nests beyond 2 levels; 32 leaves room and stops recursion bombs. */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }

/**
 * Whether a JSON text nests arrays/objects deeper than `max`, found by one pass over the bytes
 * that counts brackets outside strings. It does not validate: the parser does that next. UTF-8
 * continuation bytes are all ≥ 0x80, so they never look like a bracket or a quote.
 */
export function nestsDeeperThan(json: Buffer, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (OPEN.has(byte)) {
      if (++depth > max) return true;
    } else if (CLOSE.has(byte)) depth--;
  }
  return false;
}

/**
 * fastify's own JSON parser (secure-json-parse, which refuses `__proto__` and `constructor`
 * pollution), behind a depth check: a body nested thousands deep parses fine but then sends
 * class-transformer into a recursion that blocks the event loop and ends in a 500. It is
 * refused here with 400, before any transform runs.
 */
export function useJsonBodyParser(app: NestFastifyApplication, bodyLimit: number): void {
  const fastify = app.getHttpAdapter().getInstance();
  const parse = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<Server>('application/json', { bodyLimit }, (request, body, done) => {
    if (nestsDeeperThan(body, MAX_JSON_DEPTH)) {
      done(
        new BadRequestException(`the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`),
        undefined,
      );
      return;
    }
    parse(request, body.toString('utf8'), done);
  });
}

/**
 * HTML forms post `application/x-www-form-urlencoded`: the Connect button of a link page
 * (oauth/links.controller.ts) is one. Its body carries nothing the broker reads; it is parsed (as
 * plain fields, within a small limit) only so that the browser's POST is not refused with 415.
 */
export function useFormBodyParser(app: NestFastifyApplication): void {
  app.useBodyParser<Server>(
    'application/x-www-form-urlencoded',
    { bodyLimit: 4096 },
    (request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    },
  );
}
