// The data protocol's codec and incremental parser: the same frames come out however the byte
// stream is cut into pieces, and malformed input is refused with a reason.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeError,
  decodeRead,
  encodeDataHead,
  encodeEmpty,
  encodeError,
  encodeRead,
  FrameType,
  HEADER_BYTES,
  MAGIC,
  MAX_ERROR_BODY,
  MAX_PATH_BYTES,
  writeHeader,
} from '../worker/proto/data-protocol.js';
import { FrameReader } from '../worker/proto/frame-reader.js';

type Event = [string, ...unknown[]];

/** Parses `stream` fed in pieces of the given sizes (cycled); returns what the handlers saw. */
function parse(stream: Buffer, pieces: number[]): Event[] {
  const events: Event[] = [];
  let data: Buffer[] = [];
  const reader = new FrameReader(
    { magic: MAGIC, streamed: FrameType.DATA, maxBody: (t) => (t === FrameType.END || t === FrameType.CANCEL ? 0 : t === FrameType.ERROR ? MAX_ERROR_BODY : t === FrameType.READ ? 16 * 1024 : undefined) },
    {
      frame: (type, id, body) => events.push(['frame', type, id, Buffer.from(body).toString('hex')]),
      streamStart: (id, offset, n) => {
        data = [];
        events.push(['start', id, offset, n]);
      },
      streamData: (chunk) => data.push(Buffer.from(chunk)),
      streamEnd: () => events.push(['data', Buffer.concat(data).toString('hex')]),
      invalid: (reason, magic) => events.push(['invalid', magic, reason]),
    },
  );
  for (let at = 0, i = 0; at < stream.length; i++) {
    const n = pieces[i % pieces.length];
    reader.push(stream.subarray(at, at + n));
    at += n;
  }
  return events;
}

describe('data protocol frames', () => {
  const payload = randomBytes(70_000);
  const stream = Buffer.concat([
    MAGIC,
    encodeRead(1, { path: '/a/ü b.bin', offset: 2 ** 40 + 3, length: 5 * 2 ** 20, version: 'etag-"x"' }),
    encodeDataHead(1, 2 ** 40 + 3, payload.length),
    payload,
    encodeDataHead(2, 0, 0),
    encodeEmpty(FrameType.END, 1),
    encodeError(3, 'NOT_FOUND', '/a/x: no such file'),
    encodeEmpty(FrameType.CANCEL, 0xffffffff),
  ]);

  it('round-trips every frame type, however the stream is cut', () => {
    const whole = parse(stream, [stream.length]);
    expect(whole.map((e) => e[0])).toEqual(['frame', 'start', 'data', 'start', 'data', 'frame', 'frame', 'frame']);
    expect(whole[1]).toEqual(['start', 1, 2 ** 40 + 3, payload.length]);
    expect(whole[2]).toEqual(['data', payload.toString('hex')]);
    expect(whole[3]).toEqual(['start', 2, 0, 0]);
    expect(whole[5]).toEqual(['frame', FrameType.END, 1, '']);
    expect(whole[7]).toEqual(['frame', FrameType.CANCEL, 0xffffffff, '']);
    const read = decodeRead(Buffer.from(whole[0][3] as string, 'hex'));
    expect(read).toEqual({ path: '/a/ü b.bin', offset: 2 ** 40 + 3, length: 5 * 2 ** 20, version: 'etag-"x"' });
    expect(decodeError(Buffer.from(whole[6][3] as string, 'hex'))).toEqual({ code: 'NOT_FOUND', message: '/a/x: no such file' });
    for (const pieces of [[1], [2], [3, 5], [7], [9], [13, 1], [4096], [65_536, 17]]) {
      expect(parse(stream, pieces), `pieces ${pieces.join(',')}`).toEqual(whole);
    }
  });

  it('refuses a wrong magic, an unknown type, an oversized body and a short DATA frame', () => {
    const unknown = Buffer.alloc(HEADER_BYTES);
    writeHeader(unknown, 0x7f, 1, 0);
    expect(parse(Buffer.concat([MAGIC, unknown, encodeEmpty(FrameType.END, 1)]), [2])).toEqual([['invalid', false, 'unexpected frame type 127']]);
    expect(parse(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), [3])).toEqual([['invalid', true, 'the peer does not speak the Hoard data protocol']]);
    const big = Buffer.alloc(HEADER_BYTES);
    writeHeader(big, FrameType.ERROR, 1, MAX_ERROR_BODY + 1);
    expect(parse(Buffer.concat([MAGIC, big]), [1])[0]).toEqual(['invalid', false, `frame type ${FrameType.ERROR} has a ${MAX_ERROR_BODY + 1}-byte body; at most ${MAX_ERROR_BODY} allowed`]);
    const short = Buffer.alloc(HEADER_BYTES);
    writeHeader(short, FrameType.DATA, 1, 3);
    expect(parse(Buffer.concat([MAGIC, short]), [5])[0][0]).toBe('invalid');
  });

  it('refuses to encode what it could not decode, and decodes only consistent READ bodies', () => {
    expect(() => encodeRead(1, { path: `/${'x'.repeat(MAX_PATH_BYTES)}`, offset: 0, length: 1, version: '' })).toThrow(RangeError);
    expect(() => encodeRead(1, { path: '/x', offset: -1, length: 1, version: '' })).toThrow(RangeError);
    expect(() => encodeRead(1, { path: '/x', offset: 0, length: 2 ** 53, version: '' })).toThrow(RangeError);
    const body = encodeRead(1, { path: '/x', offset: 0, length: 1, version: 'v' }).subarray(HEADER_BYTES);
    expect(() => decodeRead(body.subarray(0, body.length - 1))).toThrow(RangeError);
    expect(() => decodeRead(Buffer.concat([body, Buffer.from('!')]))).toThrow(RangeError);
    expect(() => decodeRead(body.subarray(0, 10))).toThrow(RangeError);
    // An offset beyond 2^53 decodes as NaN, which the worker's validation refuses.
    const huge = Buffer.from(body);
    huge.writeUInt32BE(0xffffffff, 0);
    expect(decodeRead(huge).offset).toBeNaN();
    expect(decodeError(Buffer.from('not json'))).toEqual({ code: 'INTERNAL', message: 'worker sent an unreadable ERROR frame' });
  });
});
