/**
 * The span sink of a bench run: an OTLP/HTTP receiver that reads every export and answers it with
 * an empty success, in a process of its own so that the services pay their full export cost and
 * the load client pays nothing for it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announce } from './child.js';

const server = createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf' });
    res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => announce(server, (server.address() as AddressInfo).port));
