/** A command line the command cannot run: said in one line, with the usage, not as a crash. */
export class UsageError extends Error {}

/** Command-line flags: `--name value` or `--name=value`; a bare `--name` is "true". */
export class Flags {
  private readonly values = new Map<string, string>();

  constructor(argv: readonly string[], known: readonly string[]) {
    for (let index = 0; index < argv.length; index++) {
      const argument = argv[index] ?? "";
      if (!argument.startsWith("--")) throw new UsageError(`unexpected argument "${argument}"`);
      const [name = "", inlineValue] = argument.slice(2).split(/=(.*)/s, 2);
      if (!known.includes(name)) {
        throw new UsageError(`unknown flag --${name}; known: ${known.map((flag) => `--${flag}`).join(" ")}`);
      }
      const next = argv[index + 1];
      if (inlineValue !== undefined) this.values.set(name, inlineValue);
      else if (next !== undefined && !next.startsWith("--")) {
        this.values.set(name, next);
        index++;
      } else this.values.set(name, "true");
    }
  }

  string(name: string, fallback: string): string {
    return this.values.get(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.values.get(name);
  }

  boolean(name: string): boolean {
    return this.values.get(name) === "true";
  }

  /** A finite number ≥ min. */
  number(name: string, fallback: number, min = 0): number {
    const raw = this.values.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new UsageError(`--${name} must be a number ≥ ${min}, got "${raw}"`);
    return value;
  }

  integer(name: string, fallback: number, min = 0): number {
    const value = this.number(name, fallback, min);
    if (!Number.isSafeInteger(value)) throw new UsageError(`--${name} must be a whole number, got ${value}`);
    return value;
  }

  list(name: string, fallback: readonly string[]): string[] {
    const raw = this.values.get(name);
    if (raw === undefined) return [...fallback];
    return raw
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }
}
