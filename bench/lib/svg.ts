// A horizontal bar chart as a standalone SVG: labels on the left, one bar per
// row with its value written at the end, an optional dashed marker line (a
// target). Plain SVG 1.1 with system fonts, so GitHub and any browser show it.

export interface Bar {
  label: string;
  value: number;
  /** Written after the bar; defaults to the value. */
  text?: string;
  color?: string;
}

export interface BarChart {
  title: string;
  subtitle?: string;
  bars: Bar[];
  /** The value of the full bar width; defaults to the largest value (or the marker). */
  max?: number;
  marker?: { value: number; label: string };
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const COLORS = {
  ours: '#2563eb',
  baseline: '#9ca3af',
  reference: '#6b7280',
  met: '#16a34a',
  missed: '#dc2626',
};

/** Renders one chart; `width` is the whole image, the bars get what the labels leave. */
export function barChart(chart: BarChart, width = 760): string {
  const labelWidth = 290;
  const valueWidth = 150;
  const rowHeight = 26;
  const top = chart.subtitle ? 56 : 40;
  const barArea = width - labelWidth - valueWidth - 20;
  const finite = chart.bars.map((b) => b.value).filter((v) => Number.isFinite(v));
  const max = chart.max ?? Math.max(1e-9, ...finite, chart.marker?.value ?? 0);
  const height = top + chart.bars.length * rowHeight + (chart.marker ? 28 : 12);
  const x = (value: number) => labelWidth + Math.max(0, Math.min(1, value / max)) * barArea;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="600" fill="#111827">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle)
    parts.push(`<text x="12" y="43" font-size="12" fill="#4b5563">${escapeXml(chart.subtitle)}</text>`);
  chart.bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const end = Number.isFinite(bar.value) ? x(bar.value) : labelWidth;
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end" fill="#111827">${escapeXml(bar.label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 4}" width="${(end - labelWidth).toFixed(1)}" height="${rowHeight - 8}" rx="2" fill="${bar.color ?? COLORS.ours}"/>`,
      `<text x="${(end + 6).toFixed(1)}" y="${y + 17}" fill="#111827">${escapeXml(bar.text ?? String(bar.value))}</text>`,
    );
  });
  if (chart.marker) {
    const mx = x(chart.marker.value).toFixed(1);
    const bottom = top + chart.bars.length * rowHeight;
    parts.push(
      `<line x1="${mx}" y1="${top - 2}" x2="${mx}" y2="${bottom + 4}" stroke="#111827" stroke-width="1.5" stroke-dasharray="4 3"/>`,
      `<text x="${mx}" y="${bottom + 20}" text-anchor="middle" font-size="12" fill="#111827">${escapeXml(chart.marker.label)}</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Stacks charts vertically into one image. */
export function stack(svgs: string[], width = 760, gap = 8): string {
  let y = 0;
  const inner: string[] = [];
  for (const svg of svgs) {
    const height = Number(/height="(\d+(?:\.\d+)?)"/.exec(svg)?.[1] ?? 0);
    // A nested <svg> keeps its own size and font; y places it.
    inner.push(svg.trim().replace(/^<svg /, `<svg y="${y}" `));
    y += height + gap;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}">\n${inner.join('\n')}\n</svg>\n`;
}
