package producer

import (
	"strconv"
	"time"
)

// The encoder below writes a view's JSON without reflection or per-record
// allocation, byte for byte as record.Marshal does (encoding/json over the
// same fields in the same order, timestamps as RFC 3339 UTC seconds). The
// tests hold it to record.Marshal.

// timestampLayout is record.Marshal's layout, for the years the hand-written
// formatter does not cover.
const timestampLayout = "2006-01-02T15:04:05Z07:00"

const hexDigits = "0123456789abcdef"

// twoDigits holds "00" to "99" back to back.
const twoDigits = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendView appends the JSON of a view as record.Marshal writes it. start
// and end are Unix seconds, formatted by their own stampers so that each
// remembers its last second; campaignID is in decimal.
func appendView(dst []byte, startTS, endTS *stamper, id *[16]byte, start, end, bannerID int64, campaignID []byte) []byte {
	dst = append(dst, `{"view_id":"`...)
	dst = appendUUID(dst, id)
	dst = append(dst, `","start_timestamp":"`...)
	dst = startTS.append(dst, start)
	dst = append(dst, `","end_timestamp":"`...)
	dst = endTS.append(dst, end)
	dst = append(dst, `","banner_id":`...)
	dst = strconv.AppendInt(dst, bannerID, 10)
	dst = append(dst, `,"campaign_id":`...)
	dst = append(dst, campaignID...)
	return append(dst, '}')
}

// appendUUID appends id in the canonical 8-4-4-4-12 lowercase hex form, as
// uuid.UUID.String does.
func appendUUID(dst []byte, id *[16]byte) []byte {
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0x0f])
	}
	return dst
}

// stamper appends Unix seconds as RFC 3339 in UTC, "2006-01-02T15:04:05Z".
// It remembers the last second it formatted and the date of the last day:
// the end timestamps of a chunk of records are one second, their starts
// fall on the same day but for a few minutes after midnight, and the
// calendar arithmetic costs more than the rest of the record. Years outside
// 0000-9999, which time.Format writes in other forms, go through
// time.Format. The zero value is ready to use.
type stamper struct {
	sec  int64    // the second in text, if set
	text [20]byte // "2006-01-02T15:04:05Z"
	day  int64    // days since 1970-01-01 of text's date, if set
	set  bool
}

func (s *stamper) append(dst []byte, sec int64) []byte {
	if s.set && sec == s.sec {
		return append(dst, s.text[:]...)
	}
	day, secOfDay := sec/86400, sec%86400
	if secOfDay < 0 {
		day--
		secOfDay += 86400
	}
	if !s.set || day != s.day {
		y, m, d := civil(day)
		if y < 0 || y > 9999 {
			return time.Unix(sec, 0).UTC().AppendFormat(dst, timestampLayout)
		}
		copy(s.text[:11], []byte{
			twoDigits[2*(y/100)], twoDigits[2*(y/100)+1], twoDigits[2*(y%100)], twoDigits[2*(y%100)+1], '-',
			twoDigits[2*m], twoDigits[2*m+1], '-',
			twoDigits[2*d], twoDigits[2*d+1], 'T',
		})
		s.day = day
	}
	hh, mm, ss := secOfDay/3600, secOfDay/60%60, secOfDay%60
	copy(s.text[11:], []byte{
		twoDigits[2*hh], twoDigits[2*hh+1], ':',
		twoDigits[2*mm], twoDigits[2*mm+1], ':',
		twoDigits[2*ss], twoDigits[2*ss+1], 'Z',
	})
	s.sec, s.set = sec, true
	return append(dst, s.text[:]...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date (Howard
// Hinnant's days_from_civil, inverted). It is exact for every int64 day
// count that does not overflow, far beyond the years stamper takes.
func civil(days int64) (year, month, day int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // day of era, [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of era, [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year from March 1, [0, 365]
	mp := (5*doy + 2) / 153                                // month from March, [0, 11]
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}
