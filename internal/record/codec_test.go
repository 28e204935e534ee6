package record

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2024, 9, 11, 10, 5, 7, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2024-09-11T10:05:07Z", want, true},
		{"2024-09-11T12:05:07+02:00", want, true},
		{"2024-09-11T05:05:07-05:00", want, true},
		{"2024-09-11T10:05:07.250Z", want.Add(250 * time.Millisecond), true},
		{"2024-09-11T10:05:07.123456789+00:00", want.Add(123456789), true},
		// Python isoformat(), no zone: UTC.
		{"2024-09-11T10:05:07", want, true},
		{"2024-09-11T10:05:07.5", want.Add(500 * time.Millisecond), true},
		{"2024-09-11 10:05:07", want, true},
		{"2024-09-11 10:05:07.123456", want.Add(123456 * time.Microsecond), true},
		{"2024-09-11 12:05:07+02:00", want, true},
		{"", time.Time{}, false},
		{"2024-09-11", time.Time{}, false},
		{"2024-09-11T10:05", time.Time{}, false},
		{"2024-09-11X10:05:07", time.Time{}, false},
		{"2024-13-11T10:05:07Z", time.Time{}, false},
		{"2024-09-11T25:05:07", time.Time{}, false},
		{"2024-09-11T10:05:07 UTC", time.Time{}, false},
		{"1726049107", time.Time{}, false},
		{"2024-09-11T10:05:07+0200", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTimestamp(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseTimestamp(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && !got.Equal(tt.want) {
				t.Fatalf("ParseTimestamp(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if tt.ok && got.Location() != time.UTC {
				t.Fatalf("ParseTimestamp(%q) location %v, want UTC", tt.in, got.Location())
			}
		})
	}
}

func TestDecode(t *testing.T) {
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	valid := `{"view_id":"` + id + `","start_timestamp":"2024-09-11T10:05:00","end_timestamp":"2024-09-11T10:05:42.900","banner_id":7,"campaign_id":30}`
	tests := []struct {
		name string
		in   string
		want Reason
	}{
		{"valid", valid, Valid},
		{"valid without banner", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:05:00Z","campaign_id":30}`, Valid},
		{"unknown fields ignored", `{"x":[1,{"y":null}],"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, Valid},
		{"not json", `view_id=1`, InvalidJSON},
		{"empty", ``, InvalidJSON},
		{"truncated", valid[:40], InvalidJSON},
		{"array", `[1,2]`, WrongType},
		{"null", `null`, MissingViewID},
		{"invalid utf-8", "{\"view_id\":\"\xff\xfe\",\"campaign_id\":10}", InvalidJSON},
		{"too large", `{"view_id":"` + strings.Repeat("a", MaxSize) + `"}`, TooLarge},
		{"missing view_id", `{"start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, MissingViewID},
		{"empty view_id", `{"view_id":"","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, MissingViewID},
		{"null view_id", `{"view_id":null,"start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, MissingViewID},
		{"numeric view_id", `{"view_id":5,"start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, WrongType},
		{"missing campaign", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z"}`, MissingCampaignID},
		{"campaign as string", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":"30"}`, WrongType},
		{"campaign fractional", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30.5}`, WrongType},
		{"campaign zero", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":0}`, InvalidCampaignID},
		{"campaign negative", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":-10}`, InvalidCampaignID},
		{"campaign beyond int32", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":2147483648}`, InvalidCampaignID},
		{"campaign beyond int64", `{"view_id":"a","start_timestamp":"2024-09-11T10:05:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":99999999999999999999}`, WrongType},
		{"missing start", `{"view_id":"a","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, MissingTimestamp},
		{"missing end", `{"view_id":"a","start_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, MissingTimestamp},
		{"empty end", `{"view_id":"a","start_timestamp":"2024-09-11T10:06:00Z","end_timestamp":"","campaign_id":30}`, MissingTimestamp},
		{"numeric timestamp", `{"view_id":"a","start_timestamp":1726049100,"end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, WrongType},
		{"bad start", `{"view_id":"a","start_timestamp":"yesterday","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, InvalidTimestamp},
		{"bad end", `{"view_id":"a","start_timestamp":"2024-09-11T10:06:00Z","end_timestamp":"2024-02-30T10:06:00Z","campaign_id":30}`, InvalidTimestamp},
		{"year 1", `{"view_id":"a","start_timestamp":"0001-01-01T00:00:00Z","end_timestamp":"2024-09-11T10:06:00Z","campaign_id":30}`, TimestampOutOfRange},
		{"year 9999", `{"view_id":"a","start_timestamp":"2024-09-11T10:06:00Z","end_timestamp":"9999-12-31T23:59:59Z","campaign_id":30}`, TimestampOutOfRange},
		{"end before start", `{"view_id":"a","start_timestamp":"2024-09-11T10:06:00Z","end_timestamp":"2024-09-11T10:05:59Z","campaign_id":30}`, EndBeforeStart},
		{"end before start by a fraction", `{"view_id":"a","start_timestamp":"2024-09-11T10:06:00.5Z","end_timestamp":"2024-09-11T10:06:00.4Z","campaign_id":30}`, EndBeforeStart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := Decode([]byte(tt.in))
			if got != tt.want {
				t.Fatalf("Decode(%.80q) reason = %v, want %v", tt.in, got, tt.want)
			}
		})
	}

	v, r := Decode([]byte(valid))
	if r != Valid {
		t.Fatalf("valid record rejected: %v", r)
	}
	if string(v.ViewID) != id || v.CampaignID != 30 {
		t.Errorf("decoded %+v", v)
	}
	// Spark's unix_timestamp truncates each side to the second: 42.9 s -> 42.
	if d := v.DurationSeconds(); d != 42 {
		t.Errorf("DurationSeconds = %d, want 42", d)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	end := time.Date(2024, 9, 11, 10, 5, 42, 0, time.FixedZone("x", 3600))
	in := View{ViewID: []byte("0f8fad5b-d9cb-469f-a165-70867728950e"), StartTimestamp: end.Add(-90 * time.Second), EndTimestamp: end, BannerID: 99, CampaignID: 140}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["end_timestamp"] != "2024-09-11T09:05:42Z" {
		t.Errorf("end_timestamp = %v, want RFC 3339 UTC second precision", raw["end_timestamp"])
	}
	out, r := Decode(b)
	if r != Valid {
		t.Fatalf("own output rejected: %v (%s)", r, b)
	}
	if !bytes.Equal(out.ViewID, in.ViewID) || out.CampaignID != in.CampaignID || !out.EndTimestamp.Equal(in.EndTimestamp) || !out.StartTimestamp.Equal(in.StartTimestamp) || out.DurationSeconds() != 90 {
		t.Errorf("round trip: got %+v, want %+v", out, in)
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range RejectReasons() {
		name := r.String()
		if name == "" || name == "unknown" || name == "valid" || seen[name] {
			t.Errorf("reason %d has name %q", r, name)
		}
		seen[name] = true
	}
}
