// Package campaigns loads the campaign table that view aggregates are joined
// with: which advertising network each campaign belongs to.
package campaigns

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Campaign is one row of campaigns.csv.
type Campaign struct {
	NetworkID  int32
	CampaignID int32
	Name       string
}

// Table maps campaign ids to campaigns. It is read once at start and never
// changed, so it is safe for concurrent reads.
type Table struct {
	byID map[int32]Campaign
}

// Lookup returns the campaign with the given id.
func (t *Table) Lookup(id int32) (Campaign, bool) {
	c, ok := t.byID[id]
	return c, ok
}

// Len is the number of campaigns.
func (t *Table) Len() int { return len(t.byID) }

// header is the exact first line the file must have.
var header = []string{"network_id", "campaign_id", "campaign_name"}

// LoadFile reads a campaigns CSV file; see Parse for the format.
func LoadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load campaigns: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("load campaigns %s: %w", path, err)
	}
	return t, nil
}

// Parse reads campaigns CSV: a header line network_id,campaign_id,campaign_name
// then one row per campaign. Ids must be positive 32-bit integers (they become
// directory names and Parquet INT32 values) and campaign ids unique. Errors
// name the line.
func Parse(r io.Reader) (*Table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	t := &Table{byID: make(map[int32]Campaign)}
	seen := make(map[int32]int)
	for row := 0; ; row++ {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A *csv.ParseError names its line already; FieldPos is
			// only valid after a record was read.
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if row == 0 {
			got := make([]string, len(fields))
			for i, f := range fields {
				got[i] = strings.TrimSpace(strings.TrimPrefix(f, "\ufeff"))
			}
			if !slices.Equal(got, header) {
				return nil, fmt.Errorf("line %d: header is %q, want %q", line, strings.Join(fields, ","), strings.Join(header, ","))
			}
			continue
		}
		if len(fields) != len(header) {
			return nil, fmt.Errorf("line %d: %d fields, want %d (%s)", line, len(fields), len(header), strings.Join(header, ","))
		}
		network, err := parseID(fields[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: network_id %q: %w", line, fields[0], err)
		}
		id, err := parseID(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: campaign_id %q: %w", line, fields[1], err)
		}
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("line %d: campaign_id %d already defined on line %d", line, id, prev)
		}
		seen[id] = line
		t.byID[id] = Campaign{NetworkID: network, CampaignID: id, Name: strings.TrimSpace(fields[2])}
	}
	if len(t.byID) == 0 {
		return nil, errors.New("no campaigns: want a header line network_id,campaign_id,campaign_name and at least one row")
	}
	return t, nil
}

func parseID(s string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, errors.New("not a 32-bit integer")
	}
	if n <= 0 {
		return 0, errors.New("must be positive")
	}
	return int32(n), nil
}
