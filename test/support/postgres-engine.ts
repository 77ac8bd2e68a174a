// The jest project "postgres": startTestServer serves from a fresh PostgreSQL database.
process.env.TEST_ENGINE = "postgres";
