/**
 * The spans in an OTLP/HTTP trace export, as a test's stand-in collector received them, in either
 * encoding: protobuf (the broker's default, `application/x-protobuf`) or JSON
 * (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`). Ids in hex, attributes as OTLP/JSON writes them
 * (`{ key, value: { stringValue | intValue | boolValue | doubleValue } }`).
 *
 * The protobuf side reads only what the tests look at (opentelemetry-proto's trace.proto and
 * common.proto field numbers), and skips every other field.
 */
import type { SeenRequest } from './tiny-server';

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

export const SERVER = 2;
export const CLIENT = 3;

/** Every span of every trace export the receiver got. */
export function spansOf(receiver: { requests: SeenRequest[] }): OtlpSpan[] {
  return receiver.requests
    .filter((r) => r.path === '/v1/traces')
    .flatMap((r) =>
      r.headers['content-type'] === 'application/json' ? jsonSpans(r.body) : protobufSpans(r.bytes),
    );
}

export function attribute(span: OtlpSpan, key: string): unknown {
  const found = span.attributes?.find((a) => a.key === key);
  return found && Object.values(found.value)[0];
}

function jsonSpans(body: string): OtlpSpan[] {
  const request = JSON.parse(body) as {
    resourceSpans: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
  };
  return request.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
}

type Field = { number: number; varint?: number; bytes?: Buffer; fixed64?: Buffer };

/** The fields of one protobuf message, in order. */
function fieldsOf(bytes: Buffer): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const tag = varint();
    const number = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        fields.push({ number, varint: varint() });
        break;
      case 1:
        fields.push({ number, fixed64: bytes.subarray(at, at + 8) });
        at += 8;
        break;
      case 2: {
        const length = varint();
        fields.push({ number, bytes: bytes.subarray(at, at + length) });
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new Error(`wire type ${tag & 7}: not OTLP`);
    }
  }
  return fields;
}

const messages = (bytes: Buffer, number: number): Buffer[] =>
  fieldsOf(bytes)
    .filter((f) => f.number === number && f.bytes)
    .map((f) => f.bytes!);

/** common.proto AnyValue: string 1, bool 2, int 3, double 4 (arrays and maps not used here). */
function anyValue(bytes: Buffer): Record<string, unknown> {
  const [field] = fieldsOf(bytes);
  if (!field) return {};
  switch (field.number) {
    case 1:
      return { stringValue: field.bytes!.toString('utf8') };
    case 2:
      return { boolValue: field.varint === 1 };
    case 3:
      return { intValue: field.varint };
    case 4:
      return { doubleValue: field.fixed64!.readDoubleLE(0) };
    default:
      return { other: field.bytes?.toString('utf8') };
  }
}

/** ExportTraceServiceRequest: resource_spans 1 → scope_spans 2 → spans 2. */
function protobufSpans(body: Buffer): OtlpSpan[] {
  return messages(body, 1).flatMap((resourceSpans) =>
    messages(resourceSpans, 2).flatMap((scopeSpans) =>
      messages(scopeSpans, 2).map((bytes) => {
        const span: OtlpSpan = { traceId: '', spanId: '', name: '', kind: 0, attributes: [] };
        for (const field of fieldsOf(bytes)) {
          if (field.number === 1) span.traceId = field.bytes!.toString('hex');
          else if (field.number === 2) span.spanId = field.bytes!.toString('hex');
          else if (field.number === 4 && field.bytes!.length)
            span.parentSpanId = field.bytes!.toString('hex');
          else if (field.number === 5) span.name = field.bytes!.toString('utf8');
          else if (field.number === 6) span.kind = field.varint!;
          else if (field.number === 9) {
            const [key, value] = [messages(field.bytes!, 1)[0], messages(field.bytes!, 2)[0]];
            span.attributes!.push({
              key: key.toString('utf8'),
              value: value ? anyValue(value) : {},
            });
          }
        }
        return span;
      }),
    ),
  );
}
