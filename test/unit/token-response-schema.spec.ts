import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJson from 'fast-json-stringify';
import { TOKEN_RESPONSE_SCHEMA } from '../../src/tokens/tokens.dto';

/**
 * GET /tokens/:account's 200 answer is serialized from TOKEN_RESPONSE_SCHEMA (fastify drops any
 * field the schema lacks): it must name every field the documented TokenResponse has.
 */
describe('the token answer’s serialization schema', () => {
  const documented = (
    JSON.parse(readFileSync(join(__dirname, '..', '..', 'openapi.json'), 'utf8')) as {
      components: {
        schemas: Record<
          string,
          { properties: Record<string, { type: string }>; required: string[] }
        >;
      };
    }
  ).components.schemas.TokenResponse;

  it('has the documented fields, types and required list', () => {
    const ours = TOKEN_RESPONSE_SCHEMA.properties as Record<string, { type: string }>;
    expect(Object.keys(ours).sort()).toEqual(Object.keys(documented.properties).sort());
    for (const [name, { type }] of Object.entries(ours))
      expect([name, type === 'integer' ? 'number' : type]).toEqual([
        name,
        documented.properties[name].type,
      ]);
    expect([...TOKEN_RESPONSE_SCHEMA.required].sort()).toEqual([...documented.required].sort());
  });

  it('serializes an answer to the same JSON as JSON.stringify', () => {
    const answer = {
      account: 'acme-42',
      product: 'crm',
      accessToken: 'a"b\\c\u2028d',
      tokenType: 'Bearer',
      expiresAt: '2026-11-26T12:00:00.000Z',
      expiresIn: 7140,
    };
    const serialize = fastJson(TOKEN_RESPONSE_SCHEMA as unknown as Parameters<typeof fastJson>[0]);
    expect(JSON.parse(serialize(answer))).toEqual(answer);
    expect(serialize(answer)).toBe(JSON.stringify(answer));
  });
});
