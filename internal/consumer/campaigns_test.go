package consumer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/viewlog/viewlog/internal/campaigns"
	"github.com/viewlog/viewlog/internal/window"
)

const csvHeader = "network_id,campaign_id,campaign_name\n"

func writeCSV(t *testing.T, path, rows string, mod time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(csvHeader+rows), 0o644); err != nil {
		t.Fatal(err)
	}
	// The stamp is what tells a change: make every write distinct.
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
}

// Additions are taken; a file that does not parse, or changes or removes a
// campaign, is rejected with the reason, once, and the table in use kept.
func TestTablesReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "campaigns.csv")
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	writeCSV(t, path, "1,10,a\n2,40,b\n", at)
	table, err := campaigns.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts := NewTables(path, table, func() time.Time { return at })
	var accepted, rejected int
	ts.onReload = func(ok bool) {
		if ok {
			accepted++
		} else {
			rejected++
		}
	}
	steps := []struct {
		rows    string
		added   int
		version int
		reason  string
	}{
		{"", 0, 1, ""}, // unchanged (the same stamp): nothing read
		{"1,10,a\n2,40,b\n3,150,new\n", 1, 2, ""},
		{"1,10,a\n2,40,b\n", 0, 2, "removes campaign 150"},
		{"1,10,a\n2,40,b\n3,150,new\nnot,a,row\n", 0, 2, "network_id"},
		{"1,10,a\n4,40,b\n3,150,new\n", 0, 2, "changes campaign 40"},
		{"1,10,a\n2,40,b\n3,150,new\n3,160,x\n4,170,y\n", 2, 3, ""},
	}
	for i, st := range steps {
		if st.rows != "" {
			writeCSV(t, path, st.rows, at.Add(time.Duration(i)*time.Second))
		}
		added, err := ts.reload()
		if len(added) != st.added || ts.version != st.version || ts.Info().Version != st.version {
			t.Fatalf("step %d: added %v, version %d (info %d); want %d added, version %d", i, added, ts.version, ts.Info().Version, st.added, st.version)
		}
		if st.reason != "" {
			if err == nil || !strings.Contains(ts.Info().Rejected, st.reason) {
				t.Fatalf("step %d: err %v, info %q; want a rejection with %q", i, err, ts.Info().Rejected, st.reason)
			}
			// Reported once per version of the file.
			if _, again := ts.reload(); again != nil {
				t.Fatalf("step %d: the same rejection reported twice", i)
			}
		} else if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if _, ok := ts.current.Lookup(170); !ok || accepted != 2 || rejected != 3 {
		t.Fatalf("table %v, %d accepted, %d rejected", ts.current.IDs(), accepted, rejected)
	}
}

// A replay classifies campaigns as the first pass did: a campaign added at
// offset From is unknown to the records below it, even though the table in
// use knows it; and a checkpoint carries the reloads a replay from its
// offset would meet.
func TestReplayKnowsWhatTheFirstPassKnew(t *testing.T) {
	table, err := campaigns.Parse(strings.NewReader(csvHeader + "1,10,a\n3,150,new\n4,160,newer\n"))
	if err != nil {
		t.Fatal(err)
	}
	cp := checkpoint{
		Checkpoint: window.Checkpoint{Offset: 100, Processed: 200},
		Campaigns:  campaigns.EncodeIDs([]int32{10, 150}),
		Additions:  []addition{{From: 150, IDs: campaigns.EncodeIDs([]int32{150})}},
	}
	cp, err = decodeCheckpoint(cp.Offset, encodeCheckpoint(cp))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := newReplayRules(cp)
	if err != nil {
		t.Fatal(err)
	}
	p := &partition{replay: rules}
	tests := []struct {
		offset   int64
		campaign int32
		want     bool
	}{
		{120, 10, true},
		{120, 150, false}, // before its reload
		{150, 150, true},
		{199, 160, false}, // added after the first pass got here (while stopped)
		{200, 160, true},  // new records: the table in use
		{250, 999, false},
	}
	for _, tt := range tests {
		if got := p.known(tt.offset, tt.campaign, table); got != tt.want {
			t.Errorf("known(%d, %d) = %v, want %v", tt.offset, tt.campaign, got, tt.want)
		}
	}
	p.adds = []addition{{From: 300, IDs: campaigns.EncodeIDs([]int32{160})}}
	if got := p.additionsAbove(140); len(got) != 2 || got[0].From != 150 || got[1].From != 300 {
		t.Errorf("additionsAbove(140) = %+v", got)
	}
	if got := p.additionsAbove(150); len(got) != 1 || got[0].From != 300 {
		t.Errorf("additionsAbove(150) = %+v", got)
	}
}
