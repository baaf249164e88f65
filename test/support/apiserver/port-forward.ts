import type { IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ApiError, notFound } from './errors.js';
import type { Store } from './store.js';

/**
 * `pods/portforward` over WebSocket, as kube-apiserver + kubelet serve it to client-node's
 * PortForward (what `kubectl port-forward` does): protocol v4.channel.k8s.io, channels 2i (data)
 * and 2i+1 (errors) for the i-th port of `?ports=`, each opened by the port number (2 bytes,
 * little endian); one WebSocket is one TCP connection to the pod. The pod must exist and run;
 * the connection goes to its pod IP (the emulator kubelet's runPods gives reachable ones), and a
 * refused connection is reported on the error channel, as the kubelet does.
 */
const PROTOCOL = 'v4.channel.k8s.io';
const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/;

export function servePortForward(server: Server, store: Store): { close(): void } {
  const pods = store.registry.lookup('', 'v1', 'pods')!;
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has(PROTOCOL) ? PROTOCOL : false) });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://emulator');
    const m = PATH.exec(url.pathname);
    if (!m) return refuse(socket, new ApiError(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, name] = m as unknown as [string, string, string];
    const pod = store.tryGet(pods, namespace, name);
    if (!pod) return refuse(socket, notFound(pods, name));
    const raw = url.searchParams.getAll('ports').flatMap((p) => p.split(','));
    if (raw.length === 0) return refuse(socket, new ApiError(400, 'BadRequest', 'query parameter "ports" is required'));
    const ports: number[] = [];
    for (const p of raw) {
      const n = Number(p);
      if (!/^\d{1,5}$/.test(p) || n < 1 || n > 65535) return refuse(socket, new ApiError(400, 'BadRequest', `unable to parse "${p}" as a port: must be 1-65535`));
      ports.push(n);
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!offered.includes(PROTOCOL)) return refuse(socket, new ApiError(400, 'BadRequest', `unable to upgrade connection: none of the offered protocols (${offered.join(', ') || 'none'}) is supported; use ${PROTOCOL}`));
    const ip = pod.status?.podIP;
    if (pod.status?.phase !== 'Running' || !ip || pod.metadata.deletionTimestamp) {
      return refuse(socket, new ApiError(400, 'BadRequest', `unable to upgrade connection: pod ${name} is not running (phase ${pod.status?.phase ?? 'Pending'})`));
    }
    wss.handleUpgrade(req, socket, head, (ws) => relay(ws, ip, ports));
  });
  return { close: () => wss.clients.forEach((ws) => ws.terminate()) };
}

function refuse(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.toStatus());
  socket.end(`HTTP/1.1 ${err.code} ${err.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

const frame = (channel: number, data: Buffer) => Buffer.concat([Buffer.from([channel]), data]);

function relay(ws: WebSocket, ip: string, ports: number[]): void {
  const conns = ports.map((port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    ws.send(frame(2 * i, portBytes));
    ws.send(frame(2 * i + 1, portBytes));
    const tcp = connect({ host: ip, port });
    tcp.on('data', (d: Buffer) => ws.send(frame(2 * i, d)));
    tcp.on('error', (e) => {
      ws.send(frame(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod at ${ip}: ${e.message}`)));
      ws.close();
    });
    tcp.on('end', () => ws.close());
    return tcp;
  });
  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    if (!isBinary || msg.length < 1) return;
    const channel = msg[0]!;
    // Clients write only to data channels; anything else is ignored, as the kubelet does.
    if (channel % 2 === 0) conns[channel / 2]?.write(msg.subarray(1));
  });
  ws.on('close', () => conns.forEach((c) => c.destroy()));
  ws.on('error', () => conns.forEach((c) => c.destroy()));
}
