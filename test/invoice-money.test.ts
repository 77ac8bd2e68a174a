import { centsFromColumn, centsFromDecimal, centsFromReal, centsToReal, formatCents } from "../src/invoices/money";

describe("money", () => {
  it("reads Chinook's REAL prices as exact cents", () => {
    expect(centsFromReal(0.99)).toBe(99n);
    expect(centsFromReal(1.99)).toBe(199n);
    expect(centsFromReal(990)).toBe(99000n);
    expect(centsFromReal(-1.5)).toBe(-150n);
  });

  it("multiplies 0.99 by 1000 to exactly 990.00", () => {
    expect(formatCents(centsFromReal(0.99) * 1000n)).toBe("990.00");
  });

  it("sums 1000 mixed 0.99 and 1.99 prices exactly where floats drift", () => {
    const prices = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? 0.99 : 1.99));
    const cents = prices.reduce((sum, price) => sum + centsFromReal(price), 0n);
    expect(formatCents(cents)).toBe("1490.00");
    expect(prices.reduce((sum, price) => sum + price, 0)).not.toBe(1490);
  });

  it("rounds half away from zero at the cent, on the decimal the REAL means", () => {
    expect(centsFromReal(1.005)).toBe(101n);
    expect(centsFromReal(-1.005)).toBe(-101n);
    expect(centsFromReal(0.125)).toBe(13n);
    expect(centsFromReal(0.124999)).toBe(12n);
    expect(centsFromReal(1e-7)).toBe(0n);
    expect(centsFromReal(-0)).toBe(0n);
    expect(centsFromReal(1.5e21)).toBe(150_000_000_000_000_000_000_000n);
  });

  it("refuses non-finite amounts", () => {
    expect(() => centsFromReal(Number.NaN)).toThrow(RangeError);
    expect(() => centsFromReal(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(() => centsFromReal(Number.NEGATIVE_INFINITY)).toThrow(RangeError);
  });

  it("formats cents with two decimals and a leading minus", () => {
    expect(formatCents(1386n)).toBe("13.86");
    expect(formatCents(99000n)).toBe("990.00");
    expect(formatCents(5n)).toBe("0.05");
    expect(formatCents(0n)).toBe("0.00");
    expect(formatCents(-150n)).toBe("-1.50");
    expect(formatCents(-5n)).toBe("-0.05");
    expect(formatCents(123_456_789_012_345_678_901n)).toBe("1234567890123456789.01");
  });

  it("writes REALs that read back as the same cents", () => {
    expect(centsToReal(99n)).toBe(0.99);
    expect(centsToReal(99000n)).toBe(990);
    expect(centsToReal(-150n)).toBe(-1.5);
    const misread: bigint[] = [];
    for (let cents = -100_000n; cents <= 100_000n; cents += 1n) {
      if (centsFromReal(centsToReal(cents)) !== cents) misread.push(cents);
    }
    expect(misread).toEqual([]);
    expect(() => centsToReal(2n ** 53n)).toThrow(RangeError);
  });
});

describe("money as PostgreSQL's numeric text", () => {
  it("reads decimal text as exact cents", () => {
    expect(centsFromDecimal("0.99")).toBe(99n);
    expect(centsFromDecimal("1.99")).toBe(199n);
    expect(centsFromDecimal("990.00")).toBe(99000n);
    expect(centsFromDecimal("13")).toBe(1300n);
    expect(centsFromDecimal("0.05")).toBe(5n);
    expect(centsFromDecimal("0.00")).toBe(0n);
    expect(centsFromDecimal("-0.00")).toBe(0n);
    expect(centsFromDecimal("-1.50")).toBe(-150n);
    expect(centsFromDecimal("-0.05")).toBe(-5n);
  });

  it("never goes through a float: digits a double would lose are kept", () => {
    expect(centsFromDecimal("12345678901234567.89")).toBe(1234567890123456789n);
    expect(BigInt(Number("12345678901234567.89") * 100)).not.toBe(1234567890123456789n);
    expect(centsFromDecimal("99999999.99")).toBe(9999999999n);
  });

  it("rounds half away from zero at the cent when given more decimals", () => {
    expect(centsFromDecimal("1.005")).toBe(101n);
    expect(centsFromDecimal("-1.005")).toBe(-101n);
    expect(centsFromDecimal("0.124999")).toBe(12n);
    expect(centsFromDecimal("0.125")).toBe(13n);
  });

  it.each(["", "-", "NaN", "Infinity", "-Infinity", "1,00", " 1.00", "1.00 ", "1.", ".5", "--1", "+1.00", "0x10", "1.2.3"])(
    "refuses %j",
    (text) => {
      expect(() => centsFromDecimal(text)).toThrow(RangeError);
    },
  );

  it("reads back as the same cents what formatCents writes", () => {
    const misread: bigint[] = [];
    for (let cents = -100_000n; cents <= 100_000n; cents += 1n) {
      if (centsFromDecimal(formatCents(cents)) !== cents) misread.push(cents);
    }
    expect(misread).toEqual([]);
    expect(centsFromDecimal(formatCents(123_456_789_012_345_678_901n))).toBe(123_456_789_012_345_678_901n);
  });

  it("reads a money column of either engine: text from PostgreSQL, REAL or INTEGER from SQLite", () => {
    expect(centsFromColumn("0.99")).toBe(99n);
    expect(centsFromColumn(0.99)).toBe(99n);
    expect(centsFromColumn(99n)).toBe(9900n);
    expect(centsFromColumn("99.00")).toBe(9900n);
  });
});
