// Package record defines the ad view event that flows through the pipeline and
// its JSON codec. The decoder is strict: a record that would aggregate to a
// wrong number is rejected with a reason instead of being guessed at, because
// a rejected record is counted and can be inspected while a guessed one
// silently corrupts averages.
package record

import (
	"time"
)

// View is one ad view as the producer emits it.
type View struct {
	ViewID         string
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
