package metrics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go "sqlite" driver
)

// The history is a round-robin time-series store in its own SQLite file
// (DATA_DIR/metrics.db), apart from the state store so that a write every
// few seconds never contends with deploys nor grows the state's WAL.
//
// A series is a metric name and a set of labels, numbered once in the
// series table. Its samples go to the finest tier; each coarser tier is
// computed from the one below it by SQL (Rollup: min of mins, max of maxes,
// sums of sums and counts), and each tier keeps its rows for a fixed time,
// so the file's size is bounded by series × rows per tier. Rows are
// (series_id, ts, min, max, sum, count) in WITHOUT ROWID tables keyed by
// (series_id, ts): a series' rows are contiguous, and a query of one
// series over a range is one index range scan. Raw rows hold one sample:
// min and max are NULL (they equal sum) and count is 1, which SQLite
// stores in no bytes; zero deltas are not written at all.

// Tier is one resolution of the history: rows of Step seconds kept for Keep.
type Tier struct {
	Name string
	Step time.Duration
	Keep time.Duration
}

// DefaultTiers are 10 s for a day, 1 min for a week and 1 h for 90 days.
var defaultTiers = [...]Tier{
	{Name: "s10", Step: 10 * time.Second, Keep: 24 * time.Hour},
	{Name: "m1", Step: time.Minute, Keep: 7 * 24 * time.Hour},
	{Name: "h1", Step: time.Hour, Keep: 90 * 24 * time.Hour},
}

// DefaultTiers returns the default resolutions of the history.
func DefaultTiers() []Tier { return slices.Clone(defaultTiers[:]) }

// DefaultRetention is how long the coarsest tier keeps its rows.
const DefaultRetention = 90 * 24 * time.Hour

// DefaultMaxSeries bounds the number of series the history accepts.
const DefaultMaxSeries = 50000

// ErrHistoryOff is returned by queries when the daemon keeps no history.
var ErrHistoryOff = errors.New("metrics history is off")

// TiersFor returns the default tiers with no tier keeping rows longer than
// retention; the coarsest tier keeps them exactly that long.
func TiersFor(retention time.Duration) []Tier {
	tiers := DefaultTiers()
	if retention <= 0 {
		return tiers
	}
	for i := range tiers {
		tiers[i].Keep = min(tiers[i].Keep, retention)
	}
	tiers[len(tiers)-1].Keep = retention
	return tiers
}

// HistoryOptions tune OpenHistory; the zero value gives the defaults.
type HistoryOptions struct {
	// Tiers, finest first, each Step a multiple of the previous one;
	// default DefaultTiers.
	Tiers []Tier
	// MaxSeries bounds the series; samples of new series beyond it are
	// dropped (and logged once). Default DefaultMaxSeries.
	MaxSeries int
	Logger    *slog.Logger
	// Now is the clock queries pick tiers by; default time.Now.
	Now func() time.Time
}

// History is the embedded time-series store. Its methods are safe for
// concurrent use.
type History struct {
	db    *sql.DB
	path  string
	tiers []Tier
	max   int
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	series   map[seriesKey]int64
	byID     map[int64]seriesKey
	full     bool
	lastRoll time.Time
}

type seriesKey struct{ name, labels string }

// OpenHistory opens (creating if needed) the history at path.
func OpenHistory(path string, o HistoryOptions) (*History, error) {
	tiers := o.Tiers
	if len(tiers) == 0 {
		tiers = DefaultTiers()
	}
	for i, t := range tiers {
		if t.Step < time.Second || t.Keep < t.Step || (i > 0 && t.Step%tiers[i-1].Step != 0) || !validName(t.Name) {
			return nil, fmt.Errorf("metrics history: tier %q (step %v, keep %v) is invalid: steps grow by whole multiples and keep at least one step", t.Name, t.Step, t.Keep)
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("metrics history %s: %w", path, err)
	}
	_ = f.Close()
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_txlock", "immediate")
	// Freed pages go back to the file system as retention deletes rows.
	q.Add("_pragma", "auto_vacuum(incremental)")
	// Roll-ups group in memory: they are small, and need no temp files.
	q.Add("_pragma", "temp_store(memory)")
	dsn := (&url.URL{Scheme: "file", Path: path}).String() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("metrics history %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; readers are few and short
	h := &History{
		db: db, path: path, tiers: tiers, max: o.MaxSeries, log: log, now: o.Now,
		series: make(map[seriesKey]int64), byID: make(map[int64]seriesKey),
	}
	if h.max <= 0 {
		h.max = DefaultMaxSeries
	}
	if h.now == nil {
		h.now = time.Now
	}
	if err := h.init(context.Background()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("metrics history %s: %w", path, err)
	}
	return h, nil
}

// tierSQL puts a tier's table name (checked by validName when the history
// opened) into a statement.
func tierSQL(t Tier, q string) string { return strings.ReplaceAll(q, "{tier}", t.Name) }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func (h *History) init(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, UNIQUE (name, labels))`,
		`CREATE TABLE IF NOT EXISTS rollup (tier TEXT PRIMARY KEY, done INTEGER NOT NULL)`,
	}
	for _, t := range h.tiers {
		stmts = append(stmts, `CREATE TABLE IF NOT EXISTS `+t.Name+` (series_id INTEGER NOT NULL, ts INTEGER NOT NULL, min REAL, max REAL, sum REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (series_id, ts)) WITHOUT ROWID`)
	}
	for _, s := range stmts {
		if _, err := h.db.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	rows, err := h.db.QueryContext(ctx, `SELECT id, name, labels FROM series`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var id int64
		var k seriesKey
		if err := rows.Scan(&id, &k.name, &k.labels); err != nil {
			return err
		}
		h.series[k] = id
		h.byID[id] = k
	}
	return rows.Err()
}

// Close closes the database.
func (h *History) Close() error { return h.db.Close() }

// Path is the database file.
func (h *History) Path() string { return h.path }

// Tiers are the resolutions in effect, finest first.
func (h *History) Tiers() []Tier { return slices.Clone(h.tiers) }

// Sample is one value of a series at a time.
type Sample struct {
	Name   string
	Labels Labels
	Value  float64
	// Delta marks a value that counts what happened during the step
	// (requests): a zero is not stored, and absent rows read as zero.
	Delta bool
}

// Append stores samples taken at ts in the finest tier, in one
// transaction; ts is rounded down to the tier's step, and samples that
// land in a step that already has a row are folded into it.
func (h *History) Append(ctx context.Context, ts time.Time, samples []Sample) error {
	step := int64(h.tiers[0].Step / time.Second)
	sec := ts.Unix() / step * step
	h.mu.Lock()
	defer h.mu.Unlock()
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("metrics history: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// A second sample in the same step (a collector sampling faster than
	// the finest tier) is folded into the row, as a rollup would.
	ins, err := tx.PrepareContext(ctx, tierSQL(h.tiers[0], `INSERT INTO {tier} (series_id, ts, sum, count) VALUES (?1, ?2, ?3, 1)
		ON CONFLICT (series_id, ts) DO UPDATE SET min = min(coalesce(min, sum), excluded.sum), max = max(coalesce(max, sum), excluded.sum),
		sum = sum + excluded.sum, count = count + 1`))
	if err != nil {
		return fmt.Errorf("metrics history: %w", err)
	}
	defer func() { _ = ins.Close() }()
	var newSeries *sql.Stmt
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) || (s.Delta && s.Value == 0) {
			continue
		}
		k := seriesKey{s.Name, s.Labels.String()}
		id, ok := h.series[k]
		if !ok {
			if len(h.series) >= h.max {
				if !h.full {
					h.full = true
					h.log.Warn("metrics history: too many series, new ones are not kept", "max", h.max, "series", k.name, "labels", k.labels)
				}
				continue
			}
			if newSeries == nil {
				if newSeries, err = tx.PrepareContext(ctx, `INSERT INTO series (name, labels) VALUES (?, ?) ON CONFLICT (name, labels) DO UPDATE SET name = excluded.name RETURNING id`); err != nil {
					return fmt.Errorf("metrics history: %w", err)
				}
				defer func() { _ = newSeries.Close() }()
			}
			if err := newSeries.QueryRowContext(ctx, k.name, k.labels).Scan(&id); err != nil {
				return fmt.Errorf("metrics history: new series %s{%s}: %w", k.name, k.labels, err)
			}
			h.series[k] = id
			h.byID[id] = k
		}
		if _, err := ins.ExecContext(ctx, id, sec, s.Value); err != nil {
			return fmt.Errorf("metrics history: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		// The series numbered in this transaction are gone with it.
		h.reloadSeriesLocked(ctx)
		return fmt.Errorf("metrics history: %w", err)
	}
	return nil
}

func (h *History) reloadSeriesLocked(ctx context.Context) {
	h.series = make(map[seriesKey]int64)
	h.byID = make(map[int64]seriesKey)
	rows, err := h.db.QueryContext(ctx, `SELECT id, name, labels FROM series`)
	if err != nil {
		return
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var id int64
		var k seriesKey
		if rows.Scan(&id, &k.name, &k.labels) == nil {
			h.series[k] = id
			h.byID[id] = k
		}
	}
}

// Rollup computes the coarser tiers' rows for every whole step that ended
// by now, deletes rows older than each tier keeps, and returns freed pages
// to the file system. It is cheap to call often: each step is rolled up
// once.
func (h *History) Rollup(ctx context.Context, now time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := 1; i < len(h.tiers); i++ {
		if err := h.rollupTier(ctx, h.tiers[i-1], h.tiers[i], now); err != nil {
			return fmt.Errorf("metrics history: roll up %s into %s: %w", h.tiers[i-1].Name, h.tiers[i].Name, err)
		}
	}
	for _, t := range h.tiers {
		cut := now.Add(-t.Keep).Unix()
		if _, err := h.db.ExecContext(ctx, tierSQL(t, `DELETE FROM {tier} WHERE series_id IN (SELECT id FROM series) AND ts < ?`), cut); err != nil {
			return fmt.Errorf("metrics history: retention of %s: %w", t.Name, err)
		}
	}
	if _, err := h.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
		return fmt.Errorf("metrics history: vacuum: %w", err)
	}
	h.lastRoll = now
	return nil
}

func (h *History) rollupTier(ctx context.Context, from, to Tier, now time.Time) error {
	step := int64(to.Step / time.Second)
	end := now.Unix() / step * step
	var done sql.NullInt64
	if err := h.db.QueryRowContext(ctx, `SELECT done FROM rollup WHERE tier = ?`, to.Name).Scan(&done); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	start := done.Int64
	if !done.Valid {
		var first sql.NullInt64
		if err := h.db.QueryRowContext(ctx, `SELECT min(ts) FROM `+from.Name).Scan(&first); err != nil {
			return err
		}
		if !first.Valid {
			return nil
		}
		start = first.Int64 / step * step
	}
	if end <= start {
		return nil
	}
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// Raw rows leave min and max NULL: they equal sum there.
	// Rows are keyed by (series_id, ts), so a time range is read one
	// series at a time (CROSS JOIN keeps series as the outer loop): a
	// range seek per series rather than a scan of the whole tier.
	q := strings.NewReplacer("{to}", to.Name, "{from}", from.Name).Replace(`INSERT OR REPLACE INTO {to} (series_id, ts, min, max, sum, count)
		SELECT r.series_id, r.ts / ?1 * ?1, min(coalesce(r.min, r.sum)), max(coalesce(r.max, r.sum)), sum(r.sum), sum(r.count)
		FROM series s CROSS JOIN {from} r ON r.series_id = s.id WHERE r.ts >= ?2 AND r.ts < ?3 GROUP BY r.series_id, r.ts / ?1`)
	if _, err := tx.ExecContext(ctx, q, step, start, end); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollup (tier, done) VALUES (?, ?) ON CONFLICT (tier) DO UPDATE SET done = excluded.done`, to.Name, end); err != nil {
		return err
	}
	return tx.Commit()
}

// Point is one row of a series: the aggregate of the samples in
// [T, T+step).
type Point struct {
	T             time.Time
	Min, Max, Sum float64
	Count         int64
}

// Series is the points of one series.
type Series struct {
	Name   string
	Labels Labels
	Points []Point
}

// Query selects series by name (empty: every name) and labels (every
// label given must match) with rows stamped from From to To, both
// included.
type Query struct {
	Names    []string
	Match    Labels
	From, To time.Time
	// MaxPoints bounds the points per series; the finest tier that still
	// holds From and gives at most MaxPoints rows over the range is read,
	// then rows are merged into wider steps if needed. Default 500.
	MaxPoints int
}

// Query reads series; it returns the step of the points.
func (h *History) Query(ctx context.Context, q Query) ([]Series, time.Duration, error) {
	if q.MaxPoints <= 0 {
		q.MaxPoints = 500
	}
	if !q.To.After(q.From) {
		return nil, 0, fmt.Errorf("metrics history: empty range %s to %s", q.From, q.To)
	}
	span := q.To.Sub(q.From)
	want := span / time.Duration(q.MaxPoints)
	// The coarsest tier that still holds From and is fine enough, else the
	// finest that holds From.
	age := h.now().Sub(q.From)
	var tier *Tier
	for i := range h.tiers {
		t := &h.tiers[i]
		if age > t.Keep+t.Step {
			continue
		}
		if tier == nil || t.Step <= want {
			tier = t
		}
	}
	if tier == nil {
		tier = &h.tiers[len(h.tiers)-1]
	}
	step := tier.Step
	if want > step {
		step = (want + tier.Step - 1) / tier.Step * tier.Step
	}
	h.mu.Lock()
	var ids []int64
	for k, id := range h.series {
		if len(q.Names) > 0 && !slices.Contains(q.Names, k.name) {
			continue
		}
		if len(q.Match) > 0 && !ParseLabels(k.labels).Has(q.Match) {
			continue
		}
		ids = append(ids, id)
	}
	keys := make(map[int64]seriesKey, len(ids))
	for _, id := range ids {
		keys[id] = h.byID[id]
	}
	h.mu.Unlock()
	slices.Sort(ids)
	var out []Series
	stepSec := int64(step / time.Second)
	for _, id := range ids {
		rows, err := h.db.QueryContext(ctx, tierSQL(*tier, `SELECT ts / ?1 * ?1, min(coalesce(min, sum)), max(coalesce(max, sum)), sum(sum), sum(count)
			FROM {tier} WHERE series_id = ?2 AND ts >= ?3 AND ts <= ?4 GROUP BY ts / ?1 ORDER BY 1`),
			stepSec, id, q.From.Unix()/stepSec*stepSec, q.To.Unix())
		if err != nil {
			return nil, 0, fmt.Errorf("metrics history: %w", err)
		}
		k := keys[id]
		s := Series{Name: k.name, Labels: ParseLabels(k.labels)}
		for rows.Next() {
			var ts int64
			var p Point
			if err := rows.Scan(&ts, &p.Min, &p.Max, &p.Sum, &p.Count); err != nil {
				_ = rows.Close()
				return nil, 0, fmt.Errorf("metrics history: %w", err)
			}
			p.T = time.Unix(ts, 0)
			s.Points = append(s.Points, p)
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("metrics history: %w", err)
		}
		if len(s.Points) > 0 {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Labels.String() < out[j].Labels.String()
	})
	return out, step, nil
}

// Size is the database's size in bytes (its main file and WAL).
func (h *History) Size() int64 {
	var n int64
	for _, p := range []string{h.path, h.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// Checkpoint writes the WAL back into the main file and truncates it, so
// that Size measures the data.
func (h *History) Checkpoint(ctx context.Context) error {
	_, err := h.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// SeriesCount is the number of series the history knows.
func (h *History) SeriesCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.series)
}

// Labels are a series' label pairs, sorted by name.
type Labels []Label

// Label is one name=value pair.
type Label struct{ Name, Value string }

// L builds Labels from alternating names and values, skipping empty values.
func L(kv ...string) Labels {
	var ls Labels
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			ls = append(ls, Label{kv[i], kv[i+1]})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

// Get returns the value of the label name, "" when absent.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Has reports whether every label of sub is in ls with the same value.
func (ls Labels) Has(sub Labels) bool {
	for _, l := range sub {
		if ls.Get(l.Name) != l.Value {
			return false
		}
	}
	return true
}

// Map returns the labels as a map.
func (ls Labels) Map() map[string]string {
	m := make(map[string]string, len(ls))
	for _, l := range ls {
		m[l.Name] = l.Value
	}
	return m
}

// String is the canonical form stored in the history: name=value pairs
// sorted by name, joined by commas, with backslash, comma and equals
// escaped in values.
func (ls Labels) String() string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteByte('=')
		for _, c := range l.Value {
			if c == '\\' || c == ',' || c == '=' {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ParseLabels reads the canonical form of Labels.String.
func ParseLabels(s string) Labels {
	var ls Labels
	var name, cur strings.Builder
	inValue, esc := false, false
	flush := func() {
		if name.Len() > 0 {
			ls = append(ls, Label{name.String(), cur.String()})
		}
		name.Reset()
		cur.Reset()
		inValue = false
	}
	for _, c := range s {
		switch {
		case esc:
			cur.WriteRune(c)
			esc = false
		case inValue && c == '\\':
			esc = true
		case inValue && c == ',':
			flush()
		case !inValue && c == '=':
			inValue = true
		case inValue:
			cur.WriteRune(c)
		default:
			name.WriteRune(c)
		}
	}
	flush()
	return ls
}
