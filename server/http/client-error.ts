import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Answers requests Node's HTTP parser refuses before the app sees them (a body cut short of
 * its Content-Length, a malformed header) with the contract's error body instead of Node's
 * bare `400` with no body, then closes the connection. Nothing of such a request reaches a
 * handler, so nothing is stored.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node's own handler: answer only while nothing of a response has been written.
    const written = (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
    if (!socket.writable || written > 0) {
      socket.destroy();
      return;
    }
    const incomplete = error.code === 'HPE_INVALID_EOF_STATE' || error.code === 'ECONNRESET';
    const body = JSON.stringify({
      error: {
        code: 'validation_failed',
        message: incomplete
          ? 'body: the connection closed before the declared Content-Length arrived; the request (and any file in it) is incomplete, nothing was stored'
          : `request: malformed HTTP (${error.code ?? 'parse error'})`,
      },
    });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}
