import { CustomerStatus } from "../../gen/chinook/v1/customer_pb";

/** How many customers the real Chinook database ships. */
export const CHINOOK_CUSTOMERS = 59;

/** Customer 1 of the real Chinook database, as a Customer: every column set, accents included. */
export const CHINOOK_CUSTOMER_1 = {
  customerId: 1n,
  firstName: "Luís",
  lastName: "Gonçalves",
  company: "Embraer - Empresa Brasileira de Aeronáutica S.A.",
  address: "Av. Brigadeiro Faria Lima, 2170",
  city: "São José dos Campos",
  state: "SP",
  country: "Brazil",
  postalCode: "12227-000",
  phone: "+55 (12) 3923-5555",
  fax: "+55 (12) 3923-5566",
  email: "luisg@embraer.com.br",
  supportRepId: 3n,
  status: CustomerStatus.ACTIVE,
} as const;
