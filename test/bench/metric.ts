// One benchmark figure, as printed and as written to test/bench/out/latest.json.
export interface Metric {
  metric: string;
  value: number;
  unit: string;
  /** The metric this one is compared with, measured in the same run. */
  baseline?: string;
  ratio?: number;
  target?: string;
}
