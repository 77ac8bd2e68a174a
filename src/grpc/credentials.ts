import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { ServerCredentials } from "@grpc/grpc-js";
import { ConfigError, type TlsConfig } from "../config";

export type TransportSecurity = "plaintext" | "tls" | "mtls";

export interface ServerTransport {
  readonly credentials: ServerCredentials;
  readonly security: TransportSecurity;
  /** The PEM files read and checked, for the HTTP door's TLS; undefined in plaintext. */
  readonly pems: TlsPems | undefined;
}

export interface TlsPems {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Clients must present a certificate this CA issued (mTLS) when set. */
  readonly clientCa: Buffer | undefined;
}

/**
 * Plaintext without TLS configuration; TLS with a certificate and key; mTLS
 * (client certificates required, issued by the given CA) when a client CA is
 * configured too. Unreadable or mismatched PEM files fail here, at start-up,
 * with a message naming the file rather than an opaque bind error.
 */
export function serverTransport(tls: TlsConfig | undefined): ServerTransport {
  if (tls === undefined) return { credentials: ServerCredentials.createInsecure(), security: "plaintext", pems: undefined };
  const cert = readPem(tls.certPath, "TLS certificate");
  const key = readPem(tls.keyPath, "TLS private key");
  requireUsable({ cert, key }, `the TLS certificate ${tls.certPath} and private key ${tls.keyPath} do not go together`);
  const clientCa = tls.clientCaPath === undefined ? null : readPem(tls.clientCaPath, "TLS client CA");
  if (clientCa !== null) {
    requireCertificate(clientCa, tls.clientCaPath);
    requireUsable({ ca: clientCa }, `the TLS client CA ${tls.clientCaPath} is not usable`);
  }
  const mutual = clientCa !== null;
  return {
    credentials: ServerCredentials.createSsl(clientCa, [{ cert_chain: cert, private_key: key }], mutual),
    security: mutual ? "mtls" : "tls",
    pems: { cert, key, clientCa: clientCa ?? undefined },
  };
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`cannot read the ${what} ${path}: ${reason(error)}`);
  }
}

/**
 * Node takes a CA file without a certificate (empty, or a key given by
 * mistake), and the server would then refuse every client, however signed.
 */
function requireCertificate(pem: Buffer, path: string | undefined): void {
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(`the TLS client CA ${path} holds no usable certificate: ${reason(error)}`);
  }
}

/** Node's TLS checks the PEM syntax and that the key belongs to the certificate; `problem` names only the files checked. */
function requireUsable(pems: { cert?: Buffer; key?: Buffer; ca?: Buffer }, problem: string): void {
  try {
    createSecureContext(pems);
  } catch (error) {
    throw new ConfigError(`${problem}: ${reason(error)}`);
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
