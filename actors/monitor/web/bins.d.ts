// Types of the page's binning module (bins.js is plain JavaScript: the browser loads it as is).
export declare function binCounts(
  minutes: Array<[number, number, number]>,
  binMinutes: number,
  spanMinutes: number,
  nowMs: number,
): { starts: number[]; errors: number[]; warns: number[] };
