package campaigns

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func table(t *testing.T, rows string) *Table {
	t.Helper()
	tb, err := Parse(strings.NewReader("network_id,campaign_id,campaign_name\n" + rows))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestAdditions(t *testing.T) {
	old := table(t, "1,10,a\n2,40,b\n")
	tests := []struct {
		next    string
		added   []int32
		wantErr string
	}{
		{"1,10,a\n2,40,b\n", nil, ""},
		{"1,10,a\n2,40,b\n3,150,new\n4,160,new\n", []int32{150, 160}, ""},
		{"1,10,a\n", nil, "removes campaign 40"},
		{"1,10,a\n3,40,b\n", nil, "changes campaign 40 (network 3"},
		{"1,10,renamed\n2,40,b\n9,99,x\n", nil, "changes campaign 10"},
	}
	for _, tt := range tests {
		added, err := Additions(old, table(t, tt.next))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "restart") {
				t.Errorf("Additions(%q) = %v, want an error with %q that says a restart is needed", tt.next, err, tt.wantErr)
			}
			continue
		}
		var ids []int32
		for _, c := range added {
			ids = append(ids, c.CampaignID)
		}
		if err != nil || !slices.Equal(ids, tt.added) {
			t.Errorf("Additions(%q) = %v, %v; want %v", tt.next, ids, err, tt.added)
		}
	}
}

func TestIDsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 14, 1000} {
		set := map[int32]bool{}
		for len(set) < n {
			set[1+rng.Int32N(1<<31-1)] = true
		}
		var ids []int32
		for id := range set {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		got, err := DecodeIDs(EncodeIDs(ids))
		if err != nil || !slices.Equal(got, ids) {
			t.Fatalf("%d ids: round trip gave %d, %v", n, len(got), err)
		}
	}
	// A thousand campaigns numbered closely stay well under Kafka's
	// offset metadata limit.
	var dense []int32
	for i := range int32(1000) {
		dense = append(dense, 10*(i+1))
	}
	if n := len(EncodeIDs(dense)); n > 1500 {
		t.Errorf("1000 ids take %d bytes", n)
	}
	for _, bad := range []string{"!!!", "AA", "/////w"} {
		if _, err := DecodeIDs(bad); err == nil {
			t.Errorf("DecodeIDs(%q) accepted", bad)
		}
	}
}

// FuzzDecodeIDs: checkpoints carry id sets; any string decodes to an
// ascending list of positive ids or an error, and a list re-encodes to
// itself.
func FuzzDecodeIDs(f *testing.F) {
	f.Add(EncodeIDs([]int32{10, 20, 140}))
	f.Add("")
	f.Add("/////w")
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := DecodeIDs(s)
		if err != nil {
			return
		}
		for i, id := range ids {
			if id <= 0 || (i > 0 && id <= ids[i-1]) {
				t.Fatalf("DecodeIDs(%q) = %v: not ascending positive ids", s, ids)
			}
		}
		again, err := DecodeIDs(EncodeIDs(ids))
		if err != nil || !slices.Equal(again, ids) {
			t.Fatalf("round trip of %v: %v, %v", ids, again, err)
		}
	})
}
