package record

import (
	"encoding/json"
	"errors"
	"math"
	"time"
	"unicode/utf8"
)

// Reason says why a record was rejected. The zero value, Valid, means the
// record was accepted. Reasons are stable names: they appear in logs, metric
// labels and dead-letter headers.
type Reason uint8

// Rejection reasons, in the order the decoder checks them.
const (
	Valid Reason = iota
	TooLarge
	InvalidJSON
	WrongType
	MissingViewID
	MissingCampaignID
	InvalidCampaignID
	MissingTimestamp
	InvalidTimestamp
	TimestampOutOfRange
	EndBeforeStart
	numReasons
)

var reasonNames = [numReasons]string{
	Valid:               "valid",
	TooLarge:            "too_large",
	InvalidJSON:         "invalid_json",
	WrongType:           "wrong_type",
	MissingViewID:       "missing_view_id",
	MissingCampaignID:   "missing_campaign_id",
	InvalidCampaignID:   "invalid_campaign_id",
	MissingTimestamp:    "missing_timestamp",
	InvalidTimestamp:    "invalid_timestamp",
	TimestampOutOfRange: "timestamp_out_of_range",
	EndBeforeStart:      "end_before_start",
}

// String returns the stable name of the reason.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// RejectReasons lists every reason a record can be rejected for (Valid
// excluded), so that counters can be reported for all of them, zeros included.
func RejectReasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := Valid + 1; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// MaxSize is the largest record value the decoder looks at. Real records are
// about 180 bytes; anything this large is not a view and is rejected before
// the JSON parser spends memory on it.
const MaxSize = 64 << 10

// Timestamps outside this range are rejected: they cannot come from a view
// log, and a single one far in the future would push a partition's watermark
// past every real record.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// wire is the JSON shape. Pointers tell a missing field from a zero one;
// banner_id is not used by the aggregation and so is not checked.
type wire struct {
	ViewID         *string `json:"view_id"`
	StartTimestamp *string `json:"start_timestamp"`
	EndTimestamp   *string `json:"end_timestamp"`
	CampaignID     *int64  `json:"campaign_id"`
}

// Decode parses one record value. It never panics and never guesses: any
// record it cannot take exactly as meant is returned with the reason it was
// rejected.
func Decode(b []byte) (View, Reason) {
	if len(b) > MaxSize {
		return View{}, TooLarge
	}
	// Records of the usual shape are decoded in one pass without
	// encoding/json, with the same result (see fastpath.go); anything
	// else goes through it.
	if v, r, ok := decodeFast(b); ok {
		return v, r
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD, turning two
	// different byte strings into the same view_id.
	if !utf8.Valid(b) {
		return View{}, InvalidJSON
	}
	return decodeJSON(b, ParseTimestamp)
}

// decodeJSON decodes a valid UTF-8 record of at most MaxSize bytes with
// encoding/json. It is the definition of what Decode returns: decodeFast
// gives the same answer or none.
func decodeJSON(b []byte, parseTimestamp func(string) (time.Time, error)) (View, Reason) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return View{}, WrongType
		}
		return View{}, InvalidJSON
	}
	if w.ViewID == nil || *w.ViewID == "" {
		return View{}, MissingViewID
	}
	if w.CampaignID == nil {
		return View{}, MissingCampaignID
	}
	if *w.CampaignID <= 0 || *w.CampaignID > math.MaxInt32 {
		return View{}, InvalidCampaignID
	}
	if w.StartTimestamp == nil || w.EndTimestamp == nil || *w.StartTimestamp == "" || *w.EndTimestamp == "" {
		return View{}, MissingTimestamp
	}
	start, err := parseTimestamp(*w.StartTimestamp)
	if err != nil {
		return View{}, InvalidTimestamp
	}
	end, err := parseTimestamp(*w.EndTimestamp)
	if err != nil {
		return View{}, InvalidTimestamp
	}
	if start.Before(minTime) || !end.Before(maxTime) || end.Before(minTime) || !start.Before(maxTime) {
		return View{}, TimestampOutOfRange
	}
	if end.Before(start) {
		return View{}, EndBeforeStart
	}
	id := []byte(*w.ViewID)
	u, isUUID := ParseUUID(id)
	return View{
		ViewID:         id,
		UUID:           u,
		HasUUID:        isUUID,
		StartTimestamp: start,
		EndTimestamp:   end,
		CampaignID:     int32(*w.CampaignID),
	}, Valid
}

// errTimestamp is returned for any string that is not one of the accepted
// timestamp forms.
var errTimestamp = errors.New("not an RFC 3339 or ISO-8601 timestamp")

// ParseTimestamp accepts RFC 3339 with Z or a numeric offset and optional
// fractional seconds, and naive ISO-8601 (YYYY-MM-DDTHH:MM:SS[.fff], or with a
// space instead of T) taken as UTC, which is what Python's isoformat() writes.
// The result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	if t, ok := parseTimestampFast(s); ok {
		return t, nil
	}
	return parseTimestampSlow(s)
}

// parseTimestampSlow is ParseTimestamp by time.Parse, for every form.
// parseTimestampFast gives the same result for the forms it takes.
func parseTimestampSlow(s string) (time.Time, error) {
	// The shortest accepted form is YYYY-MM-DDTHH:MM:SS.
	if len(s) < 19 || len(s) > 40 {
		return time.Time{}, errTimestamp
	}
	if s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	} else if s[10] != 'T' {
		return time.Time{}, errTimestamp
	}
	layout := "2006-01-02T15:04:05.999999999"
	if hasZone(s) {
		layout = time.RFC3339Nano
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, errTimestamp
	}
	return t.UTC(), nil
}

// hasZone reports whether s ends in Z or a ±hh:mm offset.
func hasZone(s string) bool {
	if s[len(s)-1] == 'Z' {
		return true
	}
	if len(s) >= 25 {
		c := s[len(s)-6]
		return (c == '+' || c == '-') && s[len(s)-3] == ':'
	}
	return false
}

// Marshal encodes v the way the producer sends it: RFC 3339 timestamps in UTC
// with second precision.
func Marshal(v View) ([]byte, error) {
	return json.Marshal(struct {
		ViewID         string `json:"view_id"`
		StartTimestamp string `json:"start_timestamp"`
		EndTimestamp   string `json:"end_timestamp"`
		BannerID       int64  `json:"banner_id"`
		CampaignID     int32  `json:"campaign_id"`
	}{
		ViewID:         string(v.ViewID),
		StartTimestamp: v.StartTimestamp.UTC().Format(timestampLayout),
		EndTimestamp:   v.EndTimestamp.UTC().Format(timestampLayout),
		BannerID:       v.BannerID,
		CampaignID:     v.CampaignID,
	})
}
