import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body when it is JSON, else undefined. */
  json: unknown;
}

export interface RawRequest {
  method?: string;
  /** Sent exactly as given: no URL normalisation, no re-encoding (unlike fetch or supertest). */
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

/** One HTTP request with a byte-exact request target, for hostile-input tests. */
export function rawRequest(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: hostname,
        port,
        method: req.method ?? 'GET',
        path: req.path,
        headers: {
          ...(req.body !== undefined ? { 'content-length': Buffer.byteLength(req.body) } : {}),
          ...req.headers,
        },
        // A fresh connection per request: a hostile request may get its socket closed.
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          if ((res.headers['content-type'] ?? '').includes('application/json')) {
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    outgoing.on('error', reject);
    if (req.body !== undefined) outgoing.write(req.body);
    outgoing.end();
  });
}
