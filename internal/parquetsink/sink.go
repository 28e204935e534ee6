// Package parquetsink writes finalized windows as Parquet files laid out the
// way Spark's partitionBy does it, so DuckDB and pandas read the partition
// columns from the directory names:
//
//	<dir>/network_id=<n>/minute_timestamp=<yyyy-MM-dd_HH-mm-ss>/part-<topic>-<partition>.parquet
//
// A file's name depends only on where its rows came from (topic, partition)
// and which window they belong to, so writing the same window again after a
// crash replaces the file instead of adding a second one. Files are written
// under a hidden temporary name, synced and renamed into place, so a reader
// never sees a partial file.
package parquetsink

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Row is one output row: a campaign's views in one window. Partition columns
// (network_id, minute_timestamp) are not in the file, only in its path.
type Row struct {
	CampaignID  int32     `parquet:"campaign_id"`
	AvgDuration float64   `parquet:"avg_duration"`
	TotalCount  int64     `parquet:"total_count"`
	SumDuration int64     `parquet:"sum_duration"`
	WindowStart time.Time `parquet:"window_start,timestamp(microsecond:utc)"`
	WindowEnd   time.Time `parquet:"window_end,timestamp(microsecond:utc)"`
}

// File is the content of one output file: rows of one network and one window
// that came from one topic partition.
type File struct {
	NetworkID   int32
	WindowStart time.Time
	Topic       string
	Partition   int
	Rows        []Row
}

// MinuteLayout formats the minute_timestamp partition value, as the
// original's date_format(window.start, "yyyy-MM-dd_HH-mm-ss").
const MinuteLayout = "2006-01-02_15-04-05"

// tempSuffix marks files being written; they start with a dot and do not end
// in .parquet, so no reader glob picks them up.
const tempSuffix = ".tmp"

// Sink writes output files under one directory.
type Sink struct {
	dir string
}

// New returns a sink writing under dir. The directory is created by the
// first Write: an output directory that is not writable yet is a reason to
// retry writes, not to refuse to start.
func New(dir string) *Sink { return &Sink{dir: dir} }

// Check reports whether the output directory can be created and written now.
func (s *Sink) Check() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".check-*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

// Dir is the output directory.
func (s *Sink) Dir() string { return s.dir }

// Path is where f is written. Every element comes from an integer or a
// formatted timestamp, except the topic, whose Kafka name rules ([a-zA-Z0-9._-],
// not "." or "..") keep it a single safe path element.
func (s *Sink) Path(f File) string {
	return filepath.Join(s.dir,
		"network_id="+strconv.FormatInt(int64(f.NetworkID), 10),
		"minute_timestamp="+f.WindowStart.UTC().Format(MinuteLayout),
		fmt.Sprintf("part-%s-%05d.parquet", f.Topic, f.Partition))
}

// Write makes f durable at Path(f): written to a temporary file, synced,
// renamed over any previous version, and the directory synced. When Write
// returns nil the file survives a crash.
func (s *Sink) Write(f File) (err error) {
	path := s.Path(f)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+tempSuffix)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	rows := slices.Clone(f.Rows)
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.CampaignID, b.CampaignID) })
	w := parquet.NewGenericWriter[Row](tmp, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is; the partition
	// directories may be new too.
	for _, d := range []string{dir, filepath.Dir(dir), s.dir} {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	return errors.Join(wrapIf(err, "sync directory "+dir), d.Close())
}

func wrapIf(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// RemoveStaleTemp deletes temporary files older than age left by writers
// that crashed mid-write. Younger ones may belong to another consumer
// instance that is writing right now.
func (s *Sink) RemoveStaleTemp(age time.Duration, now time.Time) (removed int, err error) {
	err = filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() || !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, tempSuffix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if now.Sub(info.ModTime()) < age {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove stale temporary files in %s: %w", s.dir, err)
	}
	return removed, nil
}
