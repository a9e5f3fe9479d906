// A minimal WebSocket client (RFC 6455) over node:net, for the realtime tests: Node 20
// has no WebSocket client of its own without a flag, and the tests use no npm packages.
//
//   const ws = await wsConnect(baseUrl, '/api/v1/ws?since=12', {token})
//   ws.status        101, or the HTTP status of a refused upgrade (ws.body, ws.headers)
//   await ws.next()  the next text frame, parsed as JSON (rejects on timeout or close)
//   ws.send(obj)     a masked text frame; ws.sendRaw(opcode, buf) any frame
//   ws.onFrame = f   frames go to f instead of the queue next() reads
//   ws.pause()       stop reading (a slow reader); ws.resume()
//   await ws.closed  {code, reason} of the server's close frame, or {code: 1006} without one
//   ws.close()       a close frame, then the socket ends
import net from 'node:net';
import crypto from 'node:crypto';

export async function wsConnect(base, path, {token, headers = {}, timeoutMs = 5000} = {}) {
    const url = new URL(base);
    const sock = net.connect({host: url.hostname, port: Number(url.port)});
    sock.setNoDelay(true);
    await new Promise((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
    });
    const key = crypto.randomBytes(16).toString('base64');
    const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: ${url.host}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${key}`,
        'Sec-WebSocket-Version: 13',
    ];
    if (token) lines.push(`Authorization: Bearer ${token}`);
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    sock.write(lines.join('\r\n') + '\r\n\r\n');
    return new WsClient(sock, key, timeoutMs).handshake();
}

class WsClient {
    constructor(sock, key, timeoutMs) {
        this.sock = sock;
        this.key = key;
        this.timeoutMs = timeoutMs;
        this.buf = Buffer.alloc(0);
        this.frames = [];
        this.waiters = [];
        this.pings = 0;
        this.closeFrame = null;
        this.ended = false;
        this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
        sock.on('data', (d) => this.onData(d));
        sock.on('close', () => this.onEnd());
        sock.on('error', () => this.onEnd());
    }

    handshake() {
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('no handshake answer')), this.timeoutMs);
            this.onHead = (head, rest) => {
                clearTimeout(timer);
                const [statusLine, ...headerLines] = head.split('\r\n');
                this.status = Number(statusLine.split(' ')[1]);
                this.headers = {};
                for (const l of headerLines) {
                    const i = l.indexOf(':');
                    this.headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
                }
                if (this.status !== 101) {
                    const len = Number(this.headers['content-length'] || 0);
                    const collect = () => {
                        if (rest.length >= len) {
                            this.body = rest.subarray(0, len).toString();
                            try { this.json = JSON.parse(this.body); } catch { this.json = null; }
                            this.sock.destroy();
                            resolve(this);
                        }
                    };
                    this.onBody = (more) => { rest = Buffer.concat([rest, more]); collect(); };
                    collect();
                    return;
                }
                const accept = crypto.createHash('sha1')
                    .update(this.key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
                if (this.headers['sec-websocket-accept'] !== accept) {
                    reject(new Error('bad Sec-WebSocket-Accept'));
                    return;
                }
                this.buf = rest;
                this.parse();
                resolve(this);
            };
        });
    }

    onData(d) {
        if (this.onHead) {
            this.buf = Buffer.concat([this.buf, d]);
            const i = this.buf.indexOf('\r\n\r\n');
            if (i < 0) return;
            const head = this.buf.subarray(0, i).toString();
            const rest = this.buf.subarray(i + 4);
            const cb = this.onHead;
            this.onHead = null;
            this.buf = Buffer.alloc(0);
            cb(head, rest);
            return;
        }
        if (this.onBody) {
            this.onBody(d);
            return;
        }
        this.buf = Buffer.concat([this.buf, d]);
        this.parse();
    }

    parse() {
        for (;;) {
            const b = this.buf;
            if (b.length < 2) return;
            const opcode = b[0] & 0x0f;
            let len = b[1] & 0x7f, off = 2;
            if (len === 126) {
                if (b.length < 4) return;
                len = b.readUInt16BE(2);
                off = 4;
            } else if (len === 127) {
                if (b.length < 10) return;
                len = Number(b.readBigUInt64BE(2));
                off = 10;
            }
            if (b.length < off + len) return;
            const payload = b.subarray(off, off + len);
            this.buf = b.subarray(off + len);
            if (opcode === 1) {
                const frame = JSON.parse(payload.toString());
                if (this.onFrame) this.onFrame(frame);
                else this.frames.push(frame);
                this.wake();
            } else if (opcode === 8) {
                this.closeFrame = {
                    code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
                    reason: payload.subarray(2).toString(),
                };
                if (!this.ended) this.sendRaw(8, payload.subarray(0, 2));
                this.sock.end();
            } else if (opcode === 9) {
                this.pings++;
                if (this.answerPings !== false) this.sendRaw(10, payload);
            }
        }
    }

    onEnd() {
        if (this.ended) return;
        this.ended = true;
        if (this.onHead) this.onHead('HTTP/1.1 0 closed', Buffer.alloc(0));
        this.resolveClosed(this.closeFrame || {code: 1006, reason: ''});
        this.wake();
    }

    wake() {
        const w = this.waiters;
        this.waiters = [];
        for (const f of w) f();
    }

    // the next text frame as JSON
    async next(timeoutMs = this.timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (this.frames.length === 0) {
            if (this.ended) throw new Error(`socket closed (${JSON.stringify(this.closeFrame)})`);
            const left = deadline - Date.now();
            if (left <= 0) throw new Error('no frame in time');
            await new Promise((resolve) => {
                const t = setTimeout(resolve, left);
                this.waiters.push(() => { clearTimeout(t); resolve(); });
            });
        }
        return this.frames.shift();
    }

    // frames that arrive within ms (none expected: an empty array)
    async drain(ms) {
        await new Promise((r) => setTimeout(r, ms));
        const f = this.frames;
        this.frames = [];
        return f;
    }

    sendRaw(opcode, payload) {
        if (this.sock.destroyed) return;
        const mask = crypto.randomBytes(4);
        const len = payload.length;
        const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
            : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
            : (() => {
                const h = Buffer.alloc(10);
                h[0] = 0x80 | opcode;
                h[1] = 0x80 | 127;
                h.writeBigUInt64BE(BigInt(len), 2);
                return h;
            })();
        const body = Buffer.from(payload);
        for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
        this.sock.write(Buffer.concat([head, mask, body]));
    }

    send(obj) {
        this.sendRaw(1, Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj)));
    }

    pause() { this.sock.pause(); }
    resume() { this.sock.resume(); }

    close(code = 1000) {
        const b = Buffer.alloc(2);
        b.writeUInt16BE(code);
        this.sendRaw(8, b);
        return this.closed;
    }

    destroy() { this.sock.destroy(); }
}
