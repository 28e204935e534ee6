package record

import (
	"math"
	"time"
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

// decodeFast decodes b, which Decode has already checked to be valid UTF-8
// and at most MaxSize bytes. ok=false means b is outside what the fast path
// handles and must be decoded by decodeJSON.
func decodeFast(b []byte) (v View, r Reason, ok bool) {
	var (
		viewID, start, end []byte // raw string contents, between the quotes
		viewIDEscaped      bool   // viewID holds simple escapes to undo
		campaign           int64
		seen               uint8 // fields met, to fall back on repeats
		set                uint8 // fields holding a non-null value
		wrongType          bool  // a field met a value of the wrong JSON type
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
			ks := i
			for i < len(b) && plainKeyByte[b[i]] {
				i++
			}
			if i >= len(b) || b[i] != '"' {
				return View{}, 0, false
			}
			field := lookupField(b[ks:i])
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
					viewID, viewIDEscaped = s, escaped
					set |= field
				case fieldStart, fieldEnd:
					if escaped {
						return View{}, 0, false
					}
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
	startT, err := parseTimestampBytes(start)
	if err != nil {
		return View{}, InvalidTimestamp, true
	}
	endT, err := parseTimestampBytes(end)
	if err != nil {
		return View{}, InvalidTimestamp, true
	}
	if startT.Before(minTime) || !endT.Before(maxTime) || endT.Before(minTime) || !startT.Before(maxTime) {
		return View{}, TimestampOutOfRange, true
	}
	if endT.Before(startT) {
		return View{}, EndBeforeStart, true
	}
	var id string
	if viewIDEscaped {
		id = unescapeSimple(viewID)
	} else {
		id = string(viewID)
	}
	return View{
		ViewID:         id,
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
	for i < len(b) {
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

// stringByte classifies the bytes of a JSON string's contents: 0 for a byte
// that stands for itself, 1 for the closing quote, 2 for a backslash and 3
// for a control character, which JSON does not allow unescaped. Bytes of
// multi-byte UTF-8 sequences stand for themselves: Decode has checked that
// the whole record is valid UTF-8, and encoding/json then keeps them as
// they are.
var stringByte = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 3
	}
	t['"'] = 1
	t['\\'] = 2
	return t
}()

// scanString scans the JSON string starting with the quote at b[i]. It
// returns the index after the closing quote, or -1 if the string is not
// valid JSON or not closed; escaped reports whether the string holds escapes
// and uEscape whether any of them is a \u escape.
func scanString(b []byte, i int) (next int, escaped, uEscape bool) {
	i++
	for i < len(b) {
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
		default:
			return -1, false, false
		}
	}
	return -1, false, false
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
func unescapeSimple(s []byte) string {
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
	return string(out)
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
