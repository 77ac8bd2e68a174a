/**
 * A short client of chinook-grpc that changes nothing: reads a customer, lists
 * a page by country, streams an export, and shows what a rejected request carries.
 *
 *   npm run build && node dist/examples/customers.js [host:port]
 */
import { Code, ConnectError, createChinookClient, errorDetails } from "chinook-grpc/client";

const address = process.argv[2] ?? "localhost:50051";
const client = createChinookClient({ address, timeoutMs: 5_000 });

async function main(): Promise<void> {
  const customer = await client.customers.getCustomer({ customerId: 1n });
  console.log(`customer 1: ${customer.firstName} ${customer.lastName} (${customer.country ?? "no country"})`);

  const page = await client.customers.listCustomers({ country: "Brazil", orderBy: "last_name", pageSize: 3 });
  const names = page.customers.map(({ firstName, lastName }) => `${firstName} ${lastName}`);
  console.log(`Brazil by last name: ${names.join(", ")} (${page.totalSize} in all)`);

  const cities = new Set<string>();
  for await (const { city } of client.customers.exportCustomers({ country: "Canada" })) cities.add(city ?? "?");
  console.log(`customers in Canada live in ${cities.size} cities: ${[...cities].sort().join(", ")}`);

  try {
    await client.customers.createCustomer({ customer: { firstName: "Ada", lastName: "Lovelace", email: "not an address" } });
  } catch (error) {
    const { code, rawMessage } = ConnectError.from(error);
    const reason = errorDetails(error).errorInfo?.reason;
    console.log(`rejected: ${Code[code]} ${reason ?? "(no ErrorInfo)"}: ${rawMessage}`);
  }
}

main()
  .catch((error: unknown) => {
    console.error(String(error));
    process.exitCode = 1;
  })
  .finally(() => client.close());
