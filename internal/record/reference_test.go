package record

import (
	"encoding/json"
	"errors"
	"math"
	"time"
	"unicode/utf8"
)

// This file keeps Decode and ParseTimestamp as they were before the fast
// paths, unchanged, as the reference the differential tests and fuzz targets
// compare the current ones with. Do not change it to make a test pass: any
// difference is a bug of the fast path.

// referenceWire is the JSON shape the reference decodes into.
type referenceWire struct {
	ViewID         *string `json:"view_id"`
	StartTimestamp *string `json:"start_timestamp"`
	EndTimestamp   *string `json:"end_timestamp"`
	CampaignID     *int64  `json:"campaign_id"`
}

// decodeReference is the encoding/json decoder Decode was before the fast
// path.
func decodeReference(b []byte) (View, Reason) {
	if len(b) > MaxSize {
		return View{}, TooLarge
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD, turning two
	// different byte strings into the same view_id.
	if !utf8.Valid(b) {
		return View{}, InvalidJSON
	}
	var w referenceWire
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
	start, err := parseTimestampReference(*w.StartTimestamp)
	if err != nil {
		return View{}, InvalidTimestamp
	}
	end, err := parseTimestampReference(*w.EndTimestamp)
	if err != nil {
		return View{}, InvalidTimestamp
	}
	if start.Before(minTime) || !end.Before(maxTime) || end.Before(minTime) || !start.Before(maxTime) {
		return View{}, TimestampOutOfRange
	}
	if end.Before(start) {
		return View{}, EndBeforeStart
	}
	return View{
		ViewID:         *w.ViewID,
		StartTimestamp: start,
		EndTimestamp:   end,
		CampaignID:     int32(*w.CampaignID),
	}, Valid
}

// parseTimestampReference is ParseTimestamp as it was before the fast path.
func parseTimestampReference(s string) (time.Time, error) {
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
	if hasZoneReference(s) {
		layout = time.RFC3339Nano
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, errTimestamp
	}
	return t.UTC(), nil
}

// hasZoneReference reports whether s ends in Z or a ±hh:mm offset.
func hasZoneReference(s string) bool {
	if s[len(s)-1] == 'Z' {
		return true
	}
	if len(s) >= 25 {
		c := s[len(s)-6]
		return (c == '+' || c == '-') && s[len(s)-3] == ':'
	}
	return false
}
