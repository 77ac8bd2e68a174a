import { createServer } from "node:net";

/**
 * A port free on loopback right now. Another process could take it before
 * the server binds, but on a development machine that race is theoretical.
 */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === "string") reject(new Error("no TCP port bound"));
        else resolve(address.port);
      });
    });
  });
}
