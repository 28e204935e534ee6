package record

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// The differential tests and fuzz targets compare Decode and ParseTimestamp
// with the definitions their fast paths must match: encoding/json
// (decodeJSON) with timestamps parsed by time.Parse only
// (parseTimestampSlow). Any difference is a bug of a fast path.

// decodeReference is Decode without its fast paths.
func decodeReference(b []byte) (View, Reason) {
	if len(b) > MaxSize {
		return View{}, TooLarge
	}
	if !utf8.Valid(b) {
		return View{}, InvalidJSON
	}
	return decodeJSON(b, parseTimestampSlow)
}

// parseTimestampReference is ParseTimestamp without its fast path.
func parseTimestampReference(s string) (time.Time, error) { return parseTimestampSlow(s) }

// sameView reports whether a and b are the same view, timestamps in the
// same representation (== on time.Time), not only the same instant.
func sameView(a, b View) bool {
	return bytes.Equal(a.ViewID, b.ViewID) && a.UUID == b.UUID && a.HasUUID == b.HasUUID && a.StartTimestamp == b.StartTimestamp && a.EndTimestamp == b.EndTimestamp &&
		a.BannerID == b.BannerID && a.CampaignID == b.CampaignID
}
