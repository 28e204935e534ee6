package record

import (
	"encoding/binary"
	"math"
	"math/bits"
	"time"
	"unicode/utf8"
)

// The fast path decodes the shape every producer actually sends: one flat
// JSON object whose values are strings, integers, true, false or null. It
// gives exactly the answer of the encoding/json path (decodeJSON) or no
// answer at all: whenever it meets anything it does not handle with
// certainty (nested values, \u escapes in a field it keeps, keys that only
// match a field case-insensitively, repeated fields, non-ASCII keys, very
// long integers, invalid syntax of any kind), it reports ok=false and Decode
// falls back to encoding/json. Rejections it does give (WrongType and the
// validation reasons) are only given after the whole document has been
// checked to be valid JSON, as encoding/json does.

// Fields the fast path assigns; each is also its bit in the seen and set
// masks.
const (
	fieldOther    = 0
	fieldViewID   = 1 << 0
	fieldStart    = 1 << 1
	fieldEnd      = 1 << 2
	fieldCampaign = 1 << 3
	fieldUnknown  = 0xff // not handled: fall back
)

// decodeFast decodes b, of at most MaxSize bytes, in one pass: it checks
// the UTF-8 of the strings it scans, and any byte outside ASCII elsewhere is
// a syntax error it leaves to the slow path, so an answer it gives is one
// for a valid UTF-8 record. ok=false means b is outside what the fast path
// handles and must be decoded by decodeJSON.
func decodeFast(b []byte) (v View, r Reason, ok bool) {
	var (
		viewID, start, end []byte // raw string contents, between the quotes
		viewIDEscaped      bool   // viewID holds simple escapes to undo
		uuid               [16]byte
		uuidParsed         bool // uuid holds viewID, a canonical UUID
		// stamps hold start and end in Unix seconds, when parsed in place
		// (their bits in parsed); day is the day they fall on.
		stamps    [2]int64
		parsed    uint8
		day       = dayCache{number: -1}
		campaign  int64
		seen      uint8 // fields met, to fall back on repeats
		set       uint8 // fields holding a non-null value
		wrongType bool  // a field met a value of the wrong JSON type
	)
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return View{}, 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			// Key. Keys are taken only when plain ASCII without escapes,
			// so that comparing bytes is comparing names.
			if i >= len(b) || b[i] != '"' {
				return View{}, 0, false
			}
			i++
			field, n := matchKey(b[i:])
			if n == 0 {
				ks := i
				for i < len(b) && plainKeyByte[b[i]] {
					i++
				}
				if i >= len(b) || b[i] != '"' {
					return View{}, 0, false
				}
				field = lookupField(b[ks:i])
			} else {
				i += n - 1
			}
			if field == fieldUnknown {
				return View{}, 0, false
			}
			if seen&field != 0 {
				return View{}, 0, false
			}
			seen |= field
			i = skipSpace(b, i+1)
			if i >= len(b) || b[i] != ':' {
				return View{}, 0, false
			}
			i = skipSpace(b, i+1)
			if i >= len(b) {
				return View{}, 0, false
			}

			// Value.
			switch c := b[i]; {
			case c == '"' && (field == fieldStart || field == fieldEnd) && len(b) >= i+producerTimestampLen+2 &&
				b[i+producerTimestampLen+1] == '"' && parseProducerForm(b[i+1:i+1+producerTimestampLen], &stamps[field>>2], &day):
				// The producer's form, parsed in place: digits and
				// separators need no escape and are ASCII.
				if field == fieldStart {
					start = b[i+1 : i+1+producerTimestampLen]
				} else {
					end = b[i+1 : i+1+producerTimestampLen]
				}
				set |= field
				parsed |= field
				i += producerTimestampLen + 2
			case c == '"' && field == fieldViewID && len(b) >= i+38 && b[i+37] == '"' && parseUUIDInto(&uuid, b[i+1:i+37]):
				// A canonical UUID: plain ASCII, no scan needed.
				viewID, viewIDEscaped, uuidParsed = b[i+1:i+37], false, true
				set |= field
				i += 38
			case c == '"':
				next, escaped, uEscape := scanString(b, i)
				if next < 0 {
					return View{}, 0, false
				}
				s := b[i+1 : next-1]
				switch field {
				case fieldViewID:
					if uEscape {
						return View{}, 0, false
					}
					viewID, viewIDEscaped, uuidParsed = s, escaped, false
					set |= field
				case fieldStart, fieldEnd:
					if escaped {
						return View{}, 0, false
					}
					parsed &^= field
					if field == fieldStart {
						start = s
					} else {
						end = s
					}
					set |= field
				case fieldCampaign:
					wrongType = true
				}
				i = next
			case c == '-' || (c >= '0' && c <= '9'):
				next, n, integer, short := scanNumber(b, i)
				if next < 0 {
					return View{}, 0, false
				}
				switch field {
				case fieldViewID, fieldStart, fieldEnd:
					wrongType = true
				case fieldCampaign:
					switch {
					case !integer:
						// encoding/json refuses fractions and exponents
						// for an int64, whatever their value.
						wrongType = true
					case !short:
						return View{}, 0, false
					default:
						campaign = n
						set |= field
					}
				}
				i = next
			case c == 't' || c == 'f':
				lit := "true"
				if c == 'f' {
					lit = "false"
				}
				if !hasPrefix(b[i:], lit) {
					return View{}, 0, false
				}
				if field != fieldOther {
					wrongType = true
				}
				i += len(lit)
			case c == 'n':
				// null leaves a field's pointer nil.
				if !hasPrefix(b[i:], "null") {
					return View{}, 0, false
				}
				i += 4
			default:
				return View{}, 0, false
			}

			i = skipSpace(b, i)
			if i >= len(b) {
				return View{}, 0, false
			}
			if b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if b[i] != '}' {
				return View{}, 0, false
			}
			i++
			break
		}
	}
	if skipSpace(b, i) != len(b) {
		return View{}, 0, false
	}

	// The document is valid JSON; from here on, the checks of decodeJSON in
	// the same order.
	if wrongType {
		return View{}, WrongType, true
	}
	if set&fieldViewID == 0 || len(viewID) == 0 {
		return View{}, MissingViewID, true
	}
	if set&fieldCampaign == 0 {
		return View{}, MissingCampaignID, true
	}
	if campaign <= 0 || campaign > math.MaxInt32 {
		return View{}, InvalidCampaignID, true
	}
	if set&fieldStart == 0 || set&fieldEnd == 0 || len(start) == 0 || len(end) == 0 {
		return View{}, MissingTimestamp, true
	}
	var startT, endT time.Time
	var err error
	if parsed&fieldStart != 0 {
		startT = time.Unix(stamps[fieldStart>>2], 0).UTC()
	} else if startT, err = parseTimestampBytes(start); err != nil {
		return View{}, InvalidTimestamp, true
	}
	if parsed&fieldEnd != 0 {
		endT = time.Unix(stamps[fieldEnd>>2], 0).UTC()
	} else if endT, err = parseTimestampBytes(end); err != nil {
		return View{}, InvalidTimestamp, true
	}
	if startT.Before(minTime) || !endT.Before(maxTime) || endT.Before(minTime) || !startT.Before(maxTime) {
		return View{}, TimestampOutOfRange, true
	}
	if endT.Before(startT) {
		return View{}, EndBeforeStart, true
	}
	id := viewID
	if viewIDEscaped {
		id = unescapeSimple(viewID)
	}
	hasUUID := uuidParsed
	if !hasUUID {
		uuid, hasUUID = ParseUUID(id)
	}
	return View{
		ViewID:         id,
		UUID:           uuid,
		HasUUID:        hasUUID,
		StartTimestamp: startT,
		EndTimestamp:   endT,
		CampaignID:     int32(campaign),
	}, Valid, true
}

// plainKeyByte holds the bytes a key may hold for the fast path to take it:
// printable ASCII except the quote and the backslash.
var plainKeyByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// matchKey matches the keys the producer writes, each followed by its
// closing quote, at the start of b (just after the opening quote). It
// returns the field and the bytes taken, the quote included, or n=0 when b
// starts with none of them and the key must be scanned.
func matchKey(b []byte) (field uint8, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	var key string
	switch b[0] {
	case 'v':
		key, field = `view_id"`, fieldViewID
	case 's':
		key, field = `start_timestamp"`, fieldStart
	case 'e':
		key, field = `end_timestamp"`, fieldEnd
	case 'c':
		key, field = `campaign_id"`, fieldCampaign
	case 'b':
		key, field = `banner_id"`, fieldOther
	default:
		return 0, 0
	}
	if len(b) < len(key) || string(b[:len(key)]) != key {
		return 0, 0
	}
	return field, len(key)
}

// producerTimestampLen is the length of the producer's timestamps,
// YYYY-MM-DDTHH:MM:SSZ.
const producerTimestampLen = len("2006-01-02T15:04:05Z")

// lookupField names the field an ASCII key without escapes sets.
// encoding/json prefers an exact match and otherwise matches names
// case-insensitively; a key that matches a field only that way is left to
// it (fieldUnknown). For ASCII, its folding is exactly ASCII case folding.
func lookupField(key []byte) uint8 {
	var name string
	var field uint8
	switch len(key) {
	case len("view_id"):
		name, field = "view_id", fieldViewID
	case len("campaign_id"):
		name, field = "campaign_id", fieldCampaign
	case len("end_timestamp"):
		name, field = "end_timestamp", fieldEnd
	case len("start_timestamp"):
		name, field = "start_timestamp", fieldStart
	default:
		return fieldOther
	}
	if string(key) == name {
		return field
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return fieldOther
		}
	}
	return fieldUnknown
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	// One comparison in the usual case, where there is no space.
	for i < len(b) && b[i] <= ' ' {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// stringByte classifies the bytes of a JSON string's contents: 0 for an
// ASCII byte that stands for itself, 1 for the closing quote, 2 for a
// backslash, 3 for a control character, which JSON does not allow
// unescaped, and 4 for the first byte of a multi-byte UTF-8 sequence, which
// stands for itself if the sequence is valid (encoding/json keeps valid
// sequences as they are).
var stringByte = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 3
	}
	t['"'] = 1
	t['\\'] = 2
	for c := 0x80; c < 0x100; c++ {
		t[c] = 4
	}
	return t
}()

// scanString scans the JSON string starting with the quote at b[i]. It
// returns the index after the closing quote, or -1 if the string is not
// valid JSON, not valid UTF-8 or not closed; escaped reports whether the
// string holds escapes and uEscape whether any of them is a \u escape.
func scanString(b []byte, i int) (next int, escaped, uEscape bool) {
	i++
	for i < len(b) {
		// Skip eight plain bytes at a time.
		for i+8 <= len(b) {
			m := specialBytes(binary.LittleEndian.Uint64(b[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch stringByte[b[i]] {
		case 0:
			i++
		case 1:
			return i + 1, escaped, uEscape
		case 2:
			if i+1 >= len(b) {
				return -1, false, false
			}
			escaped = true
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1, false, false
				}
				uEscape = true
				i += 6
			default:
				return -1, false, false
			}
		case 4:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return -1, false, false
			}
			i += size
		default:
			return -1, false, false
		}
	}
	return -1, false, false
}

// specialBytes marks, with the high bit of the byte, each byte of the
// little-endian word w that stringByte does not classify as 0: a quote, a
// backslash, a control character or a byte outside ASCII. Bytes above the
// lowest marked one may be marked wrongly (a borrow of the subtraction
// carries upward), which is harmless: the scan stops at the lowest.
func specialBytes(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	q := w ^ (ones * '"')
	bs := w ^ (ones * '\\')
	return ((q-ones)&^q | (bs-ones)&^bs | (w-ones*0x20)&^w | w) & high
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// scanNumber scans the JSON number starting at b[i]. It returns the index
// after it, or -1 if it is not a valid JSON number; integer reports whether
// it has neither fraction nor exponent, and short whether it is an integer
// of at most 18 digits, whose value is then n.
func scanNumber(b []byte, i int) (next int, n int64, integer, short bool) {
	neg := false
	if b[i] == '-' {
		neg = true
		i++
	}
	if i >= len(b) {
		return -1, 0, false, false
	}
	digits := 0
	switch c := b[i]; {
	case c == '0':
		i++
		digits = 1
	case '1' <= c && c <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			if digits < 18 {
				n = n*10 + int64(b[i]-'0')
			}
			digits++
			i++
		}
	default:
		return -1, 0, false, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return -1, 0, false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == start {
			return -1, 0, false, false
		}
	}
	if neg {
		n = -n
	}
	return i, n, integer, integer && digits <= 18
}

// unescapeSimple undoes the escapes of a JSON string's contents that holds
// no \u escape and is otherwise valid.
func unescapeSimple(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default: // '"', '\\', '/'
			c = s[i]
		}
		out = append(out, c)
	}
	return out
}

// parseUUIDInto parses s into *u if s is a canonical UUID.
func parseUUIDInto(u *[16]byte, s []byte) bool {
	var ok bool
	*u, ok = ParseUUID(s)
	return ok
}

// dayCache remembers the day number of the last date parsed: a view's
// start and end nearly always fall on the same day.
type dayCache struct {
	date   [10]byte
	number int64 // -1: nothing cached
}

// parseProducerForm parses s, of producerTimestampLen bytes, when it is of
// the producer's form YYYY-MM-DDTHH:MM:SSZ with every field in range, into
// *unix (Unix seconds). ok=false means it is not, and ParseTimestamp
// decides.
func parseProducerForm(s []byte, unix *int64, day *dayCache) bool {
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z' {
		return false
	}
	h0, h1, mi0, mi1, s0, s1 := s[11]-'0', s[12]-'0', s[14]-'0', s[15]-'0', s[17]-'0', s[18]-'0'
	// Bytes below '0' wrap around to large values.
	if h0 > 9 || h1 > 9 || mi0 > 9 || mi1 > 9 || s0 > 9 || s1 > 9 {
		return false
	}
	hour, minute, sec := int(h0)*10+int(h1), int(mi0)*10+int(mi1), int(s0)*10+int(s1)
	if hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	if day.number < 0 || string(day.date[:]) != string(s[:10]) {
		y0, y1, y2, y3 := s[0]-'0', s[1]-'0', s[2]-'0', s[3]-'0'
		mo0, mo1, d0, d1 := s[5]-'0', s[6]-'0', s[8]-'0', s[9]-'0'
		if y0 > 9 || y1 > 9 || y2 > 9 || y3 > 9 || mo0 > 9 || mo1 > 9 || d0 > 9 || d1 > 9 {
			return false
		}
		year := int(y0)*1000 + int(y1)*100 + int(y2)*10 + int(y3)
		month, dom := int(mo0)*10+int(mo1), int(d0)*10+int(d1)
		if month < 1 || month > 12 || dom < 1 || dom > daysInMonth(year, month) {
			return false
		}
		copy(day.date[:], s[:10])
		day.number = daysSinceEpoch(year, month, dom)
	}
	*unix = day.number*86400 + int64(hour*3600+minute*60+sec)
	return true
}

// parseTimestampBytes is ParseTimestamp for the bytes of a JSON string.
func parseTimestampBytes(b []byte) (time.Time, error) {
	if t, ok := parseTimestampFast(b); ok {
		return t, nil
	}
	return parseTimestampSlow(string(b))
}

// parseTimestampFast parses the forms ParseTimestamp sees nearly always:
// YYYY-MM-DD, T or a space, hh:mm:ss, optionally a fraction of one to nine
// digits after a period, then Z, a ±hh:mm offset or nothing (UTC), with
// every field in its range. For these, time.Parse with the layout
// ParseTimestamp picks gives the same instant. ok=false means s is not one of
// them, valid or not, and parseTimestampSlow must decide.
func parseTimestampFast[S string | []byte](s S) (t time.Time, ok bool) {
	if len(s) < 19 || len(s) > 35 {
		return time.Time{}, false
	}
	if s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	y0, y1, y2, y3 := s[0]-'0', s[1]-'0', s[2]-'0', s[3]-'0'
	mo0, mo1 := s[5]-'0', s[6]-'0'
	d0, d1 := s[8]-'0', s[9]-'0'
	h0, h1 := s[11]-'0', s[12]-'0'
	mi0, mi1 := s[14]-'0', s[15]-'0'
	s0, s1 := s[17]-'0', s[18]-'0'
	// Bytes below '0' wrap around to large values.
	if y0 > 9 || y1 > 9 || y2 > 9 || y3 > 9 || mo0 > 9 || mo1 > 9 || d0 > 9 || d1 > 9 ||
		h0 > 9 || h1 > 9 || mi0 > 9 || mi1 > 9 || s0 > 9 || s1 > 9 {
		return time.Time{}, false
	}
	year := int(y0)*1000 + int(y1)*100 + int(y2)*10 + int(y3)
	month := int(mo0)*10 + int(mo1)
	day := int(d0)*10 + int(d1)
	hour := int(h0)*10 + int(h1)
	minute := int(mi0)*10 + int(mi1)
	sec := int(s0)*10 + int(s1)
	if month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}

	i := 19
	nsec := 0
	if i < len(s) && s[i] == '.' {
		i++
		start := i
		for i < len(s) && i-start < 9 {
			d := s[i] - '0'
			if d > 9 {
				break
			}
			nsec = nsec*10 + int(d)
			i++
		}
		n := i - start
		if n == 0 || (i < len(s) && s[i]-'0' <= 9) {
			// No digits, or more than nine.
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}

	offset := 0
	switch len(s) - i {
	case 0:
	case 1:
		if s[i] != 'Z' {
			return time.Time{}, false
		}
	case 6:
		sign := s[i]
		oh0, oh1, om0, om1 := s[i+1]-'0', s[i+2]-'0', s[i+4]-'0', s[i+5]-'0'
		if (sign != '+' && sign != '-') || s[i+3] != ':' || oh0 > 9 || oh1 > 9 || om0 > 9 || om1 > 9 {
			return time.Time{}, false
		}
		oh := int(oh0)*10 + int(oh1)
		om := int(om0)*10 + int(om1)
		if oh > 23 || om > 59 {
			// time.Parse takes offsets up to 24:60 by another route; leave
			// those to it.
			return time.Time{}, false
		}
		offset = (oh*60 + om) * 60
		if sign == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}

	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysInMonth is the number of days in the month of the proleptic Gregorian
// calendar, as the time package counts them.
func daysInMonth(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// daysSinceEpoch is the number of days from 1970-01-01 to the date, for a
// valid date of the proleptic Gregorian calendar with year >= 0.
func daysSinceEpoch(year, month, day int) int64 {
	y := year
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400                     // [0, 399]
	mp := (month + 9) % 12                 // March is 0
	doy := (153*mp+2)/5 + day - 1          // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return int64(era)*146097 + int64(doe) - 719468
}
