package campaigns

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLoadOriginal(t *testing.T) {
	tab, err := LoadFile(filepath.Join("testdata", "csv", "original.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 14 {
		t.Fatalf("%d campaigns, want 14", tab.Len())
	}
	networks := map[int32]int32{10: 1, 20: 1, 30: 1, 40: 2, 50: 2, 60: 3, 70: 3, 80: 3, 90: 3, 100: 4, 110: 4, 120: 4, 130: 4, 140: 4}
	for id, net := range networks {
		c, ok := tab.Lookup(id)
		if !ok || c.NetworkID != net || c.Name != "Campaign "+strconv.Itoa(int(id)) {
			t.Errorf("Lookup(%d) = %+v, %v; want network %d", id, c, ok, net)
		}
	}
	if _, ok := tab.Lookup(150); ok {
		t.Error("Lookup(150) found an unknown campaign")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		want string // substrings of the error
	}{
		{"duplicate_id.csv", "line 3: campaign_id 10 already defined on line 2"},
		{"no_header.csv", `line 1: header is "1,10,Campaign 10"`},
		{"empty.csv", "no campaigns"},
		{"negative.csv", `line 2: network_id "-1": must be positive`},
		{"non_integer.csv", `line 2: campaign_id "ten": not a 32-bit integer`},
		{"wrong_columns.csv", "line 1: header"},
		{"missing.csv", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "csv", tt.file)
			_, err := LoadFile(path)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file and %q", err, tt.want)
			}
		})
	}
}

// A syntax error on the first line used to panic: the line number was asked
// of the reader before any record had been read (found by FuzzParse).
func TestParseSyntaxErrorFirstLine(t *testing.T) {
	for _, in := range []string{`"`, `"abc`, `a"b`, "\"0000000000000000000000000000"} {
		_, err := Parse(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) error %v, want one naming line 1", in, err)
		}
	}
}

func TestParseEdgeForms(t *testing.T) {
	tab, err := LoadFile(filepath.Join("testdata", "csv", "bom_crlf.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := tab.Lookup(10); !ok || c.Name != "Campaign, with comma" {
		t.Fatalf("Lookup(10) = %+v, %v", c, ok)
	}
	for _, in := range []string{
		"network_id,campaign_id,campaign_name\n1,2147483648,x\n",
		"network_id,campaign_id,campaign_name\n1,10,x,extra\n",
		"network_id,campaign_id,campaign_name\n1,0,x\n",
		"network_id,campaign_id,campaign_name\n1,\"10\n",
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("Parse(%q) error %v, want one naming line 2", in, err)
		}
	}
}

// FuzzParse: no input panics, and whatever loads has only positive ids.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "csv", "*.csv"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := Parse(strings.NewReader(string(b)))
		if err != nil {
			if tab != nil {
				t.Fatal("error with a table")
			}
			return
		}
		if tab.Len() == 0 {
			t.Fatal("empty table without error")
		}
		for id, c := range tab.byID {
			if id <= 0 || c.NetworkID <= 0 || c.CampaignID != id {
				t.Fatalf("accepted %+v under %d", c, id)
			}
		}
	})
}
