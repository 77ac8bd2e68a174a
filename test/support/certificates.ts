// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const DAY_MS = 24 * 60 * 60 * 1000;

/** A certificate and its private key, PEM encoded. */
export interface Identity {
  readonly cert: string;
  readonly key: string;
}

interface Authority extends Identity {
  readonly certificate: x509.X509Certificate;
  readonly signingKey: webcrypto.CryptoKey;
}

/**
 * A throwaway PKI made in memory for the TLS tests: a CA issuing a server
 * certificate (localhost and 127.0.0.1) and a client certificate, and a second,
 * unrelated CA with a client certificate of its own.
 */
export interface TestPki {
  readonly ca: Identity;
  readonly server: Identity;
  readonly client: Identity;
  readonly otherCa: Identity;
  readonly otherClient: Identity;
}

export async function createTestPki(): Promise<TestPki> {
  const ca = await authority("CN=chinook-grpc test CA");
  const otherCa = await authority("CN=unrelated test CA");
  return {
    ca,
    otherCa,
    server: await issue(ca, "CN=localhost", "server"),
    client: await issue(ca, "CN=test client", "client"),
    otherClient: await issue(otherCa, "CN=stranger", "client"),
  };
}

/** Writes `identity` as `<name>.crt` and `<name>.key` into `dir`; returns both paths. */
export function writeIdentity(dir: string, name: string, identity: Identity): { cert: string; key: string } {
  const files = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  writeFileSync(files.cert, identity.cert);
  writeFileSync(files.key, identity.key);
  return files;
}

async function authority(name: string): Promise<Authority> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, signingKey: keys.privateKey, cert: certificate.toString("pem"), key: await keyPem(keys.privateKey) };
}

async function issue(issuer: Authority, subject: string, role: "server" | "client"): Promise<Identity> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.create({
    subject,
    issuer: issuer.certificate.subject,
    publicKey: keys.publicKey,
    signingKey: issuer.signingKey,
    ...validity(),
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ...(role === "server" ? serverExtensions() : [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])]),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate.publicKey),
    ],
  });
  return { cert: certificate.toString("pem"), key: await keyPem(keys.privateKey) };
}

function serverExtensions(): x509.Extension[] {
  return [
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension([
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
    ]),
  ];
}

/** Serial numbers are random by default. */
function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return { notBefore: new Date(now - DAY_MS), notAfter: new Date(now + DAY_MS) };
}

async function keyPem(privateKey: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", privateKey), "PRIVATE KEY");
}
