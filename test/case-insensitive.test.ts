import { caseVariants, comparesAsNoCase } from "../src/customers/case-insensitive";

describe("caseVariants", () => {
  it.each([
    ["é", ["É", "é"]],
    ["ς", ["Σ", "ς", "σ"]],
    ["Σ", ["Σ", "ς", "σ"]],
    ["ß", ["ß", "ẞ"]],
    ["ǅ", ["Ǆ", "ǅ", "ǆ"]],
    ["ϑ", ["Θ", "θ", "ϑ", "ϴ"]],
  ])("finds every case variant of %s, however it is linked", (character, variants) => {
    expect(caseVariants(character)).toEqual(variants);
  });

  it.each([
    ["ı", "its upper case is the ASCII I, and Unicode case folding keeps it apart from i"],
    ["€", "it has no case"],
    ["😀", "it has no case, beyond the Basic Multilingual Plane"],
  ])("leaves %s alone: %s", (character) => {
    expect(caseVariants(character)).toEqual([character]);
  });

  it("includes a letter beyond the Basic Multilingual Plane with its other case (Deseret)", () => {
    expect(caseVariants("𐐀")).toEqual(["𐐀", "𐐨"]);
  });
});

describe("comparesAsNoCase", () => {
  it("is true for ASCII text only, which SQLite's NOCASE folds completely", () => {
    expect(comparesAsNoCase("Luisg@Embraer.com.br")).toBe(true);
    expect(comparesAsNoCase("stanisław.wójcik@wp.pl")).toBe(false);
  });
});
