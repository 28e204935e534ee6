// The viewlog dashboard: polls api/state (same origin) and renders it with
// uPlot. Plain script, no build step.
//
// After every render the page publishes what it shows as
// window.dashboardState, so that tests can check the charts' data without
// reading pixels:
//
//   renders, failures, lastError, time, ready {ok, reason}, recordsPerSecond,
//   views       {windowStarts: [iso], series: [{campaign_id, counts: [n|null]}]}
//   avgDuration {campaigns: [id], avg: [s|null], latest: [s|null]}
//   throughput  {times: [iso], recordsPerSecond: [n|null], lag: [n|null]}
//   partitions  [{partition, lag, uncommitted, committed, watermark, idle,
//                 follows_watermark, open_windows}]
//   outcomes    [{outcome, reason, count}]   (reason "" but for rejected reasons)
//   files       [{key, rows, written_at}]
(function () {
  'use strict';

  const POLL_MS = 3000;
  // The views chart shows this many window starts, the newest ones.
  const VIEW_WINDOWS = 30;
  const OUTCOMES = ['aggregated', 'duplicate', 'late', 'unknown_campaign', 'rejected'];
  // Tableau 20, reordered so that neighbours differ: campaigns keep their
  // colour as long as the set of campaigns does not change.
  const PALETTE = [
    '#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7',
    '#9c755f', '#79706e', '#a0cbe8', '#ffbe7d', '#8cd17d', '#ff9d9a', '#86bcb6', '#f1ce63',
    '#d4a6c8', '#fabfd2', '#d7b5a6', '#bab0ac',
  ];
  const AXIS = { stroke: '#6b7280', grid: { stroke: '#eceef2', width: 1 }, ticks: { stroke: '#d5d9e0', width: 1 } };

  const fmtInt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const fmtDec = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
  const fmtAvg = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const fmtCompact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

  const charts = new Map(); // element id -> {key, plot}
  const status = { renders: 0, failures: 0, lastError: '' };

  const $ = (id) => document.getElementById(id);
  const list = (v) => (Array.isArray(v) ? v : []);
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const seconds = (iso) => {
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? ms / 1000 : null;
  };
  const iso = (sec) => new Date(sec * 1000).toISOString();
  const pad = (n) => String(n).padStart(2, '0');
  // Times are shown in UTC, as the output's minute_timestamp directories are.
  function clock(sec, withDate) {
    if (sec == null) return '–';
    const d = new Date(sec * 1000);
    const t = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    return withDate ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${t}` : t;
  }
  const count = (v) => (num(v) == null ? '–' : fmtInt.format(v));
  // Legend values: empty while the cursor is off the chart.
  const legendCount = (u, y) => (y == null ? '' : fmtInt.format(y));
  const legendSeconds = (u, y) => (y == null ? '' : fmtAvg.format(y) + ' s');
  const legendTime = (u, x) => (x == null ? '' : clock(x, false));
  const tzDate = (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
  // Time ticks as 24-hour UTC clock times, with the date under the first
  // tick and wherever the day changes.
  function timeTicks(u, splits) {
    let day = '';
    return splits.map((s) => {
      const full = clock(s, true);
      const d = full.slice(0, 10);
      const hm = full.slice(11, 16);
      if (d === day) return hm;
      day = d;
      return `${hm}\n${d}`;
    });
  }
  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.08 : 1];

  function cell(text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function fillTable(id, rows) {
    const body = $(id).tBodies[0];
    body.replaceChildren(...rows);
  }

  // views groups the windows by campaign over the newest VIEW_WINDOWS window
  // starts. Rows of one campaign and window from several partitions are
  // added up; a campaign with no row in a window has no point there.
  function views(windows) {
    const starts = [...new Set(windows.map((w) => seconds(w.window_start)).filter((s) => s != null))]
      .sort((a, b) => a - b)
      .slice(-VIEW_WINDOWS);
    const at = new Map(starts.map((s, i) => [s, i]));
    const byCampaign = new Map();
    for (const w of windows) {
      const i = at.get(seconds(w.window_start));
      const n = num(w.count);
      if (i === undefined || n == null || num(w.campaign_id) == null) continue;
      let c = byCampaign.get(w.campaign_id);
      if (!c) {
        c = { counts: starts.map(() => null), seconds: starts.map(() => 0) };
        byCampaign.set(w.campaign_id, c);
      }
      c.counts[i] = (c.counts[i] || 0) + n;
      c.seconds[i] += (num(w.avg_duration) || 0) * n;
    }
    const campaigns = [...byCampaign.keys()].sort((a, b) => a - b);
    return { starts, campaigns, byCampaign };
  }

  // averages weighs each window's average by its views, over the windows of
  // the views chart, and takes each campaign's newest window on its own.
  function averages(v) {
    const avg = [];
    const latest = [];
    for (const id of v.campaigns) {
      const c = v.byCampaign.get(id);
      let n = 0;
      let s = 0;
      let last = null;
      c.counts.forEach((k, i) => {
        if (k == null) return;
        n += k;
        s += c.seconds[i];
        if (k > 0) last = c.seconds[i] / k;
      });
      avg.push(n > 0 ? Math.round((s / n) * 100) / 100 : null);
      latest.push(last == null ? null : Math.round(last * 100) / 100);
    }
    return { campaigns: v.campaigns, avg, latest };
  }

  function colourOf(allCampaigns) {
    const index = new Map(allCampaigns.map((id, i) => [id, i]));
    return (id) => PALETTE[index.get(id) % PALETTE.length];
  }

  // chart creates, updates or removes one uPlot chart. A chart is rebuilt
  // only when its series change (key); otherwise its data is replaced.
  function chart(id, key, options, data) {
    const el = $(id);
    const old = charts.get(id);
    const empty = data[0].length === 0;
    el.classList.toggle('is-empty', empty);
    if (empty) {
      if (old) old.plot.destroy();
      charts.delete(id);
      return;
    }
    if (old && old.key === key) {
      old.plot.setData(data);
      return;
    }
    if (old) old.plot.destroy();
    const opts = options();
    opts.width = Math.max(200, el.clientWidth);
    charts.set(id, { key, plot: new uPlot(opts, data, el) });
  }

  function renderViews(v, colour) {
    const data = [v.starts, ...v.campaigns.map((id) => v.byCampaign.get(id).counts)];
    chart('chart-views', 'views:' + v.campaigns.join(','), () => ({
      height: 300,
      tzDate,
      cursor: { points: { size: 6 } },
      scales: { x: { time: true }, y: { range: fromZero } },
      axes: [
        { ...AXIS, values: timeTicks, size: 46 },
        { ...AXIS, label: 'views per minute', size: 56, values: (u, vals) => vals.map((x) => fmtCompact.format(x)) },
      ],
      series: [
        { label: 'window (UTC)', value: legendTime },
        ...v.campaigns.map((id) => ({
          label: `campaign ${id}`,
          stroke: colour(id),
          width: 1.75,
          points: { size: 4, fill: colour(id) },
          value: legendCount,
        })),
      ],
    }), data);
  }

  function renderDurations(a) {
    const xs = a.campaigns.map((_, i) => i);
    const labels = a.campaigns.map(String);
    chart('chart-duration', 'duration:' + labels.join(','), () => ({
      height: 280,
      cursor: { points: { size: 8 } },
      scales: { x: { time: false, range: () => [-0.5, labels.length - 0.5] }, y: { range: fromZero } },
      axes: [
        { ...AXIS, label: 'campaign', grid: { show: false }, splits: () => xs, values: (u, vals) => vals.map((i) => labels[i] ?? '') },
        { ...AXIS, label: 'seconds', size: 50 },
      ],
      series: [
        { label: 'campaign', value: (u, i) => (i == null ? '' : labels[i]) },
        {
          label: 'average, last 30 windows',
          stroke: '#4e79a7',
          fill: 'rgba(78, 121, 167, 0.55)',
          width: 1,
          paths: uPlot.paths.bars({ size: [0.6, 48] }),
          points: { show: false },
          value: legendSeconds,
        },
        {
          label: 'latest window',
          stroke: '#e15759',
          paths: () => null,
          points: { show: true, space: 0, size: 8, fill: '#e15759', stroke: '#ffffff', width: 1 },
          value: legendSeconds,
        },
      ],
    }), [xs, a.avg, a.latest]);
  }

  function throughput(history) {
    const points = history
      .map((h) => ({ t: seconds(h.time), rps: num(h.records_per_second), lag: num(h.lag) }))
      .filter((p) => p.t != null)
      .sort((a, b) => a.t - b.t);
    return {
      t: points.map((p) => p.t),
      rps: points.map((p) => p.rps),
      lag: points.map((p) => p.lag),
    };
  }

  function renderThroughput(tp) {
    chart('chart-throughput', 'throughput', () => ({
      height: 280,
      tzDate,
      scales: { x: { time: true }, rps: { range: fromZero }, lag: { range: fromZero } },
      axes: [
        { ...AXIS, values: timeTicks, size: 46 },
        { ...AXIS, scale: 'rps', label: 'records/s', size: 56, values: (u, vals) => vals.map((x) => fmtCompact.format(x)) },
        { ...AXIS, scale: 'lag', label: 'lag (records)', side: 1, size: 56, grid: { show: false }, values: (u, vals) => vals.map((x) => fmtCompact.format(x)) },
      ],
      series: [
        { label: 'time (UTC)', value: legendTime },
        { label: 'records/s', scale: 'rps', stroke: '#4e79a7', fill: 'rgba(78, 121, 167, 0.12)', width: 1.5, points: { show: false }, value: (u, y) => (y == null ? '' : fmtDec.format(y)) },
        { label: 'lag (records)', scale: 'lag', stroke: '#e15759', width: 1.5, points: { show: false }, value: legendCount },
      ],
    }), [tp.t, tp.rps, tp.lag]);
  }

  function partitions(ps) {
    return ps
      .map((p) => ({
        partition: p.partition,
        lag: num(p.lag),
        uncommitted: num(p.uncommitted),
        committed: num(p.committed),
        watermark: p.watermark ?? null,
        idle: p.idle === true,
        follows_watermark: p.follows_watermark ?? null,
        open_windows: num(p.open_windows),
      }))
      .sort((a, b) => a.partition - b.partition);
  }

  function watermarkCell(w) {
    if (w == null) return cell('none yet', 'state-idle');
    const td = cell(clock(seconds(w), false));
    td.title = w;
    return td;
  }

  function renderPartitions(rows) {
    fillTable('partitions', rows.map((p) => {
      const tr = document.createElement('tr');
      // An idle partition's watermark follows the group's event time; the
      // clock time keeps the column narrow, the full instant is its title.
      let state = p.idle ? 'idle' : 'active';
      if (p.follows_watermark != null) state += `, follows ${clock(seconds(p.follows_watermark), false)}`;
      tr.append(
        cell(String(p.partition)),
        cell(count(p.lag), 'num'),
        cell(count(p.uncommitted), 'num'),
        cell(count(p.committed), 'num'),
        watermarkCell(p.watermark),
        cell(state, p.idle ? 'state-idle' : ''),
        cell(count(p.open_windows), 'num'),
      );
      return tr;
    }));
    $('partitions-empty').hidden = rows.length > 0;
  }

  function outcomes(totals) {
    const rows = OUTCOMES.map((o) => ({ outcome: o, reason: '', count: num(totals[o]) || 0 }));
    const reasons = Object.entries(totals.rejected_by || {})
      .map(([reason, n]) => ({ outcome: 'rejected', reason, count: num(n) || 0 }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
    const at = rows.findIndex((r) => r.outcome === 'rejected');
    rows.splice(at + 1, 0, ...reasons);
    return { read: num(totals.read) || 0, rows };
  }

  function renderOutcomes(o) {
    const row = (label, n, cls) => {
      const tr = document.createElement('tr');
      if (cls) tr.className = cls;
      const share = document.createElement('td');
      const bar = document.createElement('div');
      bar.className = 'bar';
      const fill = document.createElement('span');
      const pct = o.read > 0 ? (100 * n) / o.read : 0;
      fill.style.width = `${Math.min(100, pct) * 0.7}%`;
      if (n > 0) fill.style.minWidth = '2px';
      const text = document.createElement('em');
      text.textContent = o.read > 0 ? `${pct < 0.1 && n > 0 ? '<0.1' : fmtDec.format(pct)} %` : '–';
      bar.append(fill, text);
      share.append(bar);
      tr.append(cell(label), cell(count(n), 'num'), share);
      return tr;
    };
    fillTable('outcomes', [
      row('read', o.read, 'total'),
      ...o.rows.map((r) => (r.reason ? row(r.reason, r.count, 'reason') : row(r.outcome.replace('_', ' '), r.count, ''))),
    ]);
  }

  function files(fs) {
    return fs.map((f) => ({ key: String(f.key ?? ''), rows: num(f.rows), written_at: f.written_at ?? null }));
  }

  function renderFiles(rows) {
    fillTable('files', rows.map((f) => {
      const tr = document.createElement('tr');
      tr.append(cell(f.key, 'key'), cell(count(f.rows), 'num'), cell(clock(seconds(f.written_at), true)));
      return tr;
    }));
    $('files-empty').hidden = rows.length > 0;
  }

  function renderHeader(s) {
    $('service').textContent = s.service || 'consumer';
    $('topic').textContent = s.topic || '–';
    $('group').textContent = s.group || '–';
    $('generation').textContent = s.generation ?? '–';
    const c = s.campaigns;
    $('campaigns').textContent = c ? `${count(c.count)} (table v${c.version ?? '?'})` : '–';
    $('campaigns').title = c && c.loaded_at ? `loaded ${c.loaded_at}` : '';
    $('rps').textContent = num(s.records_per_second) == null ? '–' : fmtDec.format(s.records_per_second);
    $('updated').textContent = clock(seconds(s.time), false) + ' UTC';
    const ready = $('ready');
    const ok = !!(s.ready && s.ready.ok);
    ready.className = 'badge ' + (ok ? 'ok' : 'bad');
    ready.textContent = ok ? 'ready' : `not ready: ${(s.ready && s.ready.reason) || 'no reason given'}`;
    ready.title = ready.textContent;
    document.title = `${ok ? '' : '⚠ '}viewlog ${s.service || ''}`.trim();
  }

  function render(s) {
    const windows = list(s.windows);
    const colour = colourOf([...new Set(windows.map((w) => w.campaign_id))].sort((a, b) => a - b));
    const v = views(windows);
    const a = averages(v);
    const tp = throughput(list(s.history));
    const ps = partitions(list(s.partitions));
    const o = outcomes(s.totals || {});
    const fs = files(list(s.files));

    renderHeader(s);
    renderViews(v, colour);
    renderDurations(a);
    renderThroughput(tp);
    renderPartitions(ps);
    renderOutcomes(o);
    renderFiles(fs);

    status.renders++;
    window.dashboardState = {
      renders: status.renders,
      failures: status.failures,
      lastError: status.lastError,
      time: s.time ?? null,
      ready: { ok: !!(s.ready && s.ready.ok), reason: (s.ready && s.ready.reason) || '' },
      recordsPerSecond: num(s.records_per_second),
      views: {
        windowStarts: v.starts.map(iso),
        series: v.campaigns.map((id) => ({ campaign_id: id, counts: v.byCampaign.get(id).counts })),
      },
      avgDuration: a,
      throughput: { times: tp.t.map(iso), recordsPerSecond: tp.rps, lag: tp.lag },
      partitions: ps,
      outcomes: [{ outcome: 'read', reason: '', count: o.read }, ...o.rows],
      files: fs,
    };
  }

  function showError(message) {
    const el = $('fetch-error');
    el.hidden = !message;
    el.textContent = message ? `${message} Retrying every ${POLL_MS / 1000} s.` : '';
  }

  async function load() {
    const res = await fetch('api/state', { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`api/state answered HTTP ${res.status}.`);
    return res.json();
  }

  function failed(what, err) {
    status.failures++;
    status.lastError = String((err && err.message) || err);
    showError(`${what}: ${status.lastError}`);
    if (window.dashboardState) window.dashboardState.failures = status.failures;
  }

  async function poll() {
    try {
      let state;
      try {
        state = await load();
      } catch (err) {
        // The consumer may be restarting: keep the last picture and retry.
        failed('Could not load the state', err);
        return;
      }
      try {
        status.lastError = '';
        render(state);
        showError('');
      } catch (err) {
        // A render that throws is a bug of this page, not an outage.
        failed('Could not show the state', err);
        console.error(err);
      }
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  // Charts follow their card's width.
  new ResizeObserver(() => {
    for (const [id, c] of charts) {
      const w = Math.max(200, $(id).clientWidth);
      if (w !== c.plot.width) c.plot.setSize({ width: w, height: c.plot.height });
    }
  }).observe(document.querySelector('main'));

  poll();
})();
