/**
 * Realistic, deterministic customers: countries weighted as in Chinook's own
 * 59, their cities, plausible names, contact details, tiers, tags, genres and
 * attributes, and creation times spread over a decade; and db:synth's loading
 * of them into any engine's store.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ContactChannel,
  CustomerSchema,
  CustomerStatus,
  LoyaltyTier,
  type Customer,
  type CustomerProfileSchema,
} from "../gen/chinook/v1/customer_pb";
import { Customers } from "../src/customers/customers";
import type { CustomerStore } from "../src/customers/store";
import { Random } from "./random";

export type CustomerInit = MessageInitShape<typeof CustomerSchema>;
type ProfileInit = MessageInitShape<typeof CustomerProfileSchema>;

export interface SyntheticCustomer {
  customer: CustomerInit;
  /** When the customer was created: db:synth has the repository stamp it (as updated_at too). */
  createdAt: Date;
}

interface Place {
  city: string;
  state?: string;
  /** `#` becomes a random digit. */
  postalPattern?: string;
  phonePattern: string;
}

interface Country {
  name: string;
  /** Customers Chinook has there. */
  weight: number;
  domains: readonly string[];
  places: readonly Place[];
}

/** Chinook's countries with one or two customers: [name, customers, city, dialling code]. */
const SINGLE_CITY_COUNTRIES: ReadonlyArray<readonly [name: string, weight: number, city: string, dialCode: string]> = [
  ["Portugal", 2, "Lisbon", "351"],
  ["India", 2, "Bangalore", "91"],
  ["Czech Republic", 2, "Prague", "420"],
  ["Sweden", 1, "Stockholm", "46"],
  ["Spain", 1, "Madrid", "34"],
  ["Poland", 1, "Warsaw", "48"],
  ["Norway", 1, "Oslo", "47"],
  ["Netherlands", 1, "Amsterdam", "31"],
  ["Italy", 1, "Rome", "39"],
  ["Ireland", 1, "Dublin", "353"],
  ["Hungary", 1, "Budapest", "36"],
  ["Finland", 1, "Helsinki", "358"],
  ["Denmark", 1, "Copenhagen", "45"],
  ["Chile", 1, "Santiago", "56"],
  ["Belgium", 1, "Brussels", "32"],
  ["Austria", 1, "Vienna", "43"],
  ["Australia", 1, "Sydney", "61"],
  ["Argentina", 1, "Buenos Aires", "54"],
];

function singleCityCountry([name, weight, city, dialCode]: (typeof SINGLE_CITY_COUNTRIES)[number]): Country {
  return {
    name,
    weight,
    domains: ["gmail.com", "yahoo.com", "hotmail.com"],
    places: [{ city, postalPattern: "####", phonePattern: `+${dialCode} ## ### ####` }],
  };
}

const COUNTRIES: readonly Country[] = [
  {
    name: "USA",
    weight: 13,
    domains: ["gmail.com", "yahoo.com", "apple.com", "microsoft.com"],
    places: [
      { city: "Mountain View", state: "CA", postalPattern: "940##", phonePattern: "+1 (650) ###-####" },
      { city: "Redmond", state: "WA", postalPattern: "980##", phonePattern: "+1 (425) ###-####" },
      { city: "New York", state: "NY", postalPattern: "100##", phonePattern: "+1 (212) ###-####" },
      { city: "Chicago", state: "IL", postalPattern: "606##", phonePattern: "+1 (312) ###-####" },
      { city: "Boston", state: "MA", postalPattern: "021##", phonePattern: "+1 (617) ###-####" },
      { city: "Orlando", state: "FL", postalPattern: "328##", phonePattern: "+1 (407) ###-####" },
      { city: "Salt Lake City", state: "UT", postalPattern: "841##", phonePattern: "+1 (801) ###-####" },
      { city: "Tucson", state: "AZ", postalPattern: "857##", phonePattern: "+1 (520) ###-####" },
    ],
  },
  {
    name: "Canada",
    weight: 8,
    domains: ["shaw.ca", "telus.net", "gmail.com", "yahoo.ca"],
    places: [
      { city: "Montréal", state: "QC", postalPattern: "H2G #A#", phonePattern: "+1 (514) ###-####" },
      { city: "Edmonton", state: "AB", postalPattern: "T6G #C#", phonePattern: "+1 (780) ###-####" },
      { city: "Vancouver", state: "BC", postalPattern: "V6C #G#", phonePattern: "+1 (604) ###-####" },
      { city: "Toronto", state: "ON", postalPattern: "M6J #V#", phonePattern: "+1 (416) ###-####" },
      { city: "Halifax", state: "NS", postalPattern: "B3S #C#", phonePattern: "+1 (902) ###-####" },
    ],
  },
  {
    name: "Brazil",
    weight: 5,
    domains: ["gmail.com", "yahoo.com.br", "uol.com.br"],
    places: [
      { city: "São Paulo", state: "SP", postalPattern: "01###-###", phonePattern: "+55 (11) ####-####" },
      { city: "Rio de Janeiro", state: "RJ", postalPattern: "20###-###", phonePattern: "+55 (21) ####-####" },
      { city: "Brasília", state: "DF", postalPattern: "71###-###", phonePattern: "+55 (61) ####-####" },
    ],
  },
  {
    name: "France",
    weight: 5,
    domains: ["gmail.com", "orange.fr", "free.fr", "wanadoo.fr"],
    places: [
      { city: "Paris", postalPattern: "750##", phonePattern: "+33 01 ## ## ## ##" },
      { city: "Lyon", postalPattern: "6900#", phonePattern: "+33 04 ## ## ## ##" },
      { city: "Bordeaux", postalPattern: "330##", phonePattern: "+33 05 ## ## ## ##" },
    ],
  },
  {
    name: "Germany",
    weight: 4,
    domains: ["gmail.com", "web.de", "gmx.de"],
    places: [
      { city: "Berlin", postalPattern: "107##", phonePattern: "+49 030 #######" },
      { city: "Stuttgart", postalPattern: "701##", phonePattern: "+49 0711 #######" },
      { city: "Frankfurt", postalPattern: "603##", phonePattern: "+49 069 #######" },
    ],
  },
  {
    name: "United Kingdom",
    weight: 3,
    domains: ["gmail.com", "yahoo.co.uk", "btinternet.com"],
    places: [
      { city: "London", postalPattern: "N1 #LH", phonePattern: "+44 020 #### ####" },
      { city: "Edinburgh", postalPattern: "EH4 #HH", phonePattern: "+44 0131 ### ####" },
    ],
  },
  ...SINGLE_CITY_COUNTRIES.map(singleCityCountry),
];

const COUNTRY_WEIGHTS = COUNTRIES.map((country) => [country, country.weight] as const);

const FIRST_NAMES = [
  "Luís", "Leonie", "François", "Bjørn", "František", "Helena", "Astrid", "Daan", "Kara", "Eduardo",
  "Alexandre", "Roberto", "Fernanda", "Mark", "Jennifer", "Frank", "Jack", "Michelle", "Tim", "Dan",
  "Kathy", "Heather", "John", "Robert", "Victor", "Richard", "Patrick", "Julia", "Martha", "Ellie",
  "João", "Madalena", "Hannah", "Fynn", "Niklas", "Camille", "Dominique", "Marc", "Wyatt", "Isabelle",
  "Ladislav", "Hugh", "Lucas", "Johannes", "Stanisław", "Enrique", "Joakim", "Emma", "Phil", "Steve",
  "Carlos", "Diego", "Luis", "Manoj", "Puja", "Aisha", "Mateo", "Sofia", "Noah", "Olivia",
];

const LAST_NAMES = [
  "Gonçalves", "Köhler", "Tremblay", "Hansen", "Wichterlová", "Holý", "Mitchell", "Peeters", "Nielsen", "Martins",
  "Rocha", "Almeida", "Ramos", "Philips", "Peterson", "Harris", "Smith", "Brooks", "Goyer", "Miller",
  "Chase", "Gordon", "Murray", "Ralston", "Stevens", "Cunningham", "Walker", "Barnett", "Silk", "Brown",
  "Fernandes", "Sampaio", "Schneider", "Schröder", "Zimmermann", "Dubois", "Lefebvre", "Laurent", "Mercier", "Girard",
  "Kovács", "O'Reilly", "Mancini", "Van der Berg", "Kowalski", "Muñoz", "Johansson", "Jones", "Hughes", "Evans",
  "Taylor", "Gutiérrez", "Rojas", "Pareek", "Srivastava", "Khan", "García", "Rossi", "Müller", "Novak",
];

const STREETS = [
  "Rua Dr. Falcão Filho", "Theodor-Heuss-Straße", "Rue Grande", "Ullevålsveien", "Klanova", "Rilská",
  "Rotenturmstraße", "Grétrystraat", "Sønder Boulevard", "Av. Paulista", "Praça Pio X", "Main Street",
  "Broadway", "Elm Street", "Queen Street West", "Rue de Rivoli", "Calle Lira", "Via Degli Scipioni",
];

const COMPANIES = [
  "Embraer - Empresa Brasileira de Aeronáutica S.A.", "JetBrains s.r.o.", "Woodstock Discos", "Banco do Brasil S.A.",
  "Riotur", "Telus", "Rogers Canada", "Google Inc.", "Microsoft Corporation", "Apple Inc.", "Chinook Records Ltd.",
];

const TAGS = [
  "vinyl-collector", "early-adopter", "newsletter", "jazz-fan", "rock-fan", "classical", "audiophile", "gift-buyer",
  "bulk-buyer", "student", "b2b", "festival-goer", "playlist-curator", "returning", "reseller", "vip",
];

const ATTRIBUTE_CHOICES: Readonly<Record<string, readonly string[]>> = {
  source: ["web", "store", "referral", "partner", "import"],
  segment: ["casual", "enthusiast", "professional"],
  newsletter: ["weekly", "monthly", "never"],
  device: ["ios", "android", "desktop"],
};

const NOTES = [
  "Prefers lossless formats.",
  "Asked about box sets for the holidays.",
  "Called support twice about a billing address change.\nResolved.",
  "Interested in live recordings.",
];

const TIERS = [
  [LoyaltyTier.BRONZE, 40],
  [LoyaltyTier.SILVER, 30],
  [LoyaltyTier.GOLD, 18],
  [LoyaltyTier.PLATINUM, 6],
  [LoyaltyTier.UNSPECIFIED, 6],
] as const;

const STATUSES = [
  [CustomerStatus.ACTIVE, 92],
  [CustomerStatus.INACTIVE, 6],
  [CustomerStatus.SUSPENDED, 2],
] as const;

const CONTACT_CHANNELS = [
  ContactChannel.UNSPECIFIED,
  ContactChannel.EMAIL,
  ContactChannel.PHONE,
  ContactChannel.MAIL,
] as const;

const GENRE_IDS = Array.from({ length: 25 }, (_, index) => BigInt(index + 1));
const SUPPORT_REP_IDS = [3n, 4n, 5n] as const;

// Fixed, not "now", so that a seed always yields the same database.
export const FIRST_CREATED = Date.parse("2014-01-01T00:00:00.000Z");
export const LAST_UPDATED = Date.parse("2025-06-30T00:00:00.000Z");

/**
 * One customer; `serial` makes its email unique. `createdAt` defaults to a
 * random time; a history of customers passes times that grow with the serial,
 * as ids and creation times do in a real database.
 */
export function syntheticCustomer(random: Random, serial: number, createdAt?: Date): SyntheticCustomer {
  const country = random.weighted(COUNTRY_WEIGHTS);
  const place = random.pick(country.places);
  const firstName = random.pick(FIRST_NAMES);
  const lastName = random.pick(LAST_NAMES);
  const created = createdAt ?? new Date(random.integer(FIRST_CREATED, LAST_UPDATED - 1));
  const customer: CustomerInit = {
    firstName,
    lastName,
    company: random.chance(0.15) ? random.pick(COMPANIES) : undefined,
    address: `${random.integer(1, 9999)} ${random.pick(STREETS)}`,
    city: place.city,
    state: place.state,
    country: country.name,
    postalCode: place.postalPattern === undefined ? undefined : fillDigits(random, place.postalPattern),
    phone: fillDigits(random, place.phonePattern),
    fax: random.chance(0.1) ? fillDigits(random, place.phonePattern) : undefined,
    email: `${emailPart(firstName)}.${emailPart(lastName)}.${serial}@${random.pick(country.domains)}`,
    supportRepId: random.pick(SUPPORT_REP_IDS),
    status: random.weighted(STATUSES),
    profile: syntheticProfile(random, created),
  };
  return { customer, createdAt: created };
}

function syntheticProfile(random: Random, createdAt: Date): ProfileInit {
  return {
    loyaltyTier: random.weighted(TIERS),
    tags: random.sample(TAGS, random.weighted([[0, 20], [1, 35], [2, 25], [3, 15], [4, 5]])),
    favoriteGenreIds: random.sample(GENRE_IDS, random.integer(0, 3)),
    marketingOptIn: random.chance(0.55),
    attributes: syntheticAttributes(random),
    preferredContact: random.pick(CONTACT_CHANNELS),
    notes: random.chance(0.1) ? random.pick(NOTES) : "",
    lastContactTime: random.chance(0.5)
      ? timestampFromDate(new Date(random.integer(createdAt.getTime(), LAST_UPDATED)))
      : undefined,
  };
}

function syntheticAttributes(random: Random): Record<string, string> {
  const keys = random.sample(Object.keys(ATTRIBUTE_CHOICES), random.integer(0, 3));
  return Object.fromEntries(keys.map((key) => [key, random.pick(ATTRIBUTE_CHOICES[key] ?? [""])]));
}

function fillDigits(random: Random, pattern: string): string {
  return pattern.replace(/#/g, () => String(random.integer(0, 9)));
}

/** ASCII, lower case, letters only: "Gonçalves" → "goncalves", "O'Reilly" → "oreilly". */
function emailPart(name: string): string {
  return name
    .normalize("NFD")
    .replace(/[^A-Za-z]/g, "")
    .toLowerCase();
}

/** Customers per batchCreate, each chunk one transaction. */
export const CHUNK_SIZE = 1000;

/** The steps of a load its caller times. */
export type LoadStep = "generate" | "batchCreate";

export interface SyntheticLoad {
  /** Where the customers go, through the domain's batch path: any engine's store. */
  store: CustomerStore;
  customers: number;
  seed: number;
  /** The first new customer's serial, which makes its email unique: the next customer id. */
  firstSerial: number;
  /** Runs one step of a chunk, timing it. */
  timed<T>(step: LoadStep, work: () => Promise<T> | T): Promise<T>;
  /** Told after each chunk how many customers are in. */
  afterChunk(done: number): Promise<void>;
}

/**
 * Adds `load.customers` synthetic customers through Customers.batchCreate, a
 * chunk per transaction, so that it costs what BatchCreateCustomers costs.
 * Creation times grow with the id over the synthetic decade, as ids and
 * creation times do in a real database.
 */
export async function loadSyntheticCustomers(load: SyntheticLoad): Promise<void> {
  const random = new Random(load.seed);
  const history = creationTimes(load.customers);
  for (let done = 0; done < load.customers; ) {
    const size = Math.min(CHUNK_SIZE, load.customers - done);
    const chunk = await load.timed("generate", () => syntheticChunk(random, load.firstSerial + done, history, done, size));
    // The domain stamps each customer with its creation time, as if created then.
    const customers = new Customers(load.store, { clock: clockOver(chunk.createdAt) });
    await load.timed("batchCreate", () => customers.batchCreate(chunk.requests));
    done += size;
    await load.afterChunk(done);
  }
}

interface Chunk {
  requests: Array<{ customer: Customer }>;
  createdAt: Date[];
}

/** Creation times spread evenly over the synthetic decade, growing with the customer id. */
function creationTimes(customers: number): (index: number) => Date {
  const step = (LAST_UPDATED - FIRST_CREATED) / customers;
  return (index) => new Date(FIRST_CREATED + Math.floor(index * step));
}

function syntheticChunk(
  random: Random,
  firstSerial: number,
  history: (index: number) => Date,
  done: number,
  size: number,
): Chunk {
  const synthetic = Array.from({ length: size }, (_, index) =>
    syntheticCustomer(random, firstSerial + index, history(done + index)),
  );
  return {
    requests: synthetic.map(({ customer }) => ({ customer: create(CustomerSchema, customer) })),
    createdAt: synthetic.map(({ createdAt }) => createdAt),
  };
}

/** A clock that tells each time of `times` once, in order: batchCreate reads it once per customer. */
function clockOver(times: readonly Date[]): () => Date {
  let next = 0;
  return () => {
    const time = times[next++];
    if (time === undefined) throw new Error("the domain read the clock more often than it created customers");
    return time;
  };
}
