// The layercache dashboard: fetches ../api/v1/stats (schema in docs/metrics.md, "GET /api/v1/stats")
// on load and every 5 seconds and redraws every section from it.
//
// One file on purpose, though long: the page has no build step and loads no modules, and every
// section draws with the DOM helpers and formats below; each section is one function.
//
// Two rules hold throughout:
//  - Text from the JSON goes into the page through textContent only, never innerHTML: namespace
//    names, step names and references come from clients, so they must not be able to inject markup.
//  - Every number shown carries data-stat="<path in the JSON>" and data-value="<raw JSON value>"
//    ("null" for null), so a browser test can compare the page with the JSON it was drawn from.
//    Namespaces are addressed by name (namespaces.team.windows.1h.hit_rate), other arrays by index.
'use strict';

(function () {
  const STATS_URL = '../api/v1/stats';
  const REFRESH_MS = 5000;
  const FETCH_TIMEOUT_MS = 10000;
  const WINDOWS = ['5m', '1h', '24h'];
  const WINDOW_LABELS = { '5m': '5 min', '1h': '1 h', '24h': '24 h' };
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // Known miss reasons in the order an operator reads them, with what each means; reasons the
  // server adds later still show, after these.
  const ENTRY_MISS_REASONS = [
    ['new_step', 'new step', 'no entry was ever stored for this step'],
    ['inputs_changed', 'inputs changed', 'the step is known but its inputs differ'],
    ['cascade', 'cascade', 'an earlier step missed, so this key was new too'],
    ['evicted', 'evicted', 'the entry was here and was removed for space'],
    ['unknown', 'unknown', 'the lookup carried no step identity'],
  ];

  let renders = 0;
  let lastGoodStats = null;

  // ---- DOM helpers -------------------------------------------------------------------------

  function build(node, attrs, children) {
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null && value !== false) {
        node.setAttribute(name, String(value));
      }
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) {
        continue;
      }
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function el(tag, attrs, ...children) {
    return build(document.createElement(tag), attrs, children);
  }

  function svg(tag, attrs, ...children) {
    return build(document.createElementNS(SVG_NS, tag), attrs, children);
  }

  function rawValue(value) {
    return value === null || value === undefined ? 'null' : String(value);
  }

  /** An element showing one number of the JSON, tagged with where it came from. */
  function stat(tag, path, value, text, attrs) {
    return el(tag, Object.assign({}, attrs, { 'data-stat': path, 'data-value': rawValue(value) }), text);
  }

  /** A table cell showing one number of the JSON. */
  function statCell(path, value, text) {
    return stat('td', path, value, text, { class: 'num' });
  }

  function table(headers, rows, numericColumns) {
    return el('table', {},
      el('thead', {}, el('tr', {}, headers.map((header, i) =>
        el('th', { class: numericColumns.includes(i) ? 'num' : null, scope: 'col' }, header)))),
      el('tbody', {}, rows));
  }

  function empty(text) {
    return el('p', { class: 'empty' }, text);
  }

  // ---- formatting --------------------------------------------------------------------------

  function isNumber(value) {
    return typeof value === 'number' && Number.isFinite(value);
  }

  function formatPercent(rate) {
    return isNumber(rate) ? (rate * 100).toFixed(1) + '%' : '—';
  }

  function formatCount(value) {
    return isNumber(value) ? value.toLocaleString('en-US') : '—';
  }

  /** Binary units, one decimal from KiB up: 1536 -> "1.5 KiB". */
  function formatBytes(value) {
    if (!isNumber(value)) {
      return '—';
    }
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
    let scaled = value;
    let unit = 0;
    while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
      scaled /= 1024;
      unit += 1;
    }
    return unit === 0 ? `${scaled} B` : `${scaled.toFixed(1)} ${units[unit]}`;
  }

  function formatDuration(seconds) {
    if (!isNumber(seconds)) {
      return '—';
    }
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    if (days > 0) {
      return `${days}d ${hours}h`;
    }
    if (hours > 0) {
      return `${hours}h ${minutes}m`;
    }
    return `${minutes}m ${Math.floor(seconds % 60)}s`;
  }

  function parseTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function formatClock(iso) {
    const date = parseTime(iso);
    return date ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }) : String(iso);
  }

  function formatMinute(iso) {
    const date = parseTime(iso);
    return date ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }) : '';
  }

  function formatDateTime(iso) {
    const date = parseTime(iso);
    return date ? date.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }) : String(iso);
  }

  // ---- sections ----------------------------------------------------------------------------

  function windowOf(stats, name) {
    return (stats.windows && stats.windows[name]) || {};
  }

  function tile(label, valueNode, detail, extraClass) {
    return el('div', { class: 'tile' + (extraClass ? ' ' + extraClass : '') },
      el('div', { class: 'tile-label', title: label }, label),
      el('div', { class: 'tile-value' }, valueNode),
      el('div', { class: 'tile-detail' }, detail));
  }

  function hitRateClass(rate) {
    if (!isNumber(rate)) {
      return 'rate-none';
    }
    return rate >= 0.8 ? 'rate-good' : rate >= 0.5 ? 'rate-fair' : 'rate-poor';
  }

  function renderTiles(stats) {
    const tiles = WINDOWS.map((name) => {
      const w = windowOf(stats, name);
      const base = `windows.${name}`;
      return tile(`Hit rate · ${WINDOW_LABELS[name]}`,
        stat('span', `${base}.hit_rate`, w.hit_rate, formatPercent(w.hit_rate)),
        [stat('span', `${base}.hits`, w.hits, formatCount(w.hits)), ' of ',
          stat('span', `${base}.lookups`, w.lookups, formatCount(w.lookups)), ' lookups'],
        hitRateClass(w.hit_rate));
    });
    tiles.push(...builderTiles(stats));
    const day = windowOf(stats, '24h');
    tiles.push(
      tile('Lookups · 24 h',
        stat('span', 'windows.24h.lookups', day.lookups, formatCount(day.lookups)),
        [stat('span', 'windows.24h.misses', day.misses, formatCount(day.misses)), ' misses']),
      tile('Served · 24 h',
        stat('span', 'windows.24h.served_bytes', day.served_bytes, formatBytes(day.served_bytes)),
        ['received ', stat('span', 'windows.24h.received_bytes', day.received_bytes, formatBytes(day.received_bytes))]),
      tile('Saved · 24 h',
        stat('span', 'windows.24h.saved_bytes', day.saved_bytes, formatBytes(day.saved_bytes)),
        'uploads skipped: already here'),
      tile('Capacity misses · 24 h',
        stat('span', 'windows.24h.capacity_misses', day.capacity_misses, formatCount(day.capacity_misses)),
        'would have hit with more disk',
        day.capacity_misses > 0 ? 'tile-warn' : null));
    tiles.push(existenceChecksTile(day));
    return tiles;
  }

  /**
   * Pushers' blob HEADs (and FindMissingBlobs digests) before an upload: not lookups, so beside
   * the hit rate and never in it; a miss there is a new layer to send, not the cache failing.
   */
  function existenceChecksTile(day) {
    const checks = day.existence_checks;
    const present = day.existence_check_hits;
    const share = isNumber(checks) && checks > 0 && isNumber(present) ? present / checks : null;
    return tile('Existence checks · 24 h',
      stat('span', 'windows.24h.existence_checks', checks, formatCount(checks)),
      [stat('span', 'windows.24h.existence_check_hits', present, formatCount(present)), ' present (',
        el('span', { class: 'derived' }, formatPercent(share)), ') · pushers\' HEADs, not in the hit rate']);
  }

  // ---- builds of stock builders (stats.builds; docs/builds.md) ---------------------------------

  const BUILDER_NAMES = { buildkit: 'BuildKit', buildah: 'buildah' };
  const ROOT_CAUSE_REASONS = {
    content: 'the files it reads changed',
    instruction: 'the step itself changed',
    first_rebuilt: 'first step rebuilt (buildah does not say why)',
  };

  function builderName(builder) {
    return BUILDER_NAMES[builder] || String(builder);
  }

  /** Known builders first, in a fixed order; builders the server adds later after them. */
  function builderKeys(steps) {
    const known = Object.keys(BUILDER_NAMES).filter((b) => b in steps);
    return known.concat(Object.keys(steps).filter((b) => !(b in BUILDER_NAMES)).sort());
  }

  /**
   * The step-level hit rate of each builder, beside the lookup hit rate: BuildKit fetches one
   * cache manifest per build (a lookup hit even when every step rebuilt), so only the steps say
   * how much a build reused.
   */
  function builderTiles(stats) {
    const steps = (stats.builds && stats.builds.steps) || {};
    const recent = (stats.builds && Array.isArray(stats.builds.recent)) ? stats.builds.recent : [];
    return builderKeys(steps).map((builder) => {
      const s = steps[builder] || {};
      const base = `builds.steps.${builder}`;
      const total = isNumber(s.reused) && isNumber(s.rebuilt) ? s.reused + s.rebuilt : null;
      const detail = total
        ? [stat('span', `${base}.reused`, s.reused, formatCount(s.reused)), ' of ',
          el('span', { class: 'derived' }, formatCount(total)), ' steps reused · ',
          stat('span', `${base}.rebuilt`, s.rebuilt, formatCount(s.rebuilt)), ' rebuilt']
        // A build whose cache could not be read has no steps: say so rather than "no builds".
        : recent.some((b) => b.builder === builder) ? 'no steps counted yet' : 'no builds yet';
      return tile(`${builderName(builder)} steps reused`,
        stat('span', `${base}.reuse_rate`, s.reuse_rate, formatPercent(s.reuse_rate)),
        detail, hitRateClass(s.reuse_rate) + ' builder-tile');
    });
  }

  /** buildah's reference is a 64-hex step key: its start says enough, the tooltip has it all. */
  function formatReference(reference) {
    if (reference === null || reference === undefined) {
      return '';
    }
    const text = String(reference);
    return /^[0-9a-f]{64}$/.test(text) ? text.slice(0, 12) + '…' : text;
  }

  function rootCauseCell(build, i) {
    const cause = build.root_cause;
    if (!cause) {
      const why = build.status === 'first_export' ? 'first export: nothing to compare with'
        : build.status === 'unparsable' ? 'the cache could not be read'
          : build.rebuilt === 0 ? 'none: every step reused' : '—';
      return el('td', { class: 'root-cause muted' }, why);
    }
    const cascade = isNumber(cause.cascade) && cause.cascade > 0
      ? el('div', { class: 'cascade' },
        stat('span', `builds.recent.${i}.root_cause.cascade`, cause.cascade, formatCount(cause.cascade)),
        ` more rebuilt because of it`)
      : null;
    return el('td', { class: 'root-cause' },
      el('div', { class: 'mono instruction', title: cause.instruction }, cause.instruction),
      el('div', { class: 'cause-reason', 'data-reason': cause.reason },
        ROOT_CAUSE_REASONS[cause.reason] || String(cause.reason)),
      cascade);
  }

  function warningsCell(build) {
    const warnings = Array.isArray(build.warnings) ? build.warnings : [];
    if (warnings.length === 0) {
      return el('td', { class: 'muted' }, 'none');
    }
    return el('td', {}, el('ul', { class: 'build-warnings' },
      warnings.map((warning) => el('li', { class: 'build-warning' }, el('span', { 'aria-hidden': 'true' }, '⚠ '), warning))));
  }

  function renderBuilds(stats) {
    const builds = (stats.builds && Array.isArray(stats.builds.recent)) ? stats.builds.recent : [];
    if (builds.length === 0) {
      return empty('No builds recorded yet: BuildKit caches (registry or inline) and buildah --cache-to pushes show here.');
    }
    const rows = builds.map((build, i) => {
      const warned = Array.isArray(build.warnings) && build.warnings.length > 0;
      const reference = build.reference === null || build.reference === undefined ? '' : String(build.reference);
      return el('tr', { class: warned ? 'build-warned' : null, 'data-build': i },
        el('td', { title: build.at }, formatDateTime(build.at)),
        el('td', {}, builderName(build.builder)),
        el('td', { class: 'mono', title: `${build.repository}${reference ? ':' + reference : ''}` },
          el('span', { class: 'name' }, build.repository), reference ? ':' + formatReference(reference) : ''),
        statCell(`builds.recent.${i}.steps`, build.steps, formatCount(build.steps)),
        statCell(`builds.recent.${i}.reused`, build.reused, formatCount(build.reused)),
        statCell(`builds.recent.${i}.rebuilt`, build.rebuilt, formatCount(build.rebuilt)),
        rootCauseCell(build, i),
        warningsCell(build));
    });
    return table(['When', 'Builder', 'Repository:reference', 'Steps', 'Reused', 'Rebuilt', 'Root cause', 'Warnings'],
      rows, [3, 4, 5]);
  }

  // ---- the pull-through mirror (stats.mirror; docs/mirror.md) ---------------------------------

  /**
   * The mirror's lookups, stale serves and upstream requests, all upstreams together and each;
   * the section shows only on a node that mirrors something. Its hit rate is its own: the
   * headline's is the build cache's (docs/metrics.md, "What counts as a lookup").
   */
  function renderMirror(stats) {
    const mirror = stats.mirror;
    document.getElementById('mirror-card').hidden = !mirror;
    if (!mirror) {
      return [];
    }
    const row = (label, base, windows, extraClass) => {
      const w = (name) => (windows && windows[name]) || {};
      const day = w('24h');
      return el('tr', { class: extraClass },
        el('th', { scope: 'row', class: 'name' }, label),
        statCell(`${base}.24h.lookups`, day.lookups, formatCount(day.lookups)),
        WINDOWS.map((name) => {
          const rate = w(name).hit_rate;
          return stat('td', `${base}.${name}.hit_rate`, rate, formatPercent(rate), { class: 'num ' + hitRateClass(rate) });
        }),
        stat('td', `${base}.24h.stale`, day.stale, formatCount(day.stale), { class: 'num' + (day.stale > 0 ? ' warn' : '') }),
        statCell(`${base}.24h.upstream_requests`, day.upstream_requests, formatCount(day.upstream_requests)),
        stat('td', `${base}.24h.upstream_errors`, day.upstream_errors, formatCount(day.upstream_errors),
          { class: 'num' + (day.upstream_errors > 0 ? ' warn' : '') }),
        statCell(`${base}.24h.served_bytes`, day.served_bytes, formatBytes(day.served_bytes)));
    };
    const upstreams = Array.isArray(mirror.upstreams) ? mirror.upstreams : [];
    const rows = [row('all upstreams', 'mirror.windows', mirror.windows, 'total')]
      .concat(upstreams.map((u, i) => row(u.upstream, `mirror.upstreams.${i}.windows`, u.windows)));
    return [
      table(['Upstream', 'Lookups 24 h', 'Hit rate 5 min', '1 hour', '24 hours', 'Served stale 24 h',
        'Upstream requests 24 h', 'Upstream errors 24 h', 'Served 24 h'], rows, [1, 2, 3, 4, 5, 6, 7, 8]),
      el('p', { class: 'muted' }, 'A hit served the copy held here without fetching it (a tag revalidated with a HEAD, ',
        'or served stale while the upstream could not answer); a miss fetched it. Upstream errors are every ',
        'failed request but a 404.'),
    ];
  }

  function renderWindows(stats) {
    const rows = [
      ['lookups', 'Lookups', formatCount],
      ['hits', 'Hits', formatCount],
      ['misses', 'Misses', formatCount],
      ['hit_rate', 'Hit rate', formatPercent],
      ['capacity_misses', 'Capacity misses', formatCount],
      ['served_bytes', 'Served', formatBytes],
      ['received_bytes', 'Received', formatBytes],
      ['saved_bytes', 'Saved', formatBytes],
      ['existence_checks', 'Existence checks (not lookups)', formatCount],
      ['existence_check_hits', 'Existence checks present', formatCount],
    ].map(([field, label, format]) => el('tr', {},
      el('th', { scope: 'row' }, label),
      WINDOWS.map((name) => {
        const value = windowOf(stats, name)[field];
        return statCell(`windows.${name}.${field}`, value, format(value));
      })));
    return table(['', '5 min', '1 hour', '24 hours'], rows, [1, 2, 3]);
  }

  /** The smallest 1, 2 or 5 times a power of ten that is at least {@code value} (and at least 1). */
  function niceCeiling(value) {
    if (value <= 1) {
      return 1;
    }
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 5, 10]) {
      if (step * power >= value) {
        return step * power;
      }
    }
    return 10 * power;
  }

  /**
   * Stacked bars of hits and misses per minute (left axis: lookups per minute) with the hit rate
   * drawn over them as a line (right axis: 0-100%). Minutes without lookups break the line rather
   * than pretending the rate was 0.
   */
  function renderChart(stats) {
    const history = Array.isArray(stats.history) ? stats.history : [];
    if (history.length === 0) {
      return empty('No lookups recorded in the last hour yet.');
    }
    const width = 1000;
    const height = 300;
    const margin = { left: 48, right: 52, top: 26, bottom: 30 };
    const plotWidth = width - margin.left - margin.right;
    const plotHeight = height - margin.top - margin.bottom;
    const bottom = margin.top + plotHeight;
    const slot = plotWidth / history.length;
    const barWidth = Math.max(1, slot * 0.72);
    const maxLookups = niceCeiling(Math.max(0, ...history.map((p) => (p.hits || 0) + (p.misses || 0))));
    const yCount = (count) => bottom - (count / maxLookups) * plotHeight;
    const yRate = (rate) => bottom - rate * plotHeight;

    const chart = svg('svg', {
      viewBox: `0 0 ${width} ${height}`, class: 'chart-svg', role: 'img',
      'aria-label': 'Hits and misses per minute over the last hour, with the hit rate as a line',
    });

    // Grid lines and both axes' labels.
    for (const fraction of [0, 0.5, 1]) {
      const y = bottom - fraction * plotHeight;
      chart.append(
        svg('line', { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: 'grid-line' }),
        svg('text', { x: margin.left - 6, y: y + 4, class: 'axis-label', 'text-anchor': 'end' },
          formatCount(maxLookups * fraction)),
        svg('text', { x: width - margin.right + 6, y: y + 4, class: 'axis-label rate-axis', 'text-anchor': 'start' },
          `${fraction * 100}%`));
    }
    chart.append(
      svg('text', { x: 4, y: 12, class: 'axis-title' }, 'lookups/min'),
      svg('text', { x: width - 4, y: 12, class: 'axis-title rate-axis', 'text-anchor': 'end' }, 'hit rate'));

    const linePoints = [];
    history.forEach((point, i) => {
      const hits = point.hits || 0;
      const misses = point.misses || 0;
      const lookups = hits + misses;
      const x = margin.left + i * slot + (slot - barWidth) / 2;
      const rate = lookups > 0 ? hits / lookups : null;
      linePoints.push(rate === null ? null : [margin.left + (i + 0.5) * slot, yRate(rate)]);
      chart.append(svg('g', { class: 'minute' },
        svg('title', {}, `${formatMinute(point.minute)}: ${hits} hits, ${misses} misses` +
          (rate === null ? '' : `, hit rate ${formatPercent(rate)}`)),
        // A full-height transparent target, so the tooltip shows even over a short bar.
        svg('rect', { x: margin.left + i * slot, y: margin.top, width: slot, height: plotHeight, class: 'hover-target' }),
        svg('rect', {
          x, y: yCount(hits), width: barWidth, height: bottom - yCount(hits), class: 'bar-hits',
          'data-stat': `history.${i}.hits`, 'data-value': rawValue(point.hits),
        }),
        svg('rect', {
          x, y: yCount(lookups), width: barWidth, height: yCount(hits) - yCount(lookups), class: 'bar-misses',
          'data-stat': `history.${i}.misses`, 'data-value': rawValue(point.misses),
        })));
      if (i % 10 === 0 || i === history.length - 1) {
        chart.append(svg('text', { x: margin.left + (i + 0.5) * slot, y: height - 10, class: 'axis-label', 'text-anchor': 'middle' },
          formatMinute(point.minute)));
      }
    });

    let path = '';
    let previous = null;
    for (const point of linePoints) {
      if (point) {
        path += `${previous ? 'L' : 'M'}${point[0].toFixed(1)},${point[1].toFixed(1)} `;
      }
      previous = point;
    }
    if (path) {
      chart.append(svg('path', { d: path.trim(), class: 'rate-line' }));
    }
    linePoints.forEach((point) => {
      if (point) {
        chart.append(svg('circle', { cx: point[0].toFixed(1), cy: point[1].toFixed(1), r: 2.5, class: 'rate-dot' }));
      }
    });

    const legend = el('div', { class: 'legend' },
      el('span', { class: 'key key-hits' }, 'hits'),
      el('span', { class: 'key key-misses' }, 'misses'),
      el('span', { class: 'key key-rate' }, 'hit rate'));
    return [chart, legend];
  }

  function renderNamespaces(stats) {
    const namespaces = Array.isArray(stats.namespaces) ? stats.namespaces : [];
    if (namespaces.length === 0) {
      return empty('No lookups in any namespace yet.');
    }
    const rows = namespaces.map((entry) => {
      const base = `namespaces.${entry.namespace}.windows`;
      const window = (name) => (entry.windows && entry.windows[name]) || {};
      const day = window('24h');
      return el('tr', {},
        el('th', { scope: 'row', class: 'name' }, entry.namespace),
        statCell(`${base}.24h.lookups`, day.lookups, formatCount(day.lookups)),
        WINDOWS.map((name) => {
          const rate = window(name).hit_rate;
          return stat('td', `${base}.${name}.hit_rate`, rate, formatPercent(rate), { class: 'num ' + hitRateClass(rate) });
        }));
    });
    return table(['Namespace', 'Lookups 24 h', 'Hit rate 5 min', '1 hour', '24 hours'], rows, [1, 2, 3, 4]);
  }

  function renderStore(stats) {
    const store = stats.store || {};
    const parts = [];
    const used = stat('span', 'store.bytes', store.bytes, formatBytes(store.bytes), { class: 'big' });
    if (isNumber(store.budget_bytes) && store.budget_bytes > 0) {
      const fraction = isNumber(store.bytes) ? store.bytes / store.budget_bytes : 0;
      parts.push(
        el('p', { class: 'usage' }, used, ' of ',
          stat('span', 'store.budget_bytes', store.budget_bytes, formatBytes(store.budget_bytes)),
          el('span', { class: 'muted' }, ` (${(fraction * 100).toFixed(1)}%)`)),
        el('div', { class: 'meter' + (fraction >= 0.9 ? ' meter-high' : ''), role: 'meter',
          'aria-valuemin': 0, 'aria-valuemax': store.budget_bytes, 'aria-valuenow': store.bytes },
        el('div', { class: 'meter-fill', style: `width: ${Math.min(100, fraction * 100).toFixed(1)}%` })));
    } else {
      parts.push(el('p', { class: 'usage' }, used, ' · ',
        stat('span', 'store.budget_bytes', store.budget_bytes, 'no budget', { class: 'muted' })));
    }
    parts.push(el('p', {}, stat('span', 'store.blobs', store.blobs, formatCount(store.blobs), { class: 'strong' }), ' blobs'));
    const roots = store.roots || {};
    const kinds = Object.keys(roots);
    if (kinds.length > 0) {
      parts.push(el('h3', {}, 'Roots by kind'),
        table(['Kind', 'Roots'], kinds.map((kind) => el('tr', {},
          el('th', { scope: 'row' }, kind),
          statCell(`store.roots.${kind}`, roots[kind], formatCount(roots[kind])))), [1]));
    }
    return parts;
  }

  function renderEntryMisses(stats) {
    const misses = stats.entry_misses || {};
    const known = ENTRY_MISS_REASONS.map(([reason]) => reason);
    const reasons = ENTRY_MISS_REASONS.filter(([reason]) => reason in misses)
      .concat(Object.keys(misses).filter((reason) => !known.includes(reason)).map((reason) => [reason, reason, '']));
    if (reasons.length === 0) {
      return empty('No entry lookups yet.');
    }
    const total = reasons.reduce((sum, [reason]) => sum + (isNumber(misses[reason]) ? misses[reason] : 0), 0);
    return el('div', { class: 'reasons' }, reasons.map(([reason, label, meaning]) => {
      const count = misses[reason];
      const share = total > 0 && isNumber(count) ? count / total : 0;
      return el('div', { class: 'reason', title: meaning },
        el('span', { class: 'reason-label' }, label),
        el('span', { class: 'reason-bar' }, el('span', { class: 'reason-fill', style: `width: ${(share * 100).toFixed(1)}%` })),
        stat('span', `entry_misses.${reason}`, count, formatCount(count), { class: 'num reason-count' }));
    }));
  }

  function renderRootCauses(stats) {
    const causes = Array.isArray(stats.root_causes) ? stats.root_causes : [];
    if (causes.length === 0) {
      return empty('none');
    }
    return table(['Namespace', 'Step', 'Misses'], causes.map((cause, i) => el('tr', {},
      el('td', { class: 'name' }, cause.namespace),
      el('td', { class: 'mono' }, cause.step),
      statCell(`root_causes.${i}.misses`, cause.misses, formatCount(cause.misses)))), [2]);
  }

  function renderEvictions(stats) {
    const evictions = Array.isArray(stats.recent_evictions) ? stats.recent_evictions : [];
    if (evictions.length === 0) {
      return empty('none');
    }
    return table(['When', 'Namespace', 'Kind', 'Reference', 'Size'], evictions.map((eviction, i) => el('tr', {},
      el('td', { title: eviction.at }, formatDateTime(eviction.at)),
      el('td', { class: 'name' }, eviction.namespace),
      el('td', {}, eviction.kind),
      el('td', { class: 'mono' }, eviction.reference),
      statCell(`recent_evictions.${i}.bytes`, eviction.bytes, formatBytes(eviction.bytes)))), [4]);
  }

  function renderHeader(stats) {
    const updated = document.getElementById('updated');
    updated.textContent = `updated ${formatClock(stats.generated_at)}`;
    updated.title = String(stats.generated_at);
    const uptime = document.getElementById('uptime');
    uptime.replaceChildren('up ', stat('span', 'uptime_seconds', stats.uptime_seconds, formatDuration(stats.uptime_seconds)));
  }

  const SECTIONS = [
    ['tiles', renderTiles],
    ['chart', renderChart],
    ['windows', renderWindows],
    ['mirror', renderMirror],
    ['builds', renderBuilds],
    ['namespaces', renderNamespaces],
    ['store', renderStore],
    ['entry-misses', renderEntryMisses],
    ['root-causes', renderRootCauses],
    ['evictions', renderEvictions],
  ];

  /**
   * Redraws every section. One section failing on unexpected data (a field the server renamed,
   * say) shows its error in place and leaves the others readable.
   */
  function render(stats) {
    renderHeader(stats);
    for (const [id, draw] of SECTIONS) {
      const container = document.getElementById(id);
      try {
        container.replaceChildren(...[draw(stats)].flat());
      } catch (error) {
        console.error(`dashboard: could not draw #${id}`, error);
        container.replaceChildren(el('p', { class: 'section-error' }, `Could not show this part: ${error.message}`));
      }
    }
    renders += 1;
    document.body.dataset.generatedAt = String(stats.generated_at);
    document.body.dataset.renders = String(renders);
  }

  function showError(error) {
    const banner = document.getElementById('error');
    if (!error) {
      banner.hidden = true;
      banner.textContent = '';
      document.body.classList.remove('stale');
      return;
    }
    const reason = error.name === 'AbortError' ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : error.message;
    const since = lastGoodStats ? ` Showing the data of ${formatClock(lastGoodStats.generated_at)}.` : '';
    if (!lastGoodStats) {
      document.getElementById('updated').textContent = 'no data yet';
    }
    banner.textContent = `Could not load ${STATS_URL}: ${reason}.${since} Retrying every ${REFRESH_MS / 1000} s.`;
    banner.hidden = false;
    document.body.classList.add('stale');
  }

  async function refresh() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const response = await fetch(STATS_URL, {
        cache: 'no-store', signal: controller.signal, headers: { Accept: 'application/json' },
      });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
      }
      const stats = await response.json();
      render(stats);
      lastGoodStats = stats;
      showError(null);
    } catch (error) {
      showError(error);
    } finally {
      clearTimeout(timer);
      // Scheduled after each answer rather than with setInterval, so a slow server never has
      // two requests from one page in flight.
      setTimeout(refresh, REFRESH_MS);
    }
  }

  // ---- sharing (../api/v1/sharing, its own slower loop: it scans every manifest) ---------------

  const SHARING_URL = '../api/v1/sharing';
  const SHARING_REFRESH_MS = 30000;
  let sharingRenders = 0;

  function shared(tag, path, value, text, attrs) {
    return el(tag, Object.assign({}, attrs, { 'data-sharing': path, 'data-value': rawValue(value) }), text);
  }

  function renderSharing(s) {
    const parts = [];
    parts.push(el('div', { class: 'sharing-summary' },
      el('div', {}, el('span', { class: 'label' }, 'Logical '),
        shared('span', 'logical_bytes', s.logical_bytes, formatBytes(s.logical_bytes), { class: 'big' })),
      el('div', {}, el('span', { class: 'label' }, 'Physical '),
        shared('span', 'physical_bytes', s.physical_bytes, formatBytes(s.physical_bytes), { class: 'big' })),
      el('div', {}, el('span', { class: 'label' }, 'Saved '),
        shared('span', 'saved_bytes', s.saved_bytes, formatBytes(s.saved_bytes), { class: 'big' }),
        ' (x', shared('span', 'sharing_ratio', s.sharing_ratio, isNumber(s.sharing_ratio) ? s.sharing_ratio.toFixed(2) : '—'), ')'),
      el('div', {}, shared('span', 'manifests', s.manifests, formatCount(s.manifests)), ' manifests, ',
        shared('span', 'layers', s.layers, formatCount(s.layers)), ' distinct layers, ',
        shared('span', 'shared_layers', s.shared_layers, formatCount(s.shared_layers)), ' shared')));
    const top = Array.isArray(s.top_shared) ? s.top_shared : [];
    if (top.length === 0) {
      parts.push(empty('No layer is used by more than one manifest yet.'));
    } else {
      const rows = top.map((layer, i) => el('tr', { 'data-layer': layer.digest },
        el('th', { scope: 'row', class: 'name mono' }, layer.digest.slice(0, 19)),
        shared('td', `top_shared.${i}.size`, layer.size, formatBytes(layer.size), { class: 'num' }),
        shared('td', `top_shared.${i}.references`, layer.references, formatCount(layer.references), { class: 'num' }),
        shared('td', `top_shared.${i}.saved_bytes`, layer.saved_bytes, formatBytes(layer.saved_bytes), { class: 'num' }),
        el('td', { class: 'repos' }, (layer.repositories || []).join(', '))));
      parts.push(table(['Layer', 'Size', 'Used by', 'Saved', 'Repositories'], rows, [1, 2, 3]));
    }
    return parts;
  }

  async function refreshSharing() {
    const container = document.getElementById('sharing');
    try {
      const response = await fetch(SHARING_URL, { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status} ${response.statusText}`.trim());
      }
      container.replaceChildren(...renderSharing(await response.json()));
      sharingRenders += 1;
      document.body.dataset.sharingRenders = String(sharingRenders);
    } catch (error) {
      container.replaceChildren(el('p', { class: 'section-error' }, `Could not load ${SHARING_URL}: ${error.message}`));
    } finally {
      setTimeout(refreshSharing, SHARING_REFRESH_MS);
    }
  }

  refresh();
  refreshSharing();
})();
