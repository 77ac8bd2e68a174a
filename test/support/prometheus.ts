import type { Registry } from "prom-client";

/** One sample of a Prometheus text exposition: `name{label="value",…} 42`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Enough of the text format for our own exporter: no timestamps, no exemplars. */
export function parseSamples(text: string): Sample[] {
  return text
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map(parseSample);
}

function parseSample(line: string): Sample {
  const match = SAMPLE_LINE.exec(line);
  if (match === null) throw new Error(`not a sample line: ${line}`);
  const [, name = "", labelText = "", value = ""] = match;
  const labels = Object.fromEntries([...labelText.matchAll(LABEL)].map(([, key = "", text = ""]) => [key, text]));
  return { name, labels, value: Number(value) };
}

/** The sample with this name whose labels include `labels`; 0 when there is none (a series not yet created). */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

/** Every label value in the scrape. */
export function labelValues(samples: readonly Sample[]): string[] {
  return samples.flatMap((sample) => Object.values(sample.labels));
}

/**
 * A registered metric's value, for the first series whose labels include
 * `labels`; 0 before such a series exists. Throws for a metric not registered.
 */
export async function registryValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find((value) => Object.entries(labels).every(([key, label]) => value.labels[key] === label));
  return match?.value ?? 0;
}
