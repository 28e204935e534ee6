// Package output is what the consumer writes: finalized windows as Parquet
// bytes, and the key each file is stored under, laid out the way Spark's
// partitionBy does it so that DuckDB and pandas read the partition columns
// from the path:
//
//	network_id=<n>/minute_timestamp=<yyyy-MM-dd_HH-mm-ss>/part-<topic>-<partition>.parquet
//
// A file's key depends only on where its rows came from (topic, partition)
// and which window they belong to, so writing the same window again after a
// crash replaces the file instead of adding a second one. Where and how the
// bytes are stored is the storage backends' business.
package output

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Row is one output row: a campaign's views in one window. Partition columns
// (network_id, minute_timestamp) are not in the file, only in its key.
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

// Key is where f is stored, relative to the output location, with slashes.
// Every element comes from an integer or a formatted timestamp, except the
// topic, whose Kafka name rules ([a-zA-Z0-9._-], not "." or "..") keep it a
// single safe path element.
func Key(f *File) string {
	return "network_id=" + strconv.FormatInt(int64(f.NetworkID), 10) +
		"/minute_timestamp=" + f.WindowStart.UTC().Format(MinuteLayout) +
		fmt.Sprintf("/part-%s-%05d.parquet", f.Topic, f.Partition)
}

// Encode returns f as a Snappy-compressed Parquet file, rows sorted by
// campaign.
func Encode(f *File) ([]byte, error) {
	rows := slices.Clone(f.Rows)
	slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.CampaignID, b.CampaignID) })
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[Row](&buf, parquet.Compression(&parquet.Snappy))
	if _, err := w.Write(rows); err != nil {
		return nil, fmt.Errorf("encode %s: %w", Key(f), err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode %s: %w", Key(f), err)
	}
	return buf.Bytes(), nil
}
