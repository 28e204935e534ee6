package query

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// header names the printed columns, in order.
func header() []string {
	return []string{"network_id", "minute_timestamp", "campaign_id", "avg_duration", "total_count"}
}

// writer prints rows in a -format.
func writer(format string) (func(io.Writer, []Row) error, bool) {
	switch format {
	case "table":
		return writeTable, true
	case "csv":
		return writeCSV, true
	case "json":
		return writeJSON, true
	}
	return nil, false
}

// writeTable aligns the columns for a terminal: text to the left, numbers to
// the right, averages with their two decimals. No rows print nothing.
func writeTable(w io.Writer, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	cells := make([][]string, 0, len(rows)+1)
	cells = append(cells, header())
	for _, r := range rows {
		cells = append(cells, []string{
			strconv.FormatInt(r.NetworkID, 10),
			r.MinuteTimestamp,
			strconv.FormatInt(r.CampaignID, 10),
			strconv.FormatFloat(r.AvgDuration, 'f', 2, 64),
			strconv.FormatInt(r.TotalCount, 10),
		})
	}
	width := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len(c))
		}
	}
	left := []bool{false, true, false, false, false}
	bw := bufio.NewWriter(w)
	for n, line := range cells {
		for i, c := range line {
			if i > 0 {
				bw.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(c))
			if left[i] {
				bw.WriteString(c)
				if i < len(line)-1 {
					bw.WriteString(pad)
				}
			} else {
				bw.WriteString(pad + c)
			}
		}
		bw.WriteByte('\n')
		if n == 0 {
			for i := range width {
				if i > 0 {
					bw.WriteString("  ")
				}
				bw.WriteString(strings.Repeat("-", width[i]))
			}
			bw.WriteByte('\n')
		}
	}
	fmt.Fprintf(bw, "(%d rows)\n", len(rows))
	return bw.Flush()
}

// writeCSV prints a header and one line per row; averages keep every digit
// the file holds.
func writeCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.Write(header())
	for _, r := range rows {
		cw.Write([]string{
			strconv.FormatInt(r.NetworkID, 10),
			r.MinuteTimestamp,
			strconv.FormatInt(r.CampaignID, 10),
			strconv.FormatFloat(r.AvgDuration, 'f', -1, 64),
			strconv.FormatInt(r.TotalCount, 10),
		})
	}
	cw.Flush()
	return cw.Error()
}

// writeJSON prints one array, a row per line, so that it is valid JSON for
// scripts and still readable.
func writeJSON(w io.Writer, rows []Row) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for i, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  ")
		bw.Write(b)
	}
	if len(rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}
