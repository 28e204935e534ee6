// Package record defines the ad view event that flows through the pipeline and
// its JSON codec. The decoder is strict: a record that would aggregate to a
// wrong number is rejected with a reason instead of being guessed at, because
// a rejected record is counted and can be inspected while a guessed one
// silently corrupts averages.
package record

import (
	"time"
)

// View is one ad view as the producer emits it. A View returned by Decode
// aliases the bytes it was decoded from: ViewID is valid only as long as
// they are, and whoever keeps it longer copies it.
type View struct {
	ViewID []byte
	// UUID is ViewID's 16 bytes when ViewID is a canonical UUID (lowercase
	// 8-4-4-4-12, what producers write); HasUUID says whether it is.
	UUID           [16]byte
	HasUUID        bool
	StartTimestamp time.Time
	EndTimestamp   time.Time
	BannerID       int64
	CampaignID     int32
}

// DurationSeconds is the view duration in whole seconds, computed like
// Spark's unix_timestamp(end) - unix_timestamp(start): each instant is
// truncated to the second before subtracting.
func (v View) DurationSeconds() int64 {
	return v.EndTimestamp.Unix() - v.StartTimestamp.Unix()
}

// timestampLayout is what the producer writes: RFC 3339, UTC, second precision.
const timestampLayout = "2006-01-02T15:04:05Z07:00"

// ParseUUID parses a canonical UUID: lowercase 8-4-4-4-12 only, so that the
// 16 bytes map back to exactly one string.
func ParseUUID(s []byte) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	_ = s[35]
	var bad byte
	// Straight-line code, not a loop: this runs for every record.
	u[0], bad = hexByte(s[0], s[1], bad)
	u[1], bad = hexByte(s[2], s[3], bad)
	u[2], bad = hexByte(s[4], s[5], bad)
	u[3], bad = hexByte(s[6], s[7], bad)
	u[4], bad = hexByte(s[9], s[10], bad)
	u[5], bad = hexByte(s[11], s[12], bad)
	u[6], bad = hexByte(s[14], s[15], bad)
	u[7], bad = hexByte(s[16], s[17], bad)
	u[8], bad = hexByte(s[19], s[20], bad)
	u[9], bad = hexByte(s[21], s[22], bad)
	u[10], bad = hexByte(s[24], s[25], bad)
	u[11], bad = hexByte(s[26], s[27], bad)
	u[12], bad = hexByte(s[28], s[29], bad)
	u[13], bad = hexByte(s[30], s[31], bad)
	u[14], bad = hexByte(s[32], s[33], bad)
	u[15], bad = hexByte(s[34], s[35], bad)
	// hexVal marks non-hex bytes with the high bit.
	return u, bad&0x80 == 0
}

// hexByte is the byte the hex digits hi and lo spell, and bad with the high
// bit set if either is not a lowercase hex digit.
func hexByte(hi, lo, bad byte) (byte, byte) {
	h, l := hexVal[hi], hexVal[lo]
	return h<<4 | l&0x0f, bad | h | l
}

// hexVal maps a lowercase hex digit to its value and every other byte to
// 0x80.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x80
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c - '0'
	}
	for c := byte('a'); c <= 'f'; c++ {
		t[c] = c - 'a' + 10
	}
	return t
}()
