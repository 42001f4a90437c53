/**
 * The metric names a PromQL expression reads, parsed with Prometheus's own
 * grammar (@prometheus-io/lezer-promql), for the infra tests that check alert
 * rules and Grafana panels against what the services export; and the
 * anchors of a markdown file's headings, for runbook links.
 */
import { parser } from '@prometheus-io/lezer-promql';

/** Grafana's interval variables, replaced by a duration so the query parses as PromQL. */
const GRAFANA_INTERVALS = /\$__(rate_interval|interval|range)\b/g;

/**
 * The metric names in `expr`: every vector selector's name, and
 * `{__name__="…"}` matchers. Throws, naming the query and the position, when
 * it does not parse.
 */
export function metricNames(expr: string): string[] {
  const query = expr.replace(GRAFANA_INTERVALS, '5m');
  const names = new Set<string>();
  parser.parse(query).iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`PromQL does not parse at ${node.from}: ${expr}`);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.add(query.slice(id.from, id.to));
      }
      if (node.name === 'UnquotedLabelMatcher') {
        const m = /^__name__\s*=\s*"([^"]+)"$/.exec(query.slice(node.from, node.to));
        if (m) names.add(m[1] as string);
      }
    },
  });
  return [...names];
}

/** GitHub's anchors of a markdown file's headings (outside code fences), `-1`, `-2` for repeats. */
export function markdownAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.+)$/.exec(line);
    if (!m) continue;
    const base = (m[1] as string)
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}
