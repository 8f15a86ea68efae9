import { Agent, request, validateHeaderValue, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** An HTTP response as bytes arrived, before any client library interprets it. */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * Sends a request with exactly the given headers through `node:http`. A header value is sent as latin1, one
 * byte per character, so a test can put any byte from 0x80 to 0xFF on the wire (UTF-8 included, encoded
 * first with {@link asWireString}).
 */
export function send(method: 'GET' | 'POST', url: string, headers: Record<string, string>, agent?: Agent): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const get = (url: string, headers: Record<string, string>, agent?: Agent) => send('GET', url, headers, agent);

/** The string whose latin1 bytes are `text`'s UTF-8 bytes: what a browser puts on the wire for `text`. */
export function asWireString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Whether `node:http` would send `value` as a header value (it refuses control characters but tab). */
export function sendableHeaderValue(value: string): boolean {
  try {
    validateHeaderValue('cookie', value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends an HTTP/1.0 GET over a raw socket, for header bytes that `node:http` refuses to send. HTTP/1.0 keeps
 * the response unchunked and the connection closes after it, so the reply is read as it came.
 */
export function rawGet(port: number, path: string, headerBytes: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = text.slice(0, split === -1 ? text.length : split).split('\r\n');
      const headers: IncomingHttpHeaders = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const body = split === -1 ? '' : Buffer.from(text.slice(split + 4), 'latin1').toString('utf8');
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body });
    });
    socket.write(Buffer.concat([Buffer.from(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\nCookie: `), headerBytes, Buffer.from('\r\n\r\n')]));
  });
}
