// Package query reads the consumer's Parquet output with DuckDB, linked into
// the program through cgo, and prints the newest windows as a table, CSV or
// JSON. It lets anyone look at the output without installing DuckDB.
//
// It reads the files the way the README tells analysts to:
// read_parquet('<dir>/**/*.parquet', hive_partitioning = true), with the
// partition columns network_id and minute_timestamp taken from the paths.
package query

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
)

// ErrUsage means the arguments were wrong. Run has already printed what was
// wrong and the usage to stderr; the caller only chooses the exit status.
var ErrUsage = errors.New("usage error")

// Row is one output row: one campaign's views in one window, from one
// Kafka partition.
type Row struct {
	NetworkID       int64   `json:"network_id"`
	MinuteTimestamp string  `json:"minute_timestamp"`
	CampaignID      int64   `json:"campaign_id"`
	AvgDuration     float64 `json:"avg_duration"`
	TotalCount      int64   `json:"total_count"`
}

// Filter selects rows.
type Filter struct {
	// Since keeps the windows that start less than Since before the newest
	// window's start: the newest Since of output, measured from the data and
	// not from the clock, so output of a stopped pipeline can be read too.
	// 0 keeps every window.
	Since time.Duration
	// Campaign keeps one campaign's rows; 0 keeps all.
	Campaign int64
}

// environment is what Run reads from the environment.
type environment struct {
	OutputDir string `env:"OUTPUT_DIR" envDefault:"data/output_data"`
}

const usage = `usage: viewlog query [-since 10m] [-campaign ID] [-format table|csv|json]

Prints the newest windows of the consumer's output (OUTPUT_DIR, default
data/output_data), ordered by window, network and campaign.

`

// Run is the query command: it parses args, reads OUTPUT_DIR from environ
// (nil: the process environment) and prints the rows to stdout. An output
// directory without Parquet files yet prints nothing (CSV: the header,
// JSON: []) and says so on stderr; a missing one is an error.
func Run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("query", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {
		fmt.Fprint(stderr, usage)
		fset.PrintDefaults()
	}
	since := fset.Duration("since", 10*time.Minute, "windows that start within this span of the newest window's start (0: all)")
	campaign := fset.Int64("campaign", 0, "only this campaign_id (0: all)")
	format := fset.String("format", "table", "output format: table, csv or json")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage // the flag package has printed the reason and the usage
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, format+"\n", a...)
		fset.Usage()
		return ErrUsage
	}
	write, ok := writer(*format)
	switch {
	case !ok:
		return bad("-format %q: accepted: table, csv, json", *format)
	case *since < 0:
		return bad("-since %v: accepted: a Go duration (\"10m\", \"2h\") at least 0", *since)
	case *campaign < 0:
		return bad("-campaign %d: accepted: a campaign_id, or 0 for all", *campaign)
	case fset.NArg() > 0:
		return bad("unexpected arguments: %q", fset.Args())
	}
	cfg, err := env.ParseAsWithOptions[environment](env.Options{Environment: environ})
	if err != nil {
		return fmt.Errorf("environment: %w", err)
	}

	rows, err := Read(ctx, cfg.OutputDir, Filter{Since: *since, Campaign: *campaign})
	if errors.Is(err, ErrNoFiles) {
		fmt.Fprintf(stderr, "no Parquet files in %s yet: the consumer writes a window once it has closed\n", cfg.OutputDir)
	} else if err != nil {
		return err
	} else if len(rows) == 0 {
		fmt.Fprintln(stderr, "no rows match")
	}
	if err := write(stdout, rows); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// ErrNoFiles means the output directory exists but holds no Parquet file:
// the consumer has not written a window yet.
var ErrNoFiles = errors.New("no Parquet files")

// Read returns the rows of the Parquet files under dir that pass f, ordered
// by window start, network and campaign. A missing dir is an error; one
// without Parquet files returns ErrNoFiles.
func Read(ctx context.Context, dir string, f Filter) ([]Row, error) {
	if err := hasParquet(dir); err != nil {
		return nil, err
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("open DuckDB: %w", err)
	}
	defer db.Close()
	// The partition columns are typed here rather than guessed by DuckDB
	// (minute_timestamp stays the directory's text, network_id an integer).
	const q = `
		WITH o AS (
			SELECT network_id, minute_timestamp, campaign_id, avg_duration, total_count, window_start
			FROM read_parquet(?, hive_partitioning = true,
				hive_types = {'network_id': BIGINT, 'minute_timestamp': VARCHAR})
		)
		SELECT network_id, minute_timestamp, campaign_id, avg_duration, total_count
		FROM o
		WHERE (? = 0 OR window_start > (SELECT max(window_start) FROM o) - to_microseconds(?))
		  AND (? = 0 OR campaign_id = ?)
		ORDER BY window_start, network_id, campaign_id, total_count, avg_duration`
	glob := filepath.Join(dir, "**", "*.parquet")
	since := f.Since.Microseconds()
	res, err := db.QueryContext(ctx, q, glob, since, since, f.Campaign, f.Campaign)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", glob, err)
	}
	defer res.Close()
	var rows []Row
	for res.Next() {
		var r Row
		if err := res.Scan(&r.NetworkID, &r.MinuteTimestamp, &r.CampaignID, &r.AvgDuration, &r.TotalCount); err != nil {
			return nil, fmt.Errorf("read %s: %w", glob, err)
		}
		rows = append(rows, r)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", glob, err)
	}
	return rows, nil
}

// hasParquet tells a missing output directory (a wrong OUTPUT_DIR, most
// likely) from one the consumer has not written to yet; DuckDB would call
// both "no files found".
func hasParquet(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("output directory (OUTPUT_DIR): %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("output directory (OUTPUT_DIR) %s: not a directory", dir)
	}
	// WalkDir does not follow a symbolic link at its root; an output
	// directory linked elsewhere is common enough.
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("output directory (OUTPUT_DIR): %w", err)
	}
	found := errors.New("found")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".parquet") {
			return found
		}
		return nil
	})
	switch {
	case errors.Is(err, found):
		return nil
	case err != nil:
		return fmt.Errorf("output directory (OUTPUT_DIR): %w", err)
	default:
		return ErrNoFiles
	}
}
