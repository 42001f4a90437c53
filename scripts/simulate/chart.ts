/**
 * A scenario's timeline as an SVG chart, rendered offline in Node by Vega
 * (no browser, no CDN): one panel per series stacked over a shared time
 * axis, each with its own y scale, and the scenario's marks (injection,
 * recovery) as vertical rules across every panel.
 */
import { parse, type Spec, View } from 'vega';
import type { Mark, Sample } from './record.js';

const WIDTH = 760;
const PANEL_HEIGHT = 90;
const GAP = 34;

/** The Vega spec of a timeline: a group per series, a shared x scale in seconds. */
export function timelineSpec(samples: readonly Sample[], marks: readonly Mark[]): Spec {
  const series = [...new Set(samples.map((s) => s.series))];
  const maxT = Math.max(1, ...samples.map((s) => s.t), ...marks.map((m) => m.t)) / 1000;
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: WIDTH,
    height: Math.max(1, series.length) * (PANEL_HEIGHT + GAP),
    padding: 10,
    background: 'white',
    data: [
      { name: 'samples', values: samples.map((s) => ({ ...s, seconds: s.t / 1000 })) },
      { name: 'marks', values: marks.map((m) => ({ ...m, seconds: m.t / 1000 })) },
    ],
    scales: [{ name: 'x', type: 'linear', domain: [0, maxT], range: 'width' }],
    marks: series.map((name, i) => ({
      type: 'group',
      encode: {
        enter: { y: { value: i * (PANEL_HEIGHT + GAP) }, width: { signal: 'width' }, height: { value: PANEL_HEIGHT } },
      },
      data: [
        {
          name: `s${i}`,
          source: 'samples',
          transform: [{ type: 'filter', expr: `datum.series === ${JSON.stringify(name)}` }],
        },
      ],
      scales: [
        {
          name: 'y',
          type: 'linear',
          domain: { data: `s${i}`, field: 'value' },
          range: [PANEL_HEIGHT, 0],
          zero: false,
          nice: true,
        },
      ],
      axes: [
        { orient: 'left', scale: 'y', tickCount: 4, grid: true },
        { orient: 'bottom', scale: 'x', title: i === series.length - 1 ? 'seconds since start' : undefined },
      ],
      title: { text: name, anchor: 'start', fontSize: 12 },
      marks: [
        {
          type: 'line',
          from: { data: `s${i}` },
          encode: {
            enter: {
              x: { scale: 'x', field: 'seconds' },
              y: { scale: 'y', field: 'value' },
              stroke: { value: '#1f6feb' },
              strokeWidth: { value: 1.5 },
              interpolate: { value: name.startsWith('ESS') ? 'step-after' : 'linear' },
            },
          },
        },
        {
          type: 'rule',
          from: { data: 'marks' },
          encode: {
            enter: {
              x: { scale: 'x', field: 'seconds' },
              y: { value: 0 },
              y2: { value: PANEL_HEIGHT },
              stroke: { value: '#d1242f' },
              strokeDash: { value: [4, 3] },
            },
          },
        },
        {
          type: 'text',
          from: { data: 'marks' },
          encode: {
            enter: {
              x: { scale: 'x', field: 'seconds', offset: 3 },
              y: { value: 10 },
              text: { field: 'label' },
              fontSize: { value: 10 },
              fill: { value: '#d1242f' },
            },
          },
        },
      ],
    })),
  } as Spec;
}

/** Renders a timeline to an SVG string. */
export async function timelineSvg(samples: readonly Sample[], marks: readonly Mark[]): Promise<string> {
  const view = new View(parse(timelineSpec(samples, marks)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
